import type { BlobStore } from '../blob/blobStore.js';
import type { FallbackPolicy } from '../core/fallback.js';
import type { PriceTable } from '../cost/prices.js';
import { type AdmissionStore, JobAdmission } from './jobAdmission.js';
import { JobControl, type JobControlStore } from './jobControl.js';
import { JobQueries, type JobQueryStore } from './jobQueries.js';
import { DEFAULT_TENANT_LIMITS, type TenantLimits, TenantTurns } from './tenantLimits.js';
import { type WebhookSecretStore, WebhookSecrets } from './webhookSecrets.js';

/** The store calls the tenant job API's services make. */
export type JobsStore = AdmissionStore & JobQueryStore & JobControlStore & WebhookSecretStore;

/** The services behind the tenant job API: its routes call these, never the store. */
export interface JobServices {
  admission: JobAdmission;
  queries: JobQueries;
  control: JobControl;
  webhookSecrets: WebhookSecrets;
}

export interface JobServicesOptions {
  prices: PriceTable;
  /** What one job and one tenant may queue (default DEFAULT_TENANT_LIMITS). */
  limits?: TenantLimits;
  /** The on-demand fallback policy, for the reports of running jobs. */
  fallback?: FallbackPolicy;
  now?: () => number;
}

/** One set of services over one store; submissions of a tenant are admitted one at a time. */
export function jobServices(store: JobsStore, blobs: BlobStore, options: JobServicesOptions): JobServices {
  const { now } = options;
  return {
    admission: new JobAdmission(store, {
      limits: options.limits ?? DEFAULT_TENANT_LIMITS,
      turns: new TenantTurns(),
      now,
    }),
    queries: new JobQueries(store, blobs, { prices: options.prices, fallback: options.fallback, now }),
    control: new JobControl(store, now, blobs),
    webhookSecrets: new WebhookSecrets(store, now),
  };
}
