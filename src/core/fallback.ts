/**
 * When spot capacity is not enough: the rules that decide how many on-demand workers a job asks for, and
 * why. Pure: the coordinator feeds them a job's tasks and attempts and publishes the answer as
 * `spotfuse_on_demand_wanted`, which the on-demand pool's autoscaler reads.
 */
import type { Attempt, JobSpec, Task } from './types.js';

/** Why a job asks for on-demand workers. */
export type OnDemandReason = 'deadline' | 'spot_wait';
export const ON_DEMAND_REASONS: readonly OnDemandReason[] = ['deadline', 'spot_wait'];

export interface FallbackPolicy {
  /** A task waiting longer than this for a worker is on-demand work; absent: never on that ground. */
  spotWaitLimitMs?: number;
}

/** Where a job's remaining work stands, as the fallback rules see it. */
export interface JobFlow {
  /** When the job must be done (epoch ms); null: no deadline. */
  deadline: number | null;
  /** Frames of unfinished process tasks that no checkpoint covers yet. */
  remainingFrames: number;
  /** For each process task waiting for a worker: since when it waits (epoch ms). */
  waitingSince: number[];
  /** Process tasks under a lease, by the lifecycle their worker reported (unknown counts as spot). */
  runningOnSpot: number;
  runningOnDemand: number;
  /** Frames per second of one worker on this job: measured by its heartbeats, else the planner's estimate. */
  fps: number;
}

/** What a job asks of the on-demand pool, and why. */
export interface OnDemandCall {
  /** On-demand workers the job wants in all (those it already has included). */
  workers: number;
  /** Every reason that holds, the one that sets `workers` first. */
  reasons: OnDemandReason[];
  /** When the job would finish on the spot workers it has now (epoch ms); null: never, it has none. */
  spotFinish: number | null;
  /** One line for the log and the report. */
  detail: string;
}

/** A job's deadline (epoch ms) as the submit request put it in the spec; null: none. */
export function jobDeadline(spec: JobSpec): number | null {
  const deadline = (spec as { deadline?: unknown }).deadline;
  return typeof deadline === 'number' && Number.isFinite(deadline) ? deadline : null;
}

/**
 * A job's flow from its rows: frames left, tasks waiting and since when (the end of their last attempt, or
 * the job's creation), workers by lifecycle, and the mean of the latest fps its running attempts reported
 * (`estimatedFps` when none has).
 */
export function jobFlow(
  job: { spec: JobSpec; createdAt: number },
  tasks: readonly Task[],
  attempts: readonly Attempt[],
  estimatedFps: number,
): JobFlow {
  const lastEnd = new Map<string, number>();
  for (const a of attempts)
    if (a.endedAt !== null) lastEnd.set(a.taskId, Math.max(lastEnd.get(a.taskId) ?? 0, a.endedAt));
  const running = attempts.filter((a) => a.outcome === 'running');
  const measured = running.map((a) => a.fps).filter((fps): fps is number => fps !== null && fps > 0);
  const flow: JobFlow = {
    deadline: jobDeadline(job.spec),
    remainingFrames: 0,
    waitingSince: [],
    runningOnSpot: 0,
    runningOnDemand: 0,
    fps: measured.length > 0 ? measured.reduce((a, b) => a + b, 0) / measured.length : estimatedFps,
  };
  const heldBy = new Map(running.map((a) => [a.taskId, a.lifecycle]));
  for (const task of tasks) {
    if (task.kind !== 'process' || (task.state !== 'pending' && task.state !== 'running')) continue;
    flow.remainingFrames += task.range.end - task.nextFrame;
    if (task.state === 'pending') flow.waitingSince.push(lastEnd.get(task.id) ?? job.createdAt);
    else if (heldBy.get(task.id) === 'on-demand') flow.runningOnDemand++;
    else flow.runningOnSpot++;
  }
  return flow;
}

/** When the job finishes at `fps` per worker on `workers` workers, from `now`; null with no worker. */
function finishAt(flow: JobFlow, workers: number, now: number): number | null {
  if (workers <= 0 || flow.fps <= 0) return flow.remainingFrames === 0 ? now : null;
  return now + (flow.remainingFrames / (flow.fps * workers)) * 1000;
}

/**
 * How many on-demand workers a job wants, or undefined when spot is doing: with a deadline that the spot
 * workers it has now will miss (or that has passed), enough on-demand workers to finish in time, at most one
 * per unfinished task; and every task that has waited past the policy's spot-wait limit. Only waiting tasks
 * can go to new workers, so the call never exceeds the on-demand workers it has plus its waiting tasks.
 */
export function onDemandCall(
  flow: JobFlow,
  now: number,
  policy: FallbackPolicy = {},
): OnDemandCall | undefined {
  const waiting = flow.waitingSince.length;
  if (waiting === 0) return undefined;
  const ceiling = flow.runningOnDemand + waiting;
  const unfinished = flow.runningOnSpot + ceiling;
  const spotFinish = finishAt(flow, flow.runningOnSpot, now);
  const reasons: OnDemandReason[] = [];
  const parts: string[] = [];
  let workers = 0;
  if (flow.deadline !== null && (spotFinish === null || spotFinish > flow.deadline)) {
    const secondsLeft = (flow.deadline - now) / 1000;
    const needed =
      secondsLeft > 0 && flow.fps > 0
        ? Math.min(unfinished, Math.ceil(flow.remainingFrames / (flow.fps * secondsLeft)))
        : unfinished;
    const fromDeadline = Math.min(ceiling, needed - flow.runningOnSpot);
    if (fromDeadline > 0) {
      workers = fromDeadline;
      reasons.push('deadline');
      const eta =
        spotFinish === null ? 'no spot worker has it' : `spot alone finishes ${isoSeconds(spotFinish)}`;
      parts.push(
        `deadline ${isoSeconds(flow.deadline)}: ${eta} (${flow.remainingFrames} frames left at ${round(flow.fps)} fps a worker)`,
      );
    }
  }
  const limit = policy.spotWaitLimitMs;
  const overdue = limit === undefined ? 0 : flow.waitingSince.filter((since) => now - since >= limit).length;
  if (overdue > 0 && limit !== undefined) {
    const fromWait = flow.runningOnDemand + overdue;
    // The reason that sets the number comes first.
    if (fromWait > workers) reasons.unshift('spot_wait');
    else reasons.push('spot_wait');
    workers = Math.max(workers, fromWait);
    parts.push(`${overdue} of ${waiting} waiting tasks waited over ${Math.round(limit / 1000)} s for spot`);
  }
  if (workers === 0) return undefined;
  return { workers, reasons, spotFinish, detail: parts.join('; ') };
}

function isoSeconds(ms: number): string {
  return `${new Date(Math.round(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
