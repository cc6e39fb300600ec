/**
 * The lease state machine's rules, decided here and nowhere else. A store fetches the task's state, asks
 * these verdicts, and writes what they say; where a store decides inside one SQL statement for speed (the
 * PostgreSQL hot path), its WHERE clauses mirror these functions and test/store/leaseSql.test.ts checks
 * the two agree on every case.
 *
 *   pending ──claim (epoch + 1)──▶ running ──complete──▶ done
 *      ▲                              │
 *      └── release / expiry / lost ───┘──release (error, budget spent)──▶ failed
 *   (cancel: pending or running ──▶ canceled, whatever the epoch)
 */
import { ProtocolError } from './errors.js';
import type {
  Attempt,
  AttemptOutcome,
  FrameRange,
  JobState,
  LeaseResult,
  ReleaseReason,
  SegmentRejection,
  Task,
  TaskKind,
  TaskState,
} from './types.js';

/** What a fenced lease call sees of its task: epoch and state, and its job's state. */
export interface LeaseView {
  epoch: number;
  state: TaskState;
  jobState: JobState;
}

/**
 * Whether the caller holding `epoch` still holds the task's lease (`ok`), or why not: `canceled` when the
 * task or its job was canceled, `stale` when the task is unknown, claimed again since, or no longer running.
 */
export function leaseVerdict(task: LeaseView | undefined, epoch: number): LeaseResult {
  if (!task || task.epoch !== epoch) return 'stale';
  if (task.jobState === 'canceled' || task.state === 'canceled') return 'canceled';
  return task.state === 'running' ? 'ok' : 'stale';
}

/**
 * A call by the lease holder that breaks the protocol (a segment that leaves a gap or runs past the task, a
 * complete with frames left): the holder's bug, answered with a 400 that says `violation`. Nothing is written.
 */
export interface ProtocolViolation {
  violation: string;
}

/** Where a task's chain of segments stands: the next frame to checkpoint, and the task's end (exclusive). */
export interface ChainView {
  nextFrame: number;
  endFrame: number;
}

/** Whether `range` is the task's next segment: it starts where the chain stops, is not empty, and stays inside. */
export function continuesChain(task: ChainView, range: FrameRange): boolean {
  return range.start === task.nextFrame && range.end > range.start && range.end <= task.endFrame;
}

/**
 * A checkpoint by the lease holder: `record` the segment, or answer without writing — `ok` for a retried call
 * whose very segment is already recorded (`alreadyRecorded` is asked only then), `stale` for any other
 * segment behind the chain, a violation for a segment that leaves a gap or runs past the task.
 */
export function checkpointVerdict(
  taskId: string,
  task: ChainView,
  range: FrameRange,
  alreadyRecorded: () => boolean,
): 'record' | Exclude<LeaseResult, 'canceled'> | ProtocolViolation {
  if (range.start < task.nextFrame) return alreadyRecorded() ? 'ok' : 'stale';
  if (!continuesChain(task, range)) {
    return {
      violation: `segment ${range.start}-${range.end} does not continue task ${taskId} at frame ${task.nextFrame} (ends ${task.endFrame})`,
    };
  }
  return 'record';
}

/** A completion retried after it succeeded: the same epoch finds its task done. */
export function alreadyCompleted(
  task: Pick<LeaseView, 'epoch' | 'state'> | undefined,
  epoch: number,
): boolean {
  return task?.state === 'done' && task.epoch === epoch;
}

/** Whether a held task may complete: a merge task always, a process task once every frame has a segment. */
export function mayComplete(task: ChainView & { kind: TaskKind }): boolean {
  return task.kind === 'merge' || task.nextFrame >= task.endFrame;
}

/**
 * A completion: `ok` (nothing to write) when it is a retry of one that succeeded, `complete` when the caller
 * holds the lease and the task may complete, a violation when frames have no segment, else the lease verdict.
 */
export function completeVerdict(
  taskId: string,
  task: (LeaseView & ChainView & { kind: TaskKind }) | undefined,
  epoch: number,
): 'complete' | LeaseResult | ProtocolViolation {
  if (alreadyCompleted(task, epoch)) return 'ok';
  const held = leaseVerdict(task, epoch);
  if (held !== 'ok' || !task) return held;
  if (!mayComplete(task)) {
    return {
      violation: `task ${taskId} cannot complete: frames ${task.nextFrame}-${task.endFrame} have no segment`,
    };
  }
  return 'complete';
}

