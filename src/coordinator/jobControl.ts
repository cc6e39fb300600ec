import type { BlobStore } from '../blob/blobStore.js';
import type { JobState } from '../core/types.js';
import type { JobStore } from '../store/store.js';
import { visibleJob } from './jobQueries.js';
import type { Principal } from './tokens.js';

/** The store calls job control makes. */
export type JobControlStore = JobStore;

/** What a cancel did: canceled now, or the job had already ended (in `state`). */
export type CancelOutcome = { canceled: true } | { canceled: false; state: JobState };

/** What a retry did: the job runs again, or why it cannot. */
export type RetryOutcome = { retried: true } | { retried: false; reason: string };

/** What a caller may do to a job: cancel it, or run a failed one again from its checkpoints. */
export class JobControl {
  private readonly now: () => number;

  constructor(
    private readonly store: JobControlStore,
    now?: () => number,
    private readonly blobs?: Pick<BlobStore, 'size'>,
  ) {
    this.now = now ?? Date.now;
  }

  /**
   * Puts a failed job's failed tasks back in the queue with fresh failure budgets; its checkpoints are
   * kept, so it resumes where it stopped. Refused when a checkpoint's blob is gone (segment retention
   * deletes them after a job ends): the job has to be submitted again. Undefined when `principal` may
   * not see the job.
   */
  async retry(principal: Principal, id: string): Promise<RetryOutcome | undefined> {
    const job = await visibleJob(this.store, principal, id);
    if (!job) return undefined;
    if (job.state !== 'failed')
      return { retried: false, reason: `job is ${job.state}: only a failed job is retried` };
    const segments = await this.store.listSegments(id);
    for (const segment of segments) {
      if (this.blobs && (await this.blobs.size(segment.key)) === undefined)
        return {
          retried: false,
          reason: 'its checkpoints have been deleted since it failed: submit it again',
        };
    }
    await this.store.retryFailedJob(id);
    return { retried: true };
  }

  /** Cancels the job; undefined when `principal` may not see it. */
  async cancel(principal: Principal, id: string): Promise<CancelOutcome | undefined> {
    const job = await visibleJob(this.store, principal, id);
    if (!job) return undefined;
    if (await this.store.cancelJob(id, this.now())) return { canceled: true };
    const current = await this.store.getJob(id);
    return { canceled: false, state: current?.state ?? job.state };
  }
}
