import { type OutputFrameRate, type OutputFrames, outputSlots } from '../core/outputFrameRate.js';
import type { FrameRange } from '../core/types.js';
import type { StoredProbe } from '../media/probe.js';

/**
 * A job's `--output-video-fps` clock over its frame range `range`; `ptsAt` gives the timestamps of the
 * frames outputFrameRateFrames names.
 */
export function jobOutputFrameRate(
  outputFps: number,
  probe: StoredProbe,
  range: FrameRange,
  ptsAt: (frame: number) => number,
): OutputFrameRate {
  const { video } = probe;
  return {
    outputFps,
    sourceFps: video.nominalFps ?? video.fps,
    timeBase: video.timeBase,
    originPts: Math.round((probe.startTimeSeconds * video.timeBase.den) / video.timeBase.num),
    firstPts: ptsAt(range.start),
    endPts:
      range.end < video.frameCount
        ? ptsAt(range.end)
        : ptsAt(video.frameCount - 1) + video.lastFrameDurationTicks,
  };
}

/** The frames jobOutputFrameRate reads, besides those of the frames placed. */
export function outputFrameRateFrames(probe: StoredProbe, range: FrameRange): number[] {
  return [range.start, Math.min(range.end, probe.video.frameCount - 1)];
}

/**
 * Where frames [frames.start, frames.end) of a job whose range ends at `rangeEnd` go in the output (see
 * outputSlots): what a claim carries, so that a worker knows which frames to process and where each goes
 * without the whole video's timestamps. `ptsOf` is asked for frame `frames.end` unless the range ends there.
 */
export function outputFramesOf(
  rate: OutputFrameRate,
  rangeEnd: number,
  frames: FrameRange,
  ptsOf: (frame: number) => number,
): OutputFrames {
  const pts = (frame: number) => (frame === rangeEnd ? rate.endPts : ptsOf(frame));
  return { fps: rate.outputFps, startFrame: frames.start, slots: outputSlots(rate, frames, pts) };
}