export interface ReleaseDecision {
  state: Extract<TaskState, 'pending' | 'failed'>;
  failures: number;
  preemptions: number;
}

/**
 * What a released task becomes. Preemptions never fail a task; errors count toward `maxAttempts`.
 */
export function decideRelease(
  task: Pick<Task, 'failures' | 'preemptions'>,
  reason: ReleaseReason,
  maxAttempts: number,
): ReleaseDecision {
  if (reason === 'preempted')
    return { state: 'pending', failures: task.failures, preemptions: task.preemptions + 1 };
  const failures = task.failures + 1;
  return { state: failures >= maxAttempts ? 'failed' : 'pending', failures, preemptions: task.preemptions };
}

/** The error a job fails with when one of its tasks spent its failure budget. */
export function taskFailedError(taskId: string, failures: number, error: string | null): string {
  return `task ${taskId} failed ${failures} times: ${error ?? 'unknown error'}`;
}

/** Whether a running task's lease ran out by `now` (its holder vanished without releasing it). */
export function leaseExpired(task: Pick<Task, 'state' | 'leaseExpiresAt'>, now: number): boolean {
  return task.state === 'running' && task.leaseExpiresAt !== null && task.leaseExpiresAt < now;
}

/**
 * A lease that ended without its holder (expiry, a worker gone, a restart): the task is runnable again, and
 * the loss counts as an interruption, never as a failure.
 */
export function decideLostLease(task: Pick<Task, 'failures' | 'preemptions'>): ReleaseDecision {
  return decideRelease(task, 'preempted', Number.POSITIVE_INFINITY);
}

/** Frames an attempt processed but never checkpointed: they will be processed again. */
export function framesLost(attempt: Pick<Attempt, 'outcome' | 'framesDone' | 'framesCheckpointed'>): number {
  if (attempt.outcome === 'completed' || attempt.outcome === 'running') return 0;
  return Math.max(0, attempt.framesDone - attempt.framesCheckpointed);
}

/** An attempt that ended because its machine went away (or was presumed gone), not by its own failure. */
export function isInterruption(outcome: AttemptOutcome): boolean {
  return outcome === 'preempted' || outcome === 'expired' || outcome === 'interrupted';
}

/**
 * The segments a merge rejects, one per task: the first damaged one, since the task is redone from there
 * (its later segments go with it). Rejections come from the holder of a merge task only, and name at least
 * one segment: anything else breaks the protocol (a ProtocolError, which rolls back the rejection).
 */
export function firstRejections(
  mergeTaskId: string,
  kind: string,
  rejections: readonly SegmentRejection[],
): SegmentRejection[] {
  if (kind !== 'merge')
    throw new ProtocolError(`task ${mergeTaskId} is not a merge task: it rejects no segments`);
  if (rejections.length === 0) throw new ProtocolError('a rejection names at least one segment');
  const first = new Map<string, SegmentRejection>();
  for (const r of rejections) {
    const known = first.get(r.taskId);
    if (!known || r.startFrame < known.startFrame) first.set(r.taskId, r);
  }
  return [...first.values()].sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
}

export function unknownSegment(rejection: SegmentRejection, jobId: string): ProtocolError {
  return new ProtocolError(
    `job ${jobId} has no segment of task ${rejection.taskId} starting at frame ${rejection.startFrame}`,
  );
}

/** Why the `index`-th segment dropped by `rejection` (0: the damaged one itself) was dropped. */
export function rejectionReason(rejection: SegmentRejection, index: number): string {
  return index === 0
    ? rejection.reason
    : `follows the damaged segment at frame ${rejection.startFrame} of its task`;
}

/** The error of a merge attempt that found damaged segments (a failure of their tasks, not of the merge). */
export function mergeRejectionError(tasks: number): string {
  return `damaged segments in ${tasks} task${tasks === 1 ? '' : 's'}: their frames are queued again`;
}
