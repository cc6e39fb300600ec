import type { TimeBase } from './time.js';
import type { FrameRange } from './types.js';

/**
 * FaceFusion 3.8.1's `--output-video-fps`, as its disk workflow makes it: the frames of the range go through
 * ffmpeg's `fps` filter at min(the video's rate, the output's), are numbered from 0 at that rate, and go
 * through `fps` again at the output's rate (which duplicates frames when it is higher). Each source frame
 * fills a run of output slots (none when the filter drops it); slot n plays at n / fps. Pure, and local: a
 * frame's slots follow from its own timestamp, the next frame's, and the range's ends, so every worker agrees.
 */

/** FaceFusion's range for `--output-video-fps` (it clamps to it; spotfuse refuses what lies outside). */
export const OUTPUT_VIDEO_FPS = { min: 1, max: 60 } as const;

/** Whether `fps` is in FaceFusion's range for an output frame rate. */
export function isOutputVideoFps(fps: number): boolean {
  return Number.isFinite(fps) && fps >= OUTPUT_VIDEO_FPS.min && fps <= OUTPUT_VIDEO_FPS.max;
}

/** Where each source frame of a job's range starts in the output, as a claim carries it. */
export interface OutputFrames {
  /** The output frame rate (`--output-video-fps`). */
  fps: number;
  /** The source frame `slots[0]` belongs to. */
  startFrame: number;
  /**
   * `slots[i]`: the first output frame of source frame `startFrame + i`; frame i fills
   * [slots[i], slots[i + 1]). The last entry is where the frames listed end.
   */
  slots: number[];
}

/** What places a job's frames on the output's clock. Timestamps are stream ticks of `timeBase`. */
export interface OutputFrameRate {
  outputFps: number;
  /** The video's nominal rate. */
  sourceFps: number;
  timeBase: TimeBase;
  /** The file's start: ffmpeg's filters count time from there (0 for most files). */
  originPts: number;
  /** The range's first frame. */
  firstPts: number;
  /** Where the range ends: the next frame's timestamp, or the end of the video's last frame. */
  endPts: number;
}

/**
 * A decimal frame rate as ffmpeg reads one (`fps=29.97`: the nearest fraction with terms up to 1001000), by
 * continued fractions.
 */
export function frameRateFraction(fps: number): TimeBase {
  const max = 1_001_000;
  let [n0, d0, n1, d1] = [0, 1, 1, 0];
  let x = fps;
  for (let i = 0; i < 64; i++) {
    const a = Math.floor(x);
    const [n2, d2] = [a * n1 + n0, a * d1 + d0];
    if (n2 > max || d2 > max) break;
    [n0, d0, n1, d1] = [n1, d1, n2, d2];
    if (Math.abs(n1 / d1 - fps) <= fps * 1e-12) break;
    x = 1 / (x - a);
  }
  return { num: n1, den: d1 };
}

/** a / b rounded half away from zero (ffmpeg's AV_ROUND_NEAR_INF); b > 0. */
function roundedQuotient(a: bigint, b: bigint): number {
  const half = (a < 0n ? -a : a) * 2n + b;
  const magnitude = half / (2n * b);
  return Number(a < 0n ? -magnitude : magnitude);
}

/** Stream ticks `pts` counted in frames of `fps` (ffmpeg's rescale into the `fps` filter's time base). */
function ticksInFrames(rate: OutputFrameRate, pts: number, fps: TimeBase): number {
  const tb = rate.timeBase;
  return roundedQuotient(
    BigInt(pts - rate.originPts) * BigInt(tb.num) * BigInt(fps.num),
    BigInt(tb.den) * BigInt(fps.den),
  );
}

/** The output slot where a source frame at `pts` (or the range's end, at `endPts`) starts. */
function slotAt(rate: OutputFrameRate, pts: number): number {
  const output = frameRateFraction(rate.outputFps);
  const source = frameRateFraction(rate.sourceFps);
  // FaceFusion extracts at the video's rate when the output's is higher, else at the output's.
  const sourceSlower = source.num * output.den < output.num * source.den;
  const extract = sourceSlower ? source : output;
  const first = ticksInFrames(rate, rate.firstPts, extract);
  const end = ticksInFrames(rate, rate.endPts, extract);
  const extracted = Math.min(Math.max(ticksInFrames(rate, pts, extract), first), end) - first;
  if (!sourceSlower) return extracted;
  // The extracted frames, numbered at the video's rate, through `fps` at the output's: duplicates.
  return roundedQuotient(
    BigInt(extracted) * BigInt(output.num) * BigInt(extract.den),
    BigInt(output.den) * BigInt(extract.num),
  );
}

/**
 * The first output slot of each frame of [frames.start, frames.end]: the last entry is where the frames before
 * it end. `ptsOf` gives the frames' timestamps, frame `frames.end` included (`rate.endPts` where the job's
 * range ends there).
 */
export function outputSlots(
  rate: OutputFrameRate,
  frames: FrameRange,
  ptsOf: (frame: number) => number,
): number[] {
  const slots: number[] = [];
  for (let frame = frames.start; frame <= frames.end; frame++) slots.push(slotAt(rate, ptsOf(frame)));
  return slots;
}

/** Microseconds from the output's start to slot `slot` at `fps`. */
export function slotMicros(fps: number, slot: number): number {
  const { num, den } = frameRateFraction(fps);
  return Math.round((slot * 1_000_000 * den) / num);
}

/**
 * Task boundaries for a job whose frames `slots` (see outputSlots, from `range.start`) place: each of
 * `chunks`' boundaries moved on to the next frame that fills an output slot, so that every task has a frame
 * to write; boundaries that meet are merged.
 */
export function chunksOnKeptFrames(chunks: readonly FrameRange[], slots: readonly number[]): FrameRange[] {
  if (chunks.length === 0) return [];
  const from = chunks[0].start;
  const end = chunks[chunks.length - 1].end;
  const kept = (frame: number) => slots[frame - from + 1] > slots[frame - from];
  let firstKept = from;
  while (firstKept < end && !kept(firstKept)) firstKept++;
  const out: FrameRange[] = [];
  let start = from;
  for (const chunk of chunks.slice(1)) {
    let boundary = Math.max(chunk.start, firstKept + 1, start + 1);
    while (boundary < end && !kept(boundary)) boundary++;
    if (boundary >= end) break;
    out.push({ start, end: boundary });
    start = boundary;
  }
  out.push({ start, end });
  return out;
}

/** The output frames a claim's `frames` place at frame `frame` (see OutputFrames): from slot, how many. */
export function outputRun(frames: OutputFrames, frame: number): { slot: number; count: number } {
  const i = frame - frames.startFrame;
  return { slot: frames.slots[i], count: (frames.slots[i + 1] ?? frames.slots[i]) - frames.slots[i] };
}

/**
 * Each segment's duration in the output, in microseconds, as the concat step wants them (see
 * segmentDurationsMicros): from its first output frame to the next segment's, the last to the output's end.
 */
export function outputSegmentDurationsMicros(
  segments: readonly { startFrame: number; endFrame: number }[],
  frames: OutputFrames,
): number[] {
  const at = (frame: number) => slotMicros(frames.fps, frames.slots[frame - frames.startFrame]);
  return segments.map((s, i) => at(segments[i + 1]?.startFrame ?? s.endFrame) - at(s.startFrame));
}
