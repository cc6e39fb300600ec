import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { outputProblem, segmentProblem } from '../../src/media/integrityCheck.js';
import { cfrWithAudio, ffmpeg, probeFramesPts, testClip } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

/** The checks a merge runs on segments and on its output, on real files that ffmpeg wrote and that were damaged. */

const dir = useTempDir();
const MICROS = { num: 1, den: 1_000_000 };
/** `frames` frames at `fps`, in microseconds from the first. */
const planned = (frames: number, fps = 30) =>
  Array.from({ length: frames }, (_, i) => Math.round((i * 1e6) / fps));

let segment: string;
beforeAll(async () => {
  segment = join(dir(), 'segment.mp4');
  await testClip(segment);
});

async function damaged(name: string, damage: (path: string) => void): Promise<string> {
  const path = join(dir(), name);
  await copyFile(segment, path);
  damage(path);
  return path;
}

describe('segment check', () => {
  it('passes a segment with the planned frames at the planned times', async () => {
    expect(await segmentProblem(segment, planned(30), MICROS)).toBeUndefined();
  });

  it('names a missing frame and a frame off its planned time', async () => {
    expect(await segmentProblem(segment, planned(31), MICROS)).toBe('30 frames, expected 31');
    expect(await segmentProblem(segment, planned(30, 25), MICROS)).toBe(
      'frame 1 is at 0.033333 s, planned at 0.040000 s',
    );
  });

  it('finds bytes flipped in the middle (the decoder complains) and a segment cut in half', async () => {
    const flipped = await damaged('flipped.mp4', (path) => {
      const bytes = readFileSync(path);
      for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 64; i++) bytes[i] ^= 0xff;
      writeFileSync(path, bytes);
    });
    expect(await segmentProblem(flipped, planned(30), MICROS)).toMatch(/^cannot decode: /);
    const cut = await damaged('cut.mp4', (path) => truncateSync(path, statSync(path).size >> 1));
    const problem = await segmentProblem(cut, planned(30), MICROS);
    expect(problem).toBeDefined();
    expect(problem).not.toContain('\n');
    const missing = await segmentProblem(join(dir(), 'gone.mp4'), planned(30), MICROS);
    expect(missing).toMatch(/not found/);
  });

  it('wants a video stream', async () => {
    const audioOnly = join(dir(), 'audio-only.mp4');
    await ffmpeg(['-f', 'lavfi', '-i', 'sine=f=440:r=48000:d=1', '-c:a', 'aac', audioOnly]);
    expect(await segmentProblem(audioOnly, planned(30), MICROS)).toBe('no video stream');
  });
});

describe('output check', () => {
  it('wants the planned frames and the source audio streams', async () => {
    const video = await cfrWithAudio(dir());
    const times = (await probeFramesPts(video)).map((t, _, all) => Math.round((t - all[0]) * 1e6));
    expect(await outputProblem(video, { planned: times, timeBase: MICROS, audioStreams: 2 })).toBeUndefined();
    // cfrWithAudio has two audio streams.
    expect(await outputProblem(video, { planned: times, timeBase: MICROS, audioStreams: 1 })).toBe(
      '2 audio streams, expected 1',
    );
    expect(await outputProblem(video, { planned: times.slice(1), timeBase: MICROS, audioStreams: 2 })).toBe(
      `${times.length} frames, expected ${times.length - 1}`,
    );
  });
});
