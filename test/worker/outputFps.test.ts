import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { outputSlots } from '../../src/core/outputFrameRate.js';
import type { JobSpec } from '../../src/core/types.js';
import { probeVideo } from '../../src/media/probe.js';
import type { Frame } from '../../src/vision/frame.js';
import type { ProcessorChain } from '../../src/vision/processors/chain.js';
import { probeFramesPts, testClip } from '../fixtures/videos.js';
import { runLocalTask } from '../helpers/localTask.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

const SPEC: Omit<JobSpec, 'input' | 'output'> = {
  sources: [],
  processors: ['passthrough'],
  face: {},
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast', fps: 12 },
  checkpointFrames: 3,
};

/** A chain that hands frames back as they are and notes which it was given. */
function recordingChain(seen: number[]): ProcessorChain {
  return {
    outputSize: (width: number, height: number) => ({ width, height }),
    process: async (frame: Frame) => {
      seen.push(frame.index);
      return frame;
    },
  } as unknown as ProcessorChain;
}

describe('the frame loop of a job with --output-video-fps', () => {
  it('processes only the frames the output keeps, at n / 12 s, and stops before a kept frame', async () => {
    const input = join(dir(), 'clip.mp4');
    await testClip(input);
    const { video } = await probeVideo(input);
    const rate = {
      outputFps: 12,
      sourceFps: 30,
      timeBase: video.timeBase,
      originPts: 0,
      firstPts: video.framePts[0],
      endPts: video.framePts[29] + video.lastFrameDurationTicks,
    };
    const slots = outputSlots(rate, { start: 0, end: 30 }, (frame) =>
      frame === 30 ? rate.endPts : video.framePts[frame],
    );
    const kept = Array.from({ length: 30 }, (_, frame) => frame).filter(
      (frame) => slots[frame + 1] > slots[frame],
    );
    expect(kept).toEqual([1, 3, 6, 8, 11, 13, 16, 18, 21, 23, 26, 28]);
    const outputFrames = { fps: 12, startFrame: 0, slots };

    const seen: number[] = [];
    const whole = await runLocalTask({
      input,
      dir: join(dir(), 'whole'),
      chain: recordingChain(seen),
      spec: SPEC,
      framesInFlight: 2,
      outputFrames,
    });
    expect(whole.outcome).toBe('completed');
    expect(seen).toEqual(kept);
    // Segments of 3 output frames cover every source frame once, dropped ones with the kept frame before.
    expect(whole.segments.map((s) => [s.startFrame, s.endFrame])).toEqual([
      [0, 8],
      [8, 16],
      [16, 23],
      [23, 30],
    ]);
    const times = await Promise.all(whole.segments.map((s) => probeFramesPts(s.path)));
    expect(times.map((t) => t.length)).toEqual([3, 3, 3, 3]);
    for (const t of times)
      expect(t.map((x) => x - t[0])).toEqual([0, 1 / 12, 2 / 12].map((x) => expect.closeTo(x, 4)));

    const stopped = await runLocalTask({
      input,
      dir: join(dir(), 'stopped'),
      chain: recordingChain([]),
      spec: SPEC,
      framesInFlight: 2,
      outputFrames,
      preemptAt: 11,
    });
    expect(stopped.outcome).toBe('preempted');
    // The last segment ends where the next kept frame begins: a resumed task starts on it.
    expect(stopped.segments.at(-1)?.endFrame).toBe(13);
  });
});
