import { AlibabaWatcher, type AlibabaWatcherOptions, alibabaFacts, probeAlibaba } from './alibaba.js';
import { AwsWatcher, type AwsWatcherOptions, awsFacts, probeAws } from './aws.js';
import { AzureWatcher, type AzureWatcherOptions, azureFacts, probeAzure } from './azure.js';
import { GcpWatcher, type GcpWatcherOptions, gcpFacts, probeGcp } from './gcp.js';
import {
  CLOUDS,
  type Cloud,
  endpointFor,
  type InstanceFacts,
  type Log,
  type MetadataEndpoints,
  type PreemptionWatcher,
} from './types.js';

export type { AlibabaWatcherOptions } from './alibaba.js';
export { AlibabaWatcher } from './alibaba.js';
export type { AwsWatcherOptions } from './aws.js';
export { AwsWatcher } from './aws.js';
export type { AzureScheduledEvent, AzureWatcherOptions } from './azure.js';
export { AzureWatcher } from './azure.js';
export type { GcpWatcherOptions } from './gcp.js';
export { GcpWatcher } from './gcp.js';
export {
  CLOUDS,
  type Cloud,
  DEFAULT_ENDPOINTS,
  endpointFor,
  type InstanceFacts,
  isCloud,
  type Log,
  type MetadataEndpoints,
  type PreemptionWatcher,
} from './types.js';

type Probe = (base: string, timeoutMs: number, signal?: AbortSignal) => Promise<boolean>;
type Facts = (base: string, timeoutMs: number, signal?: AbortSignal) => Promise<InstanceFacts>;

const PROBES: Record<Cloud, Probe> = {
  aws: probeAws,
  gcp: probeGcp,
  azure: probeAzure,
  alibaba: probeAlibaba,
};
const FACTS: Record<Cloud, Facts> = {
  aws: awsFacts,
  gcp: gcpFacts,
  azure: azureFacts,
  alibaba: alibabaFacts,
};

/**
 * Which cloud's metadata service answers here: each is probed in parallel, and the first to answer
 * like itself wins (AWS: IMDSv2 token + `placement/availability-zone`; GCP: `Metadata-Flavor: Google` on the
 * answer; Azure: JSON compute metadata; Alibaba: `region-id`, which AWS lacks). Resolves within about
 * `timeoutMs` and never rejects; undefined when none answers.
 */
export function detectCloud(
  endpoints?: MetadataEndpoints,
  timeoutMs = 1000,
  signal?: AbortSignal,
): Promise<Cloud | undefined> {
  return new Promise((resolve) => {
    const controller = new AbortController();
    let pending = CLOUDS.length;
    const finish = (cloud: Cloud | undefined) => {
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      controller.abort();
      resolve(cloud);
    };
    const onAbort = () => finish(undefined);
    // A ref'd timer: a caller awaiting detection alone must not see the process exit under it.
    const deadline = setTimeout(() => finish(undefined), timeoutMs);
    if (signal?.aborted) {
      finish(undefined);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const cloud of CLOUDS) {
      PROBES[cloud](endpointFor(cloud, endpoints), timeoutMs, controller.signal)
        .catch(() => false)
        .then((found) => {
          if (controller.signal.aborted) return;
          if (found) finish(cloud);
          else if (--pending === 0) finish(undefined);
        });
    }
  });
}

/** Machine type, zone and spot/on-demand of this instance, as its metadata service tells. Never rejects. */
export async function instanceFacts(
  cloud: Cloud,
  options: { endpoints?: MetadataEndpoints; timeoutMs?: number } = {},
): Promise<InstanceFacts> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const controller = new AbortController();
  // Token and items are fetched one after the other: bound the whole, not only each request.
  const deadline = setTimeout(() => controller.abort(), 2 * timeoutMs);
  try {
    return await FACTS[cloud](endpointFor(cloud, options.endpoints), timeoutMs, controller.signal);
  } catch {
    return { cloud, instanceType: undefined, zone: undefined, lifecycle: undefined };
  } finally {
    clearTimeout(deadline);
  }
}

/** Per-cloud watcher settings; each cloud's endpoint comes from `endpoints`. */
export interface CloudWatcherOptions {
  aws?: Omit<AwsWatcherOptions, 'endpoint' | 'log'>;
  gcp?: Omit<GcpWatcherOptions, 'endpoint' | 'log'>;
  azure?: Omit<AzureWatcherOptions, 'endpoint' | 'log'>;
  alibaba?: Omit<AlibabaWatcherOptions, 'endpoint' | 'log'>;
}

export function createCloudWatcher(
  cloud: Cloud,
  options: { endpoints?: MetadataEndpoints; log?: Log; watchers?: CloudWatcherOptions } = {},
): PreemptionWatcher {
  const endpoint = endpointFor(cloud, options.endpoints);
  const log = options.log;
  switch (cloud) {
    case 'aws':
      return new AwsWatcher({ ...options.watchers?.aws, endpoint, log });
    case 'gcp':
      return new GcpWatcher({ ...options.watchers?.gcp, endpoint, log });
    case 'azure':
      return new AzureWatcher({ ...options.watchers?.azure, endpoint, log });
    case 'alibaba':
      return new AlibabaWatcher({ ...options.watchers?.alibaba, endpoint, log });
  }
}
