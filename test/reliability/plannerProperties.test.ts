import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChunkSizing, chooseChunkFrames, planChunks } from '../../src/core/planner.js';
import { segmentDurationsMicros, ticksToMicros } from '../../src/core/time.js';
import type { FrameRange } from '../../src/core/types.js';
import { propertyParams } from './runs.js';

/** Every frame of [0, frameCount) in exactly one range, in order, none empty. */
function expectPartition(ranges: FrameRange[], frameCount: number): void {
  let edge = 0;
  for (const r of ranges) {
    if (r.start !== edge || r.end <= r.start)
      throw new Error(`range ${r.start}-${r.end} after frame ${edge}`);
    edge = r.end;
  }
  expect(edge).toBe(frameCount);
}

/** A task's checkpoints as the worker cuts them: `checkpointFrames` each, the last one takes the rest. */
function checkpoints(task: FrameRange, checkpointFrames: number): FrameRange[] {
  return planChunks(task.end - task.start, checkpointFrames).map((r) => ({
    start: task.start + r.start,
    end: task.start + r.end,
  }));
}

// The chain's cost per frame (the processors' descriptors give 2–250 ms; 0 for a chain of unknown cost).
const msPerFrame = fc.double({ min: 0, max: 1000, noNaN: true });

const sizing: fc.Arbitrary<ChunkSizing> = fc.record(
  {
    frameCount: fc.integer({ min: 1, max: 200_000 }),
    fps: fc.double({ min: 0.01, max: 1000, noNaN: true }),
    msPerFrame,
    parallelism: fc.integer({ min: 0, max: 10_000 }),
    chunkFrames: fc.double({ min: 0, max: 1e7, noNaN: true }),
    chunkSeconds: fc.double({ min: 0, max: 1e5, noNaN: true }),
    checkpointFrames: fc.integer({ min: 1, max: 100_000 }),
  },
  { requiredKeys: ['frameCount', 'fps', 'msPerFrame', 'parallelism', 'checkpointFrames'] },
);

const limits = fc.option(
  fc.record({
    minChunkFrames: fc.integer({ min: 1, max: 100_000 }),
    maxTasks: fc.integer({ min: 1, max: 10_000 }),
  }),
  { nil: undefined },
);

describe('planner properties', () => {
  it('partitions any frame count into tasks, and every task into checkpoints, whatever the sizing', () => {
    fc.assert(
      fc.property(sizing, limits, (s, l) => {
        const chunkFrames = chooseChunkFrames(s, l);
        expect(Number.isInteger(chunkFrames) && chunkFrames >= 1).toBe(true);
        const tasks = planChunks(s.frameCount, chunkFrames);
        expectPartition(tasks, s.frameCount);
        expect(tasks.slice(0, -1).every((t) => t.end - t.start === chunkFrames)).toBe(true);
        if (l) {
          expect(tasks.length).toBeLessThanOrEqual(l.maxTasks);
          expect(chunkFrames).toBeGreaterThanOrEqual(Math.min(l.minChunkFrames, s.frameCount));
        }
        // Checkpoints of the first and last task (all others have the first one's shape).
        for (const t of new Set([tasks[0], tasks.at(-1)!])) {
          const segments = checkpoints(t, s.checkpointFrames);
          expectPartition(
            segments.map((r) => ({ start: r.start - t.start, end: r.end - t.start })),
            t.end - t.start,
          );
        }
      }),
      propertyParams(300),
    );
  });

  it('gives VFR segments durations that add up exactly to the video, whatever the frame gaps', () => {
    const vfr = fc.record({
      gaps: fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 2000 }),
      firstPts: fc.integer({ min: -10_000, max: 1_000_000 }),
      tb: fc.record({ num: fc.integer({ min: 1, max: 1001 }), den: fc.integer({ min: 1, max: 1_000_000 }) }),
      chunkFrames: fc.integer({ min: 1, max: 3000 }),
      checkpointFrames: fc.integer({ min: 1, max: 500 }),
    });
    fc.assert(
      fc.property(vfr, ({ gaps, firstPts, tb, chunkFrames, checkpointFrames }) => {
        const pts = [firstPts];
        for (const gap of gaps.slice(0, -1)) pts.push(pts.at(-1)! + gap);
        const lastDuration = gaps.at(-1)!;
        const segments = planChunks(pts.length, chunkFrames).flatMap((t) => checkpoints(t, checkpointFrames));
        expectPartition(segments, pts.length);
        const durations = segmentDurationsMicros(
          segments.map((s) => ({ startFrame: s.start, endFrame: s.end })),
          (frame) => pts[frame],
          tb,
          lastDuration,
          pts.length,
        );
        for (const d of durations) expect(d).toBeGreaterThanOrEqual(0);
        const total = durations.reduce((a, b) => a + b, 0);
        expect(total).toBe(ticksToMicros(pts.at(-1)! + lastDuration, tb) - ticksToMicros(pts[0], tb));
      }),
      propertyParams(200),
    );
  });
});
