import { describe, expect, it } from 'vitest';
import {
  chunksOnKeptFrames,
  frameRateFraction,
  isOutputVideoFps,
  type OutputFrameRate,
  outputSegmentDurationsMicros,
  outputSlots,
  slotMicros,
} from '../../src/core/outputFrameRate.js';
import type { FrameRange } from '../../src/core/types.js';

/** Which source frame each output frame shows, from the first output slot of each source frame. */
function framesShown(slots: readonly number[], from: number): number[] {
  const shown: number[] = [];
  for (let i = 0; i + 1 < slots.length; i++)
    for (let slot = slots[i]; slot < slots[i + 1]; slot++) shown.push(from + i);
  return shown;
}

/** A constant-rate video of `count` frames at `fps` in a 1/(fps*512) time base, as ffmpeg writes MP4s. */
function constantRate(
  fps: number,
  count: number,
  outputFps: number,
  range: FrameRange = { start: 0, end: count },
) {
  const timeBase = { num: 1, den: fps * 512 };
  const pts = (frame: number) => frame * 512;
  const rate: OutputFrameRate = {
    outputFps,
    sourceFps: fps,
    timeBase,
    originPts: 0,
    firstPts: pts(range.start),
    endPts: pts(range.end),
  };
  return framesShown(outputSlots(rate, range, pts), range.start);
}

