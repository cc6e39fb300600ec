import type { JobState } from '../core/types.js';
import type { JobStore } from '../store/store.js';
import { visibleJob } from './jobQueries.js';
import type { Principal } from './tokens.js';

/** The store calls job control makes. */
export type JobControlStore = JobStore;

/** What a cancel did: canceled now, or the job had already ended (in `state`). */
export type CancelOutcome = { canceled: true } | { canceled: false; state: JobState };

/** What a caller may do to a job: cancel it, for now. */
export class JobControl {
  private readonly now: () => number;

  constructor(
    private readonly store: JobControlStore,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
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
