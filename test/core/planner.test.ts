import { describe, expect, it } from 'vitest';
import { chooseChunkFrames, planChunks } from '../../src/core/planner.js';
import { segmentDurationsMicros, ticksToMicros } from '../../src/core/time.js';

describe('planner', () => {
  it('covers every frame exactly once', () => {
    const chunks = planChunks(1001, 250);
    expect(chunks).toEqual([
      { start: 0, end: 250 },
      { start: 250, end: 500 },
      { start: 500, end: 750 },
      { start: 750, end: 1000 },
      { start: 1000, end: 1001 },
    ]);
    expect(() => planChunks(0, 10)).toThrow(RangeError);
  });

  it('sizes chunks by explicit frames, seconds, or cost and parallelism', () => {
    const base = {
      frameCount: 9000,
      fps: 30,
      processors: ['passthrough'],
      parallelism: 1,
      checkpointFrames: 100,
    };
    expect(chooseChunkFrames({ ...base, chunkFrames: 123 })).toBe(123);
    expect(chooseChunkFrames({ ...base, chunkSeconds: 10 })).toBe(300);
    expect(chooseChunkFrames({ ...base, parallelism: 4 })).toBe(2250);
    // 7.5 minutes of GPU work at 40 ms per frame.
    expect(chooseChunkFrames({ ...base, frameCount: 1e6, processors: ['face_swapper'] })).toBe(11250);
    expect(chooseChunkFrames({ ...base, frameCount: 50, parallelism: 8 })).toBe(100);
  });
});

describe('segment timing', () => {
  it('makes durations telescope to the gaps between segment starts', () => {
    const tb = { num: 1, den: 15360 };
    const pts = Array.from({ length: 10 }, (_, i) => i * 512 + (i > 5 ? 100 : 0));
    const durations = segmentDurationsMicros(
      [
        { startFrame: 0, endFrame: 4 },
        { startFrame: 4, endFrame: 7 },
        { startFrame: 7, endFrame: 10 },
      ],
      (f) => pts[f],
      tb,
      512,
    );
    expect(durations[0]).toBe(ticksToMicros(pts[4], tb));
    expect(durations[0] + durations[1]).toBe(ticksToMicros(pts[7], tb));
    expect(durations.reduce((a, b) => a + b)).toBe(ticksToMicros(pts[9] + 512, tb));
  });
});
