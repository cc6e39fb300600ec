/**
 * The lease verdicts of `core/lease.ts` as SQL, for the statements that lock, check and write in one round
 * trip (PostgreSQL's claim, heartbeat, checkpoint and complete; both stores' set-wide lease endings). Each
 * fragment mirrors one core function over a task row (`job_state`: its job's state) and is valid in both
 * dialects; test/store/leaseSql.test.ts evaluates every fragment against its function on every case.
 * Placeholders are the caller's (`?` or `$n::type`).
 */
import type { ChainView, LeaseView } from '../core/lease.js';
import type { JobState, TaskKind, TaskState } from '../core/types.js';
import type { TaskRow } from './rows.js';

/** `leaseVerdict(task, epoch) === 'ok'`. */
export function leaseHeldSql(epoch: string): string {
  return `(epoch = ${epoch} AND state = 'running' AND job_state <> 'canceled')`;
}

/** `continuesChain(task, { start, end })`. */
export function continuesChainSql(start: string, end: string): string {
  return `(next_frame = ${start} AND ${end} > ${start} AND ${end} <= end_frame)`;
}

/** `mayComplete(task)`. */
export const MAY_COMPLETE_SQL = `(kind = 'merge' OR next_frame >= end_frame)`;

/** `leaseExpired(task, now)`. */
export function leaseExpiredSql(now: string): string {
  return `(state = 'running' AND lease_expires_at < ${now})`;
}

/** The assignments of `decideLostLease(task)`, and the lease dropped. */
export const LOST_LEASE_SET_SQL =
  "state = 'pending', preemptions = preemptions + 1, worker_id = NULL, lease_expires_at = NULL";

/** A task row with its job's state beside it: what every fenced call decides on. */
export type LeaseRow = TaskRow & { job_state: string };

/** What `leaseVerdict` takes of a lease row. */
export function leaseView(row: Pick<LeaseRow, 'epoch' | 'state' | 'job_state'>): LeaseView {
  return { epoch: row.epoch, state: row.state as TaskState, jobState: row.job_state as JobState };
}

/** The columns of a lease row that the checkpoint and completion verdicts read. */
export const CHAIN_COLUMNS = 'epoch, state, job_state, next_frame, end_frame, kind';
export type ChainRow = Pick<LeaseRow, 'epoch' | 'state' | 'job_state' | 'next_frame' | 'end_frame' | 'kind'>;

/** What the checkpoint and completion verdicts take of a lease row. */
export function chainView(row: ChainRow): LeaseView & ChainView & { kind: TaskKind } {
  return {
    ...leaseView(row),
    nextFrame: row.next_frame,
    endFrame: row.end_frame,
    kind: row.kind as TaskKind,
  };
}
