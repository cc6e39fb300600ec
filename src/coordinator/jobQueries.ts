import type { BlobStore } from '../blob/blobStore.js';
import type { FallbackPolicy } from '../core/fallback.js';
import type { Attempt } from '../core/types.js';
import { attemptCost } from '../cost/accounting.js';
import { attemptCostText } from '../cost/costText.js';
import { type ReportOptions, summarizeJob } from '../cost/jobReport.js';
import type { PriceTable } from '../cost/prices.js';
import type {
  DeliveriesView,
  JobListEntry,
  JobProgress,
  JobStatusView,
  JobTimeline,
} from '../protocol/jobViews.js';
import {
  type DeliveryAttempt,
  type JobFilter,
  type JobStore,
  type Notification,
  type OutboxStore,
  type StoredJob,
  workerName,
} from '../store/store.js';
import { blobKeyOf } from './leaseService.js';
import { type CoordinatorJobReport, jobReport } from './report.js';
import type { Principal } from './tokens.js';

/** Ended jobs whose progress a JobQueries keeps in memory (the oldest kept is dropped first). */
const SETTLED_KEPT = 1000;

/** The store calls the job queries make. */
export type JobQueryStore = JobStore & OutboxStore;

/**
 * The job if `principal` may see it. A tenant asking for another tenant's job gets the same answer as
 * for a job that does not exist (the API answers 404 for both), so job ids of others cannot be probed.
 */
export async function visibleJob(
  store: JobStore,
  principal: Principal,
  jobId: string,
): Promise<StoredJob | undefined> {
  const job = await store.getJob(jobId);
  if (!job) return undefined;
  if (principal.role === 'admin') return job;
  if (principal.role === 'tenant' && principal.tenant !== undefined && job.tenant === principal.tenant) {
    return job;
  }
  return undefined;
}

/** The `listJobs` filter for what `principal` may see; workers see no jobs. */
export function visibleJobsFilter(principal: Principal): JobFilter | undefined {
  if (principal.role === 'admin') return {};
  if (principal.role === 'tenant' && principal.tenant !== undefined) return { tenant: principal.tenant };
  return undefined;
}

/**
 * One line per attempt with what it cost at `prices` (a running one: so far, at `now`), and the job's
 * error: what a tenant may know of how its job ran.
 */
export function logLines(job: StoredJob, attempts: Attempt[], prices: PriceTable, now: number): string[] {
  const time = (ms: number) => new Date(ms).toISOString();
  const lines = [`${time(job.createdAt)} job ${job.id} submitted: ${job.frameCount} frames`];
  for (const a of attempts) {
    // A worker holds its lease as `<token id>:<worker id>`: the token id is none of the tenant's business.
    const worker = workerName(a.workerId);
    lines.push(
      `${time(a.startedAt)} task ${a.taskId} attempt ${a.epoch} on ${worker}: ${a.outcome}` +
        `${a.endedAt === null ? '' : ` at ${time(a.endedAt)}`}, ${a.framesDone} frames, ` +
        `${a.framesCheckpointed} checkpointed [${attemptCostText(attemptCost(a, prices, now))}]` +
        `${a.error ? `: ${a.error}` : ''}`,
    );
  }
  if (job.finishedAt !== null)
    lines.push(`${time(job.finishedAt)} job ${job.state}${job.error ? `: ${job.error}` : ''}`);
  return lines;
}

export type { JobListEntry } from '../protocol/jobViews.js';

export type JobStatus = CoordinatorJobReport & Pick<StoredJob, 'state' | 'createdAt' | 'finishedAt'>;

/** A notification of a job as its owner may see it (its payload and dedupe key stay inside). */
export type DeliveryView = Pick<
  Notification,
  'id' | 'event' | 'channel' | 'target' | 'state' | 'attempts' | 'deliveredAt' | 'lastError'
> & { nextAttemptAt: number | null };

/** Where a job's output can be fetched, or why it cannot (yet). */
export type Download = { url: string } | { conflict: string };

export interface JobQueriesOptions {
  /** Prices job reports are costed at. */
  prices: PriceTable;
  /** The coordinator's fallback policy: reports of running jobs say what they ask of on-demand workers. */
  fallback?: FallbackPolicy;
  now?: () => number;
}

/**
 * What a caller may read of jobs: listings, status reports, logs, deliveries and output URLs. Every
 * per-job query answers undefined for a job the caller may not see (another tenant's, or none).
 */
export class JobQueries {
  private readonly now: () => number;

