import type { JobStore } from '../store/store.js';
import type { LeaseService } from './leaseService.js';

/** The store calls the lease-holder check makes. */
export type LeaseHolderStore = JobStore;

/**
 * Whether a worker token holds the lease of a task, besides the lease service's own fencing: a worker with a
 * stored token may only touch a task whose lease its token holds, so it can neither write nor record the
 * blobs of another worker's task.
 */
export class LeaseHolders {
  constructor(
    private readonly store: LeaseHolderStore,
    private readonly leases: Pick<LeaseService, 'rememberedHolder'>,
  ) {}

  /**
   * Whether token `tokenId` may act on task `id` at `epoch`. A task no longer running at `epoch` (done,
   * canceled) was last held through that epoch by its attempt's worker: only that token gets the lease
   * service's answer (an idempotent `ok`, or `canceled`); any other gets the 409 of every fenced call.
   */
  async holds(tokenId: string, id: string, epoch: number): Promise<boolean> {
    const mine = (workerId: string | null | undefined) => workerId?.startsWith(`${tokenId}:`) ?? false;
    const remembered = this.leases.rememberedHolder(id, epoch);
    if (remembered !== undefined) return mine(remembered);
    const task = await this.store.getTask(id);
    if (!task || task.epoch !== epoch) return false;
    if (task.state === 'running') return mine(task.workerId);
    return mine((await this.store.getAttempt(id, epoch))?.workerId);
  }
}
