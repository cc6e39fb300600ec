import type { Attempt, AttemptOutcome, ReleaseReason, Task, TaskState } from './types.js';

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

/** Frames an attempt processed but never checkpointed: they will be processed again. */
export function framesLost(attempt: Pick<Attempt, 'outcome' | 'framesDone' | 'framesCheckpointed'>): number {
  if (attempt.outcome === 'completed' || attempt.outcome === 'running') return 0;
  return Math.max(0, attempt.framesDone - attempt.framesCheckpointed);
}

/** An attempt that ended because its machine went away (or was presumed gone), not by its own failure. */
export function isInterruption(outcome: AttemptOutcome): boolean {
  return outcome === 'preempted' || outcome === 'expired' || outcome === 'interrupted';
}