describe('output frame rate (FaceFusion 3.8.1 disk workflow, as its ffmpeg makes it)', () => {
  // Each list is what FaceFusion's extract and merge commands (ffmpeg 5.1) gave for the same input.
  it('30 → 24 drops one frame in five, where ffmpeg rounds', () => {
    expect(constantRate(30, 30, 24)).toEqual([
      0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 21, 23, 24, 25, 26, 28, 29,
    ]);
  });

  it('30 → 15 keeps every other frame, the even ones', () => {
    expect(constantRate(30, 30, 15)).toEqual(Array.from({ length: 15 }, (_, i) => 2 * i));
  });

  it('25 → 30 repeats one frame in five', () => {
    expect(constantRate(25, 25, 30)).toEqual([
      0, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 12, 13, 14, 15, 16, 17, 17, 18, 19, 20, 21, 22, 22, 23,
      24,
    ]);
  });

  it('a trim range is resampled from its own first frame', () => {
    expect(constantRate(30, 30, 24, { start: 5, end: 25 })).toEqual([
      5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 21, 23, 24,
    ]);
  });

  // ffprobe's frame times (1/15360 s) of a variable-rate video: 30 fps with a 1/30 s gap after every 7th frame.
  const VFR_PTS = [
    0, 512, 1024, 1536, 2048, 2560, 3072, 4096, 4608, 5120, 5632, 6144, 6656, 7168, 7680, 8192, 8704, 9216,
    9728, 10240, 10752, 11264, 12288, 12800, 13312, 13824, 14336, 14848, 15360, 15872,
  ];
  const variableRate = (outputFps: number, range: FrameRange = { start: 0, end: VFR_PTS.length }) => {
    const rate: OutputFrameRate = {
      outputFps,
      // FaceFusion's rate is ffprobe's r_frame_rate (30), not the average (28.125).
      sourceFps: 30,
      timeBase: { num: 1, den: 15360 },
      originPts: 0,
      firstPts: VFR_PTS[range.start],
      endPts: VFR_PTS[range.end] ?? VFR_PTS[VFR_PTS.length - 1] + 512,
    };
    const ptsOf = (frame: number) => (frame === range.end ? rate.endPts : VFR_PTS[frame]);
    return framesShown(outputSlots(rate, range, ptsOf), range.start);
  };

  it('a variable-rate video: 24 fps keeps the frames nearest each 1/24 s, and fills its gaps', () => {
    expect(variableRate(24)).toEqual([
      0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 20, 21, 22, 23, 24, 26, 27, 28, 29,
    ]);
  });

  it('a variable-rate video at a higher rate: first made constant at its own, then repeated', () => {
    expect(variableRate(40)).toEqual([
      0, 1, 1, 2, 3, 4, 4, 5, 6, 6, 6, 7, 8, 9, 9, 10, 11, 12, 12, 13, 14, 15, 15, 16, 17, 18, 18, 19, 20, 21,
      21, 21, 22, 23, 23, 24, 25, 26, 26, 27, 28, 29, 29,
    ]);
  });

  it('a variable-rate trim range', () => {
    expect(variableRate(20, { start: 3, end: 22 })).toEqual([
      3, 5, 6, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 21,
    ]);
  });

  it('the same rate changes nothing', () => {
    expect(constantRate(30, 30, 30)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("counts from the file's start, as ffmpeg's filters do: a video 41 ms after it rounds otherwise", () => {
    // Frames at 0.319 s + n/30 in a file that starts at 0.278 s (its audio's start).
    const timeBase = { num: 1, den: 15360 };
    const pts = (frame: number) => 4900 + frame * 512;
    const rate = (originPts: number): OutputFrameRate => ({
      outputFps: 24,
      sourceFps: 30,
      timeBase,
      originPts,
      firstPts: pts(0),
      endPts: pts(30),
    });
    const shown = (originPts: number) =>
      framesShown(outputSlots(rate(originPts), { start: 0, end: 30 }, pts), 0).slice(0, 6);
    // What FaceFusion's ffmpeg gave for that file.
    expect(shown(4270)).toEqual([0, 1, 3, 4, 5, 6]);
    expect(shown(0)).toEqual([1, 2, 3, 4, 6, 7]);
  });
});

describe('output clock', () => {
  it('plays slot n at n / fps, in whole microseconds, for decimal and NTSC rates', () => {
    expect([0, 1, 2, 24].map((slot) => slotMicros(24, slot))).toEqual([0, 41_667, 83_333, 1_000_000]);
    expect(slotMicros(30000 / 1001, 30)).toBe(1_001_000);
    expect(frameRateFraction(30000 / 1001)).toEqual({ num: 30000, den: 1001 });
    expect(frameRateFraction(29.97)).toEqual({ num: 2997, den: 100 });
    expect(frameRateFraction(12.5)).toEqual({ num: 25, den: 2 });
  });

  it("gives each segment its span of the output's clock, the last to the output's end", () => {
    const frames = { fps: 24, startFrame: 10, slots: [0, 1, 2, 2, 3, 4, 5] };
    const segments = [
      { startFrame: 10, endFrame: 13 },
      { startFrame: 13, endFrame: 16 },
    ];
    expect(outputSegmentDurationsMicros(segments, frames)).toEqual([83_333, 125_000]);
  });

  it("takes FaceFusion's range, 1 to 60 frames a second", () => {
    for (const fps of [1, 23.976, 60]) expect(isOutputVideoFps(fps)).toBe(true);
    for (const fps of [0, 0.5, 61, Number.NaN, Number.POSITIVE_INFINITY])
      expect(isOutputVideoFps(fps)).toBe(false);
  });
});

describe('tasks of a resampled job', () => {
  // 60 → 24 over [0, 20): frames 1, 3, 6, 8, 11, 13, 16, 18 are kept (2 in 5), the others dropped.
  const timeBase = { num: 1, den: 60 };
  const rate: OutputFrameRate = {
    outputFps: 24,
    sourceFps: 60,
    timeBase,
    originPts: 0,
    firstPts: 0,
    endPts: 20,
  };
  const slots = outputSlots(rate, { start: 0, end: 20 }, (frame) => frame);
  const kept = (frame: number) => slots[frame + 1] > slots[frame];

  it('start on a frame the output keeps, so that every task writes one', () => {
    expect(framesShown(slots, 0)).toEqual([1, 3, 6, 8, 11, 13, 16, 18]);
    const planned = [0, 4, 8, 12, 16].map((start) => ({ start, end: Math.min(20, start + 4) }));
    const chunks = chunksOnKeptFrames(planned, slots);
    expect(chunks).toEqual([
      { start: 0, end: 6 },
      { start: 6, end: 8 },
      { start: 8, end: 13 },
      { start: 13, end: 16 },
      { start: 16, end: 20 },
    ]);
    for (const chunk of chunks) {
      const frames = Array.from({ length: chunk.end - chunk.start }, (_, i) => chunk.start + i);
      expect(frames.some(kept)).toBe(true);
    }
  });

  it('merge tasks that would start on the same kept frame, and keep a lone task', () => {
    const planned = Array.from({ length: 20 }, (_, start) => ({ start, end: start + 1 }));
    const chunks = chunksOnKeptFrames(planned, slots);
    expect(chunks.map((c) => c.start)).toEqual([0, 3, 6, 8, 11, 13, 16, 18]);
    expect(chunksOnKeptFrames([{ start: 0, end: 20 }], slots)).toEqual([{ start: 0, end: 20 }]);
  });
});
