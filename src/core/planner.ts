import type { FrameRange, TrimFrames } from './types.js';

const TARGET_TASK_MS = 7.5 * 60 * 1000;

export interface ChunkSizing {
  frameCount: number;
  fps: number;
  /**
   * Rough GPU milliseconds per 1080p frame of the job's processor chain (each processor's descriptor
   * tells its own), used only to size tasks to 5–10 minutes of GPU work.
   */
  msPerFrame: number;
  /** How many workers can run at once; the plan never makes fewer tasks than this when frames allow. */
  parallelism: number;
  chunkFrames?: number;
  chunkSeconds?: number;
  checkpointFrames: number;
  /** Most frames a task sized by cost may have (an engine that cannot resume inside a task sets it). */
  maxChunkFrames?: number;
}

/** What one job may become on a coordinator shared by tenants. */
export interface PlanLimits {
  /** Fewest frames per task (a job's last task may have fewer). */
  minChunkFrames: number;
  /** Most tasks one job is split into. */
  maxTasks: number;
}

/** Frames per task the job asked for, if it did (`chunkFrames`, or `chunkSeconds` at the video's rate). */
function requestedChunkFrames(s: ChunkSizing): number | undefined {
  if (s.chunkFrames !== undefined) return Math.max(1, Math.floor(s.chunkFrames));
  if (s.chunkSeconds !== undefined) return Math.max(1, Math.round(s.chunkSeconds * s.fps));
  return undefined;
}

/**
 * Frames per task: as asked, else sized by cost and parallelism. Under `limits`, never fewer than
 * `minChunkFrames`, nor so few that the job has more than `maxTasks` tasks.
 */
export function chooseChunkFrames(s: ChunkSizing, limits?: PlanLimits): number {
  const chosen = requestedChunkFrames(s) ?? framesByCost(s);
  if (!limits) return chosen;
  return Math.max(chosen, limits.minChunkFrames, Math.ceil(s.frameCount / limits.maxTasks));
}

function framesByCost(s: ChunkSizing): number {
  const byCost = Math.min(
    Math.round(TARGET_TASK_MS / (s.msPerFrame > 0 ? s.msPerFrame : 1)),
    s.maxChunkFrames ?? Number.POSITIVE_INFINITY,
  );
  const byParallelism = Math.ceil(s.frameCount / Math.max(1, s.parallelism));
  // A chunk shorter than a checkpoint wastes encoder start-ups; keep at least one full checkpoint per task.
  return Math.max(s.checkpointFrames, Math.min(byCost, byParallelism));
}

/** Which limit a job's own chunking breaks, and how, in one line; undefined when it asked for none or fits. */
export function chunkingProblem(
  s: ChunkSizing,
  limits: PlanLimits,
): { limit: 'chunk_frames' | 'tasks_per_job'; message: string } | undefined {
  const asked = requestedChunkFrames(s);
  if (asked === undefined) return undefined;
  const how = s.chunkFrames !== undefined ? `chunkFrames ${s.chunkFrames}` : `chunkSeconds ${s.chunkSeconds}`;
  if (asked < limits.minChunkFrames)
    return {
      limit: 'chunk_frames',
      message: `${how} makes tasks of ${asked} frames: at least ${limits.minChunkFrames} frames per task`,
    };
  const tasks = Math.ceil(s.frameCount / asked);
  if (tasks > limits.maxTasks)
    return {
      limit: 'tasks_per_job',
      message:
        `${how} makes ${tasks} tasks of ${s.frameCount} frames: at most ${limits.maxTasks} per job ` +
        `(ask for at least ${Math.ceil(s.frameCount / limits.maxTasks)} frames per task)`,
    };
  return undefined;
}

/**
 * Splits [from, frameCount) into consecutive ranges of `chunkFrames` frames; the last one takes the rest.
 * `from` is a trimmed job's first frame: tasks keep the source's frame numbers.
 */
export function planChunks(frameCount: number, chunkFrames: number, from = 0): FrameRange[] {
  if (!Number.isInteger(frameCount) || !Number.isInteger(from) || from < 0 || frameCount <= from)
    throw new RangeError(`frames [${from}, ${frameCount}) are none to plan`);
  const size = Math.max(1, Math.floor(chunkFrames));
  const ranges: FrameRange[] = [];
  for (let start = from; start < frameCount; start += size) {
    ranges.push({ start, end: Math.min(frameCount, start + size) });
  }
  return ranges;
}

/**
 * The frames a job processes, as FaceFusion 3.8.1 restricts `--trim-frame-start`/`--trim-frame-end`: each
 * given end clamped to [0, frameCount], an absent one the video's own. The range may come out empty.
 */
export function trimmedRange(trim: TrimFrames | undefined, frameCount: number): FrameRange {
  const clamp = (frame: number) => Math.max(0, Math.min(frame, frameCount));
  return {
    start: trim?.start === undefined ? 0 : clamp(trim.start),
    end: trim?.end === undefined ? frameCount : clamp(trim.end),
  };
}
