import { type FallbackPolicy, jobFlow, type OnDemandCall, onDemandCall } from '../core/fallback.js';
import type { JobSpec } from '../core/types.js';
import type { JobStore, StoredJob } from '../store/store.js';
import { jobCost } from './jobAdmission.js';

/** A job's call on the on-demand pool. */
export interface JobOnDemandCall extends OnDemandCall {
  jobId: string;
}

export type FallbackStore = Pick<JobStore, 'listRunningJobs' | 'listTasks' | 'listAttempts'>;

/**
 * A worker's frames per second on a job before any heartbeat measured it: the planner's cost estimate (0, not
 * known, for FaceFusion's processors).
 */
export function estimatedFps(spec: Pick<JobSpec, 'processors' | 'engine'>): number {
  const { msPerFrame } = jobCost(spec);
  return msPerFrame > 0 ? 1000 / msPerFrame : 0;
}

/** A job's call from its rows (core/fallback.ts decides). */
export function jobOnDemandCall(
  job: Pick<StoredJob, 'spec' | 'createdAt'>,
  tasks: Parameters<typeof jobFlow>[1],
  attempts: Parameters<typeof jobFlow>[2],
  policy: FallbackPolicy,
  now: number,
): OnDemandCall | undefined {
  return onDemandCall(jobFlow(job, tasks, attempts, estimatedFps(job.spec)), now, policy);
}

export interface OnDemandFallbackOptions {
  /** Where a job's call is told when it starts, changes and ends. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

/**
 * The on-demand fallback: asks, for every running job, whether spot alone will do (core/fallback.ts), and
 * answers `/metrics` at every scrape (`spotfuse_on_demand_wanted`, which the on-demand pool's autoscaler
 * reads). A job's call is logged when it starts, changes its number or reasons, and ends. Every replica runs
 * one over the shared database, so every replica reports the same calls.
 */
export class OnDemandFallback {
  /** The latest evaluation's calls, to log what changed since. */
  private calls: JobOnDemandCall[] = [];

  private readonly log: NonNullable<OnDemandFallbackOptions['log']>;
  private readonly now: () => number;

  constructor(
    private readonly store: FallbackStore,
    private readonly policy: FallbackPolicy,
    options: OnDemandFallbackOptions = {},
  ) {
    this.log = options.log ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  async evaluate(): Promise<readonly JobOnDemandCall[]> {
    const now = this.now();
    const calls: JobOnDemandCall[] = [];
    for (const job of await this.store.listRunningJobs()) {
      const [tasks, attempts] = await Promise.all([
        this.store.listTasks(job.id),
        this.store.listAttempts(job.id),
      ]);
      const call = jobOnDemandCall(job, tasks, attempts, this.policy, now);
      if (call) calls.push({ jobId: job.id, ...call });
    }
    this.logChanges(calls);
    this.calls = calls;
    return calls;
  }

  private logChanges(calls: readonly JobOnDemandCall[]): void {
    const before = new Map(this.calls.map((c) => [c.jobId, c]));
    for (const call of calls) {
      const previous = before.get(call.jobId);
      before.delete(call.jobId);
      if (previous?.workers === call.workers && previous.reasons.join() === call.reasons.join()) continue;
      this.log(`on-demand workers wanted: ${call.detail}`, {
        jobId: call.jobId,
        workers: call.workers,
        reasons: call.reasons,
      });
    }
    for (const jobId of before.keys()) this.log('on-demand workers no longer wanted', { jobId });
  }
}
