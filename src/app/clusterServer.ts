import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { loadDashboard } from '../api/dashboard.js';
import { buildApi, buildMetricsApi } from '../api/server.js';
import { openBlobStore } from '../blob/blobLocation.js';
import type { BlobStore } from '../blob/blobStore.js';
import type { S3BlobStoreOptions } from '../blob/s3BlobStore.js';
import { abortAbandonedUploads, canSweepUploads, sweepSegments } from '../coordinator/blobSweeps.js';
import { LeaseService } from '../coordinator/leaseService.js';
import { Metrics } from '../coordinator/metrics.js';
import { type NotificationSettings, notificationDispatcher } from '../coordinator/notifications.js';
import { OnDemandFallback } from '../coordinator/onDemandFallback.js';
import type { PreviewSettings } from '../coordinator/previews.js';
import type { TenantLimits } from '../coordinator/tenantLimits.js';
import { UserError } from '../core/errors.js';
import { ON_DEMAND_ONLY, type OnDemandOnly } from '../core/types.js';
import { loadPriceTable, type PriceTable } from '../cost/prices.js';
import type { BackoffOptions } from '../notify/backoff.js';
import { PostgresStore } from '../store/postgresStore.js';
import { SqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';

export interface ClusterServerOptions {
  /** `postgres://…` (cluster), or a SQLite file path (a single coordinator, for trying things out). */
  db: string;
  /** `s3://bucket[/prefix]` or a local directory. */
  blob: string;
  s3?: S3BlobStoreOptions;
  host: string;
  port: number;
  /** Serve `/metrics` here instead of on the API's address (`--metrics-listen`). */
  metricsListen?: { host: string; port: number };
  adminToken?: string;
  leaseTtlMs: number;
  maxAttempts: number;
  /** How often the lease sweep runs (default 1 s). */
  sweepMs?: number;
  /**
   * How long segments outlive their job's end (completed, failed or canceled), in ms: 0 (default) deletes
   * a completed job's segments right after its merge, Infinity keeps them.
   */
  segmentRetentionMs?: number;
  /** Multipart uploads older than this are aborted as abandoned (default 24 h; Infinity: never). */
  abandonedUploadAgeMs?: number;
  /** How often the blob sweeps (segment retention, abandoned uploads) run (default 60 s). */
  blobSweepMs?: number;
  parallelism?: number;
  multipartThresholdBytes?: number;
  /** What one job and one tenant may queue (default DEFAULT_TENANT_LIMITS). */
  tenantLimits?: TenantLimits;
  /** Pool policy: work that spot workers may not claim (merge tasks, urgent jobs' tasks). */
  onDemandOnly?: readonly OnDemandOnly[];
  /** Pool policy: interruptions after which a task is kept for on-demand workers; absent: no cap. */
  spotInterruptionCap?: number;
  /** Fallback: a task waiting longer than this for a worker asks for an on-demand one; absent: never. */
  spotWaitLimitMs?: number;
  /** How often the on-demand fallback looks at the running jobs, for its log lines (default 15 s). */
  fallbackMs?: number;
  /** Prices job reports are costed at (default: the shipped table). */
  prices?: PriceTable;
  /** Tenants' one-frame previews, run here with these models (`POST /v1/previews`); absent: refused. */
  previews?: PreviewSettings;
  /** Webhook and email delivery: SMTP server, result links, and (tests) a faster backoff. */
  notify?: NotificationSettings & { backoff?: Partial<BackoffOptions>; pollMs?: number };
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Lease events, one line each with the task's jobId, taskId, workerId and epoch. */
  logger?: Logger;
}

export interface ClusterServer {
  /** `http://host:port` as bound (port 0 picks one). */
  address: string;
  /** What `/metrics` serves; other parts of the coordinator (the notification outbox) report into it. */
  metrics: Metrics;
  /** `http://host:port` of `/metrics` when it has a listener of its own. */
  metricsAddress?: string;
  close(): Promise<void>;
}

async function openStore(db: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//i.test(db)) {
    try {
      return await PostgresStore.open(db);
    } catch (error) {
      throw new UserError(`cannot open the database: ${(error as Error).message}`);
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(db))
    throw new UserError(`unsupported database URL: ${db.replace(/\/\/[^@/]*@/, '//…@')} (use postgres://…)`);
  return new SqliteStore(db);
}

/**
 * `spotfuse server`: the coordinator of a cluster. Opens the store (PostgreSQL migrations run on open,
 * under an advisory lock, so replicas starting together are safe), serves the lease API, the admin's token
 * routes and the tenant job API, and runs the background sweeps. Every sweep is a store call that is safe
 * when several replicas run it at once (rows are locked in a fixed order and conditions re-checked).
 */
export async function startClusterServer(options: ClusterServerOptions): Promise<ClusterServer> {
  const log = options.log ?? (() => {});
  const blobs: BlobStore = openBlobStore(options.blob, options.s3);
  const checkBucket = (blobs as { checkBucket?: () => Promise<void> }).checkBucket;
  if (checkBucket) await checkBucket.call(blobs);
  const prices = options.prices ?? loadPriceTable();
  const store = await openStore(options.db);
  let api: FastifyInstance | undefined;
  let metricsApi: FastifyInstance | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let blobSweeper: NodeJS.Timeout | undefined;
  let fallbackTimer: NodeJS.Timeout | undefined;
  const retentionMs = options.segmentRetentionMs ?? 0;
  let notifications: ReturnType<typeof notificationDispatcher> | undefined;
  try {
    const fallbackPolicy = { spotWaitLimitMs: options.spotWaitLimitMs };
    const fallback = new OnDemandFallback(store, fallbackPolicy, { log });
    const metrics = new Metrics({ store, onDemandOnly: options.onDemandOnly, onDemand: fallback });
    const leases = new LeaseService(store, blobs, {
      leaseTtlMs: options.leaseTtlMs,
      maxAttempts: options.maxAttempts,
      deleteSegmentsWhenDone: retentionMs === 0,
      onDemandOnly: options.onDemandOnly,
      spotInterruptionCap: options.spotInterruptionCap,
      multipartThresholdBytes: options.multipartThresholdBytes,
      metrics,
      prices,
      logger: options.logger,
    });
    api = buildApi({
      leases,
      store,
      metrics,
      metricsRoute: options.metricsListen === undefined,
      adminToken: options.adminToken,
      jobs: {
        store,
        blobs,
        email: options.notify?.smtpUrl !== undefined,
        parallelism: options.parallelism,
        multipartThresholdBytes: options.multipartThresholdBytes,
        limits: options.tenantLimits,
        metrics,
        prices,
        fallback: fallbackPolicy,
        previews: options.previews,
      },
      fleet: { store, prices },
      dashboard: loadDashboard() ?? null,
      ready: async () => {
        await store.listJobs({ limit: 1 });
      },
      // Upload and submit bodies are small; video bytes go straight to the blob store.
      bodyLimitBytes: 1024 * 1024,
      logger: options.logger,
    });
    let sweeping = false;
    sweeper = setInterval(async () => {
      if (sweeping) return;
      sweeping = true;
      try {
        const expired = await leases.expireLeases();
        if (expired > 0) log('leases expired; their tasks are runnable again', { tasks: expired });
      } catch (error) {
        log('lease sweep failed', { error: (error as Error).message });
      } finally {
        sweeping = false;
      }
    }, options.sweepMs ?? 1000);
    sweeper.unref();
    const sweepBlobs = periodic(async () => {
      const now = Date.now();
      if (Number.isFinite(retentionMs)) {
        const swept = await sweepSegments(store, blobs, now - retentionMs);
        if (swept.jobs > 0) log('segments deleted past their retention', { jobs: swept.jobs });
        for (const f of swept.failures) log('segment sweep failed for a job', { ...f });
      }
      const uploadAgeMs = options.abandonedUploadAgeMs ?? DEFAULT_ABANDONED_UPLOAD_AGE_MS;
      if (Number.isFinite(uploadAgeMs) && canSweepUploads(blobs)) {
        const uploads = await abortAbandonedUploads(blobs, now - uploadAgeMs);
        if (uploads.aborted > 0) log('abandoned multipart uploads aborted', { uploads: uploads.aborted });
        for (const f of uploads.failures) log('cannot abort an abandoned upload', { ...f });
      }
    }, log);
    blobSweeper = setInterval(sweepBlobs, options.blobSweepMs ?? 60_000);
    blobSweeper.unref();
    // Scrapes evaluate it too; this keeps its log lines coming when nobody scrapes.
    const evaluateFallback = periodic(
      async () => void (await fallback.evaluate()),
      log,
      'on-demand fallback',
    );
    fallbackTimer = setInterval(evaluateFallback, options.fallbackMs ?? 15_000);
    fallbackTimer.unref();
    void sweepBlobs();
    // Beside the sweep: every replica runs one; row locks keep them from sending the same notification.
    notifications = notificationDispatcher(store, options.notify ?? {}, prices, {
      backoff: options.notify?.backoff,
      pollMs: options.notify?.pollMs,
      log,
      onAttempt: (notification, state) => {
        if (notification.channel === 'webhook') metrics.webhookDelivery(state);
      },
    });
    notifications.dispatcher.start();
    const address = await api.listen({ host: options.host, port: options.port });
    let metricsAddress: string | undefined;
    if (options.metricsListen) {
      metricsApi = buildMetricsApi(metrics);
      metricsAddress = await metricsApi.listen(options.metricsListen);
    }
    const closeApi = api;
    const closeNotifications = notifications;
    const closeMetricsApi = metricsApi;
    return {
      address,
      metrics,
      metricsAddress,
      async close() {
        clearInterval(sweeper);
        clearInterval(blobSweeper);
        clearInterval(fallbackTimer);
        await sweepBlobs.idle();
        await evaluateFallback.idle();
        await closeNotifications.close();
        await closeMetricsApi?.close();
        await closeApi.close();
        await store.close();
        (blobs as { close?: () => void }).close?.();
      },
    };
  } catch (error) {
    clearInterval(sweeper);
    clearInterval(blobSweeper);
    clearInterval(fallbackTimer);
    await notifications?.close();
    await metricsApi?.close();
    await api?.close();
    await store.close();
    throw error;
  }
}

const DEFAULT_ABANDONED_UPLOAD_AGE_MS = 24 * 60 * 60 * 1000;

/** `run` as a timer callback: never two at once (a slow run skips the next tick), failures logged. */
function periodic(
  run: () => Promise<void>,
  log: NonNullable<ClusterServerOptions['log']>,
  what = 'blob sweep',
): (() => Promise<void>) & { idle(): Promise<void> } {
  let running: Promise<void> | undefined;
  const tick = async () => {
    if (running) return;
    running = run()
      .catch((error) => log(`${what} failed`, { error: (error as Error).message }))
      .finally(() => {
        running = undefined;
      });
    await running;
  };
  return Object.assign(tick, { idle: async () => void (await running) });
}

/** `host:port`, `:port` or `port`; the host defaults to 0.0.0.0. */
export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw new UserError(`${flag} must be host:port, e.g. 0.0.0.0:8080, not "${text}"`);
  return { host: m[1] || '0.0.0.0', port };
}

/** `merge,urgent`, `merge`, `urgent`, or `none`/empty: the work only on-demand workers may claim. */
export function parseOnDemandFor(text: string | undefined): OnDemandOnly[] {
  const words = (text ?? '')
    .split(',')
    .map((w) => w.trim().toLowerCase())
    .filter((w) => w !== '');
  if (words.length === 1 && words[0] === 'none') return [];
  const kinds: OnDemandOnly[] = [];
  for (const word of words) {
    if (!(ON_DEMAND_ONLY as readonly string[]).includes(word)) {
      throw new UserError(`--on-demand-for takes merge, urgent, both (merge,urgent) or none, not "${text}"`);
    }
    if (!kinds.includes(word as OnDemandOnly)) kinds.push(word as OnDemandOnly);
  }
  return kinds;
}