  constructor(
    private readonly store: JobQueryStore,
    private readonly blobs: Pick<BlobStore, 'readUrl'>,
    private readonly options: JobQueriesOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The job, when `principal` may see it. */
  job(principal: Principal, id: string): Promise<StoredJob | undefined> {
    return visibleJob(this.store, principal, id);
  }

  /** The caller's jobs, newest first; with `progress`, each one's progress and cost as well. */
  async list(principal: Principal, options: { progress?: boolean } = {}): Promise<JobListEntry[]> {
    const filter = visibleJobsFilter(principal) ?? { tenant: '\u0000none' };
    const jobs = await this.store.listJobs(filter);
    return Promise.all(
      jobs.map(async (j) => ({
        id: j.id,
        state: j.state,
        frames: j.frameCount,
        processors: j.spec.processors,
        createdAt: j.createdAt,
        finishedAt: j.finishedAt,
        error: j.error,
        ...(principal.role === 'admin' ? { tenant: j.tenant } : {}),
        ...(options.progress ? { progress: await this.progress(j) } : {}),
      })),
    );
  }

  /**
   * Progress of ended jobs whose attempts have all ended: it can no longer change, so a listing polled by
   * the dashboard reads their rows once (per job end: a retried job ends again under another `finishedAt`).
   */
  private readonly settled = new Map<string, JobProgress>();

  private async progress(job: StoredJob): Promise<JobProgress> {
    const key = `${job.id}@${job.finishedAt}`;
    const known = this.settled.get(key);
    if (known) return known;
    const now = this.now();
    const [tasks, segments, attempts] = await Promise.all([
      this.store.listTasks(job.id),
      this.store.listSegments(job.id),
      this.store.listAttempts(job.id),
    ]);
    const report = summarizeJob(job, tasks, segments, attempts, now, { prices: this.options.prices });
    const fps = attempts.filter((a) => a.outcome === 'running').reduce((sum, a) => sum + (a.fps ?? 0), 0);
    const ended = job.finishedAt !== null;
    const progress: JobProgress = {
      framesDone: report.framesDone,
      fps,
      etaSeconds: !ended && fps > 0 ? (job.frameCount - report.framesDone) / fps : null,
      interruptions: report.interruptions,
      paid: report.cost.paid,
      onDemand: report.cost.onDemand,
      saving: report.cost.saving,
      savingPercent: report.cost.savingPercent,
    };
    if (ended && attempts.every((a) => a.outcome !== 'running')) {
      if (this.settled.size >= SETTLED_KEPT) this.settled.delete(this.settled.keys().next().value!);
      this.settled.set(key, progress);
    }
    return progress;
  }

  /** Each task with its attempts and checkpoints, for the job's timeline. */
  async timeline(principal: Principal, id: string): Promise<JobTimeline | undefined> {
    const job = await this.job(principal, id);
    if (!job) return undefined;
    const [tasks, segments, attempts] = await Promise.all([
      this.store.listTasks(id),
      this.store.listSegments(id),
      this.store.listAttempts(id),
    ]);
    return {
      jobId: job.id,
      state: job.state,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
      now: this.now(),
      tasks: tasks.map((t) => ({
        id: t.id,
        kind: t.kind,
        range: t.range,
        state: t.state,
        attempts: attempts
          .filter((a) => a.taskId === t.id)
          .map((a) => ({
            epoch: a.epoch,
            worker: workerName(a.workerId),
            startedAt: a.startedAt,
            endedAt: a.endedAt,
            outcome: a.outcome,
            framesDone: a.framesDone,
            framesCheckpointed: a.framesCheckpointed,
            error: a.error,
            cloud: a.cloud,
            instanceType: a.instanceType,
            zone: a.zone,
            lifecycle: a.lifecycle,
            fps: a.fps,
          })),
        checkpoints: segments
          .filter((s) => s.taskId === t.id)
          .map((s) => ({ range: s.range, epoch: s.epoch })),
      })),
    };
  }

  async status(
    principal: Principal,
    id: string,
    options: Pick<ReportOptions, 'tasks'> = {},
  ): Promise<JobStatus | undefined> {
    const job = await this.job(principal, id);
    if (!job) return undefined;
    const report = await jobReport(
      this.store,
      id,
      { prices: this.options.prices, fallback: this.options.fallback, ...options },
      this.now(),
    );
    // The page reads the report as a JobStatusView: the check keeps the two from drifting apart.
    return {
      ...report,
      state: job.state,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
    } satisfies JobStatusView;
  }

  async logs(principal: Principal, id: string): Promise<string[] | undefined> {
    const job = await this.job(principal, id);
    if (!job) return undefined;
    return logLines(job, await this.store.listAttempts(id), this.options.prices, this.now());
  }

  async deliveries(
    principal: Principal,
    id: string,
  ): Promise<{ notifications: DeliveryView[]; attempts: DeliveryAttempt[] } | undefined> {
    const job = await this.job(principal, id);
    if (!job) return undefined;
    const [notifications, attempts] = await Promise.all([
      this.store.listNotifications(id),
      this.store.listDeliveryAttempts(id),
    ]);
    return {
      notifications: notifications.map((n) => ({
        id: n.id,
        event: n.event,
        channel: n.channel,
        target: n.target,
        state: n.state,
        attempts: n.attempts,
        nextAttemptAt: n.state === 'pending' ? n.nextAttemptAt : null,
        deliveredAt: n.deliveredAt,
        lastError: n.lastError,
      })),
      attempts,
    } satisfies DeliveriesView;
  }

  /** A presigned URL of a completed job's output in the blob store. */
  async download(principal: Principal, id: string): Promise<Download | undefined> {
    const job = await this.job(principal, id);
    if (!job) return undefined;
    if (job.state !== 'completed') return { conflict: `job is ${job.state}, not completed` };
    const key = blobKeyOf(job.spec.output);
    if (key === undefined) return { conflict: 'the output of this job is not in the blob store' };
    return { url: await this.blobs.readUrl(key) };
  }
}
