import { describe, expect, it } from 'vitest';
import { chooseChunkFrames, chunkingProblem, planChunks, trimmedRange } from '../../src/core/planner.js';
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
      msPerFrame: 2,
      parallelism: 1,
      checkpointFrames: 100,
    };
    expect(chooseChunkFrames({ ...base, chunkFrames: 123 })).toBe(123);
    expect(chooseChunkFrames({ ...base, chunkSeconds: 10 })).toBe(300);
    expect(chooseChunkFrames({ ...base, parallelism: 4 })).toBe(2250);
    // 7.5 minutes of GPU work at 40 ms per frame.
    expect(chooseChunkFrames({ ...base, frameCount: 1e6, msPerFrame: 40 })).toBe(11250);
    expect(chooseChunkFrames({ ...base, frameCount: 50, parallelism: 8 })).toBe(100);
  });
});

describe('planner limits', () => {
  const base = {
    frameCount: 50_000,
    fps: 30,
    msPerFrame: 2,
    parallelism: 8,
    checkpointFrames: 1,
  };
  const limits = { minChunkFrames: 25, maxTasks: 1000 };

  it('never plans tasks below the minimum or beyond the most tasks per job', () => {
    expect(chooseChunkFrames({ ...base, chunkFrames: 1 }, limits)).toBe(50);
    expect(chooseChunkFrames({ ...base, frameCount: 10_000, chunkFrames: 1 }, limits)).toBe(25);
    expect(chooseChunkFrames({ ...base, frameCount: 10_000, chunkSeconds: 1e-300 }, limits)).toBe(25);
    // Sized by parallelism on its own: 100 frames over 8 workers would be tasks of 13 frames.
    expect(chooseChunkFrames({ ...base, frameCount: 100 })).toBe(13);
    expect(chooseChunkFrames({ ...base, frameCount: 100 }, limits)).toBe(25);
    for (const sizing of [{ chunkFrames: 1 }, { chunkSeconds: 0.001 }, {}]) {
      for (const frameCount of [1, 24, 25, 26, 999, 50_000, 1_000_001]) {
        const s = { ...base, frameCount, ...sizing };
        const chunks = planChunks(frameCount, chooseChunkFrames(s, limits));
        expect(chunks.length).toBeLessThanOrEqual(limits.maxTasks);
        // Every task but the last has at least the minimum.
        expect(chunks.slice(0, -1).every((c) => c.end - c.start >= limits.minChunkFrames)).toBe(true);
        expect(chunks.at(-1)?.end).toBe(frameCount);
      }
    }
  });

  it('says which limit a job’s own chunking breaks', () => {
    expect(chunkingProblem({ ...base, chunkFrames: 1 }, limits)).toEqual({
      limit: 'chunk_frames',
      message: 'chunkFrames 1 makes tasks of 1 frames: at least 25 frames per task',
    });
    expect(chunkingProblem({ ...base, chunkSeconds: 1e-300 }, limits)?.limit).toBe('chunk_frames');
    expect(chunkingProblem({ ...base, chunkFrames: 30 }, limits)).toEqual({
      limit: 'tasks_per_job',
      message:
        'chunkFrames 30 makes 1667 tasks of 50000 frames: at most 1000 per job (ask for at least 50 frames per task)',
    });
    expect(chunkingProblem({ ...base, chunkFrames: 50 }, limits)).toBeUndefined();
    expect(chunkingProblem(base, limits)).toBeUndefined();
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
      pts.length,
    );
    expect(durations[0]).toBe(ticksToMicros(pts[4], tb));
    expect(durations[0] + durations[1]).toBe(ticksToMicros(pts[7], tb));
    expect(durations.reduce((a, b) => a + b)).toBe(ticksToMicros(pts[9] + 512, tb));
  });

  it("ends a trimmed job's last segment where the frame after it starts, not with the video's last frame", () => {
    const tb = { num: 1, den: 15360 };
    const pts = Array.from({ length: 10 }, (_, i) => i * 512 + (i > 5 ? 100 : 0));
    const segments = [
      { startFrame: 2, endFrame: 5 },
      { startFrame: 5, endFrame: 7 },
    ];
    const durations = segmentDurationsMicros(segments, (f) => pts[f], tb, 512, pts.length);
    expect(durations.reduce((a, b) => a + b)).toBe(ticksToMicros(pts[7], tb) - ticksToMicros(pts[2], tb));
  });
});

describe('trim ranges (FaceFusion 3.8.1 restrict_trim_frame)', () => {
  it('clamps each given end to [0, frames] and takes the video’s own for an absent one', () => {
    expect(trimmedRange(undefined, 60)).toEqual({ start: 0, end: 60 });
    expect(trimmedRange({ start: 10, end: 25 }, 60)).toEqual({ start: 10, end: 25 });
    expect(trimmedRange({ start: 10 }, 60)).toEqual({ start: 10, end: 60 });
    expect(trimmedRange({ end: 25 }, 60)).toEqual({ start: 0, end: 25 });
    expect(trimmedRange({ start: -5, end: 500 }, 60)).toEqual({ start: 0, end: 60 });
    // Empty, as FaceFusion leaves it: admission refuses such a job.
    expect(trimmedRange({ start: 70, end: 80 }, 60)).toEqual({ start: 60, end: 60 });
  });

  it('plans a trimmed range into tasks that keep the source frame numbers', () => {
    expect(planChunks(25, 6, 10)).toEqual([
      { start: 10, end: 16 },
      { start: 16, end: 22 },
      { start: 22, end: 25 },
    ]);
    expect(() => planChunks(10, 6, 10)).toThrow(RangeError);
  });
});
