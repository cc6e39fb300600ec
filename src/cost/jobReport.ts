import { framesLost, isInterruption } from '../core/lease.js';
import type { Attempt, Job, JobState, RejectedSegment, Segment, Task } from '../core/types.js';
import { type JobCost, jobCost } from './accounting.js';
import type { PriceTable } from './prices.js';

/** What a job did and cost, from its rows: the report the CLI prints, the API answers and notifications carry. */
export interface JobReport {
  jobId: string;
  state: JobState;
  input: string;
  output: string;
  processors: string[];
  frames: number;
  tasks: number;
  tasksDone: number;
  segments: number;
  /**
   * Segments merges dropped: found damaged (size, SHA-256, decoding, frames or timestamps), or following a
   * damaged one in its task. Their frames were redone.
   */
  segmentsRejected: number;
  attempts: number;
  interruptions: number;
  failures: number;
  /** Frames processed again: never checkpointed by an interrupted attempt, or in a rejected segment. */
  framesRedone: number;
  /** Frames covered by checkpointed segments plus frames in flight on running tasks. */
  framesDone: number;
  workerSeconds: number;
  /** From the job's creation to its end (or now), including any time between interrupted runs. */
  wallSeconds: number;
  /** Time during which at least one worker was working on the job: the union of its attempts. */
  runSeconds: number;
  error: string | null;
  /** The output's size and SHA-256 as its merge checked and wrote it (null until then). */
  outputBytes: number | null;
  outputSha256: string | null;
  /** GPU time and money; `cost.tasks` when the per-task breakdown was asked for. */
  cost: JobCost;
}

export interface ReportOptions {
  prices: PriceTable;
  /** Add each task's cost (`cost.tasks`). */
  tasks?: boolean;
}

/** What a job's merges found and wrote: damaged segments, and the output. */
export interface JobIntegrity {
  rejected: RejectedSegment[];
  output: { bytes: number; sha256: string } | null;
}

export function summarizeJob(
  job: Job,
  tasks: Task[],
  segments: Segment[],
  attempts: Attempt[],
  now: number,
  options: ReportOptions,
  integrity: JobIntegrity = { rejected: [], output: null },
): JobReport {
  const rejectedFrames = integrity.rejected.reduce((sum, s) => sum + s.range.end - s.range.start, 0);
  const processTasks = tasks.filter((t) => t.kind === 'process');
  const checkpointed = processTasks.reduce((sum, t) => sum + (t.nextFrame - t.range.start), 0);
  const inFlight = attempts
    .filter((a) => a.outcome === 'running')
    .reduce((sum, a) => sum + Math.max(0, a.framesDone - a.framesCheckpointed), 0);
  return {
    jobId: job.id,
    state: job.state,
    input: job.spec.input,
    output: job.spec.output,
    processors: job.spec.processors,
    frames: job.frameCount,
    tasks: processTasks.length,
    tasksDone: processTasks.filter((t) => t.state === 'done').length,
    segments: segments.length,
    segmentsRejected: integrity.rejected.length,
    attempts: attempts.length,
    interruptions: attempts.filter((a) => isInterruption(a.outcome)).length,
    failures: attempts.filter((a) => a.outcome === 'error').length,
    framesRedone: attempts.reduce((sum, a) => sum + framesLost(a), 0) + rejectedFrames,
    framesDone: Math.min(job.frameCount, checkpointed + inFlight),
    workerSeconds: attempts.reduce((sum, a) => sum + ((a.endedAt ?? now) - a.startedAt) / 1000, 0),
    wallSeconds: ((job.finishedAt ?? now) - job.createdAt) / 1000,
    runSeconds: busySeconds(attempts, now),
    error: job.error,
    outputBytes: integrity.output?.bytes ?? null,
    outputSha256: integrity.output?.sha256 ?? null,
    cost: jobCost(attempts, options.prices, now, options.tasks ? tasks : undefined),
  };
}

/** Seconds covered by at least one attempt (running ones up to `now`): overlaps count once. */
export function busySeconds(attempts: readonly Attempt[], now: number): number {
  const spans = attempts.map((a) => [a.startedAt, a.endedAt ?? now] as const).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let open: [number, number] | undefined;
  for (const [start, end] of spans) {
    if (open && start <= open[1]) open[1] = Math.max(open[1], end);
    else {
      if (open) total += open[1] - open[0];
      open = [start, end];
    }
  }
  if (open) total += open[1] - open[0];
  return total / 1000;
}
