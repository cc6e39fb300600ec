/**
 * Google Compute Engine metadata server, http://metadata.google.internal = http://169.254.169.254:
 * - Every request carries `Metadata-Flavor: Google`; every answer carries the same header, which is how
 *   the server is recognised. https://cloud.google.com/compute/docs/metadata/querying-metadata
 * - `GET /computeMetadata/v1/instance/preempted` is `FALSE` until the Spot/preemptible VM is preempted,
 *   then `TRUE` (about 30 s before it stops). `?wait_for_change=true` hangs until the value changes;
 *   `last_etag=<ETag of the previous answer>` returns at once if it changed in between, and `timeout_sec`
 *   bounds the wait. https://cloud.google.com/compute/docs/instances/spot#detect-preemption,
 *   https://cloud.google.com/compute/docs/metadata/querying-metadata#waitforchange
 * - Facts: `instance/machine-type` and `instance/zone` (`projects/<n>/machineTypes/<type>`,
 *   `projects/<n>/zones/<zone>`), `instance/scheduling/provisioning-model` (`SPOT` | `STANDARD` | ...) and
 *   the older `instance/scheduling/preemptible` (`TRUE` | `FALSE`).
 *   https://cloud.google.com/compute/docs/metadata/predefined-metadata-keys
 */
import { type MetadataResponse, metadataRequest, sleep } from './http.js';
import type { InstanceFacts, Log } from './types.js';
import { HttpStatusError, MetadataWatcher } from './watcher.js';

const FLAVOR = { 'metadata-flavor': 'Google' };
const PREEMPTED = '/computeMetadata/v1/instance/preempted';

export interface GcpWatcherOptions {
  /** Base URL of the metadata server (default http://169.254.169.254). */
  endpoint: string;
  /** How long the server may hold one long-poll (`timeout_sec`, default 300). */
  waitSeconds?: number;
  /** Deadline of a plain (non-waiting) request (default 2000). */
  requestTimeoutMs?: number;
  /** Pause after a failed request, doubled per failure up to `maxBackoffMs` (default 500 / 5000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Least time between two long-polls that ended without a notice (default 1000). */
  minIntervalMs?: number;
  log?: Log;
}

export class GcpWatcher extends MetadataWatcher {
  readonly name = 'gcp';
  private readonly base: string;
  private readonly waitSeconds: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly minIntervalMs: number;

  constructor(options: GcpWatcherOptions) {
    super(options.log);
    this.base = options.endpoint.replace(/\/+$/, '');
    this.waitSeconds = options.waitSeconds ?? 300;
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
  }

  protected async run(signal: AbortSignal): Promise<void> {
    let waiting = false;
    let etag: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      // The first read (and the first after an error) returns at once with the current value and its
      // ETag; later reads hang until the value differs from that version, so no change slips between two.
      const last = etag === undefined ? '' : `&last_etag=${encodeURIComponent(etag)}`;
      const query = waiting ? `?wait_for_change=true${last}&timeout_sec=${this.waitSeconds}` : '';
      const started = Date.now();
      let response: MetadataResponse;
      try {
        response = await metadataRequest(`${this.base}${PREEMPTED}${query}`, {
          headers: FLAVOR,
          timeoutMs: waiting ? this.waitSeconds * 1000 + this.timeoutMs + 5000 : this.timeoutMs,
          signal,
          unref: true,
        });
        if (response.status !== 200) throw new HttpStatusError(response.status);
      } catch (error) {
        this.failed('instance/preempted', error);
        waiting = false;
        etag = undefined;
        failures++;
        await sleep(Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (failures - 1)), signal);
        continue;
      }
      failures = 0;
      this.succeeded();
      if (response.body.trim().toUpperCase() === 'TRUE') {
        this.trigger('gcp:preempted');
        return;
      }
      const next = response.headers.etag;
      etag = typeof next === 'string' && next !== '' ? next : undefined;
      // A server that answers a long-poll at once without a change would otherwise be polled in a tight loop.
      if (waiting) await sleep(this.minIntervalMs - (Date.now() - started), signal);
      waiting = true;
    }
  }
}

function isGoogle(response: MetadataResponse): boolean {
  return response.status === 200 && response.headers['metadata-flavor'] === 'Google';
}

export async function probeGcp(base: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const response = await metadataRequest(`${base}/computeMetadata/v1/instance/id`, {
    headers: FLAVOR,
    timeoutMs,
    signal,
  });
  return isGoogle(response);
}

export async function gcpFacts(
  base: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<InstanceFacts> {
  const item = (path: string) =>
    metadataRequest(`${base}/computeMetadata/v1/instance/${path}`, {
      headers: FLAVOR,
      timeoutMs,
      signal,
    }).then(
      (response) => (isGoogle(response) && response.body.trim() !== '' ? response.body.trim() : undefined),
      () => undefined,
    );
  const [machineType, zone, model, preemptible] = await Promise.all([
    item('machine-type'),
    item('zone'),
    item('scheduling/provisioning-model'),
    item('scheduling/preemptible'),
  ]);
  let lifecycle: InstanceFacts['lifecycle'];
  const provisioning = model?.toUpperCase();
  if (provisioning === 'SPOT' || preemptible?.toUpperCase() === 'TRUE') lifecycle = 'spot';
  else if (
    provisioning === 'STANDARD' ||
    (provisioning === undefined && preemptible?.toUpperCase() === 'FALSE')
  ) {
    lifecycle = 'on-demand';
  }
  return { cloud: 'gcp', instanceType: lastSegment(machineType), zone: lastSegment(zone), lifecycle };
}

function lastSegment(value: string | undefined): string | undefined {
  return value?.split('/').pop() || undefined;
}
