import { outputRun, slotMicros } from '../core/outputFrameRate.js';
import { ticksToMicros } from '../core/time.js';
import type { ClaimResponse } from '../protocol/wire.js';

/**
 * Where a claim's source frames go in the output: each once at its own time, or, for a job with
 * `--output-video-fps`, as the claim's outputFrames place them (some dropped, some repeated).
 */
export interface OutputTimeline {
  /** How many output frames source frame `frame` makes; 0: the output drops it. */
  copies(frame: number): number;
  /** When the `copy`-th output frame of source frame `frame` plays, in microseconds of the output's clock. */
  micros(frame: number, copy?: number): number;
}

export function outputTimeline(claim: ClaimResponse): OutputTimeline {
  const frames = claim.outputFrames;
  if (frames)
    return {
      copies: (frame) => outputRun(frames, frame).count,
      micros: (frame, copy = 0) => slotMicros(frames.fps, outputRun(frames, frame).slot + copy),
    };
  const { timeBase } = claim.probe.video;
  return {
    copies: () => 1,
    micros: (frame) => ticksToMicros(claim.framePts[frame - claim.framePtsFrom], timeBase),
  };
}

/** The output frames of source frames [from, to) of a claim, in microseconds from the first. */
export function plannedMicros(claim: ClaimResponse, from: number, to: number): number[] {
  const timeline = outputTimeline(claim);
  const base = timeline.micros(from);
  const planned: number[] = [];
  for (let frame = from; frame < to; frame++)
    for (let copy = 0; copy < timeline.copies(frame); copy++)
      planned.push(timeline.micros(frame, copy) - base);
  return planned;
}
