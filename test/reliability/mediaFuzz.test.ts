import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/media/errors.js';
import { decodeFrames } from '../../src/media/frameDecoder.js';
import { probeVideo } from '../../src/media/probe.js';
import { audioOnly, cfrWithAudio, ffmpeg, noAudio, truncated } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { fuzzSeed } from './runs.js';

/**
 * Damaged and hostile media: each file ends in a one-line MediaError naming it, or probes and decodes to
 * the end (the damage reported by ffmpeg as a MediaError, or concealed); never a hang (the test's own
 * timeout is the bound) and never a frame bigger than the probe announced.
 */

const dir = useTempDir();
const SEED = fuzzSeed();
const CORRUPTIONS = Math.max(1, Math.round(4 * Number(process.env.SPOTFUSE_PROPERTY_RUNS ?? 1)));

/** mulberry32: a small seeded generator, so that a failing corruption can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { error: string } | { frames: number; decodeError?: string };

/** Probes, then decodes every frame; a MediaError anywhere is the outcome, anything else is a failure. */
async function consume(path: string): Promise<Outcome> {
  let probe: Awaited<ReturnType<typeof probeVideo>>;
  try {
    probe = await probeVideo(path);
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    return { error: error.message };
  }
  const { width, height, frameCount } = probe.video;
  expect(frameCount).toBeGreaterThan(0);
  let frames = 0;
  try {
    for await (const frame of decodeFrames({ input: path, probe, startFrame: 0, endFrame: frameCount })) {
      expect(frame.length).toBeLessThanOrEqual(width * height * 4);
      frames++;
    }
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    return { frames, decodeError: error.message };
  }
  expect(frames).toBe(frameCount);
  return { frames };
}

function expectClearError(outcome: Outcome, name: string): void {
  expect(outcome).toHaveProperty('error');
  const message = (outcome as { error: string }).error;
  expect(message).not.toContain('\n');
  expect(message).toContain(name);
}

let valid: string;
beforeAll(async () => {
  valid = await cfrWithAudio(dir());
});

describe(`media fuzzing (seed ${SEED})`, () => {
  it('refuses an empty file, text, and a truncated video with one line naming the file', async () => {
    const empty = join(dir(), 'empty.mp4');
    writeFileSync(empty, '');
    const text = join(dir(), 'notes.mp4');
    writeFileSync(text, 'this is not a video\n'.repeat(100));
    for (const path of [empty, text, await truncated(dir())]) expectClearError(await consume(path), path);
  });

  it('refuses audio only and a video stream without frames', async () => {
    const noFrames = join(dir(), 'no-frames.mkv');
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=s=64x64:r=10:d=1',
      '-frames:v',
      '0',
      '-c:v',
      'mjpeg',
      noFrames,
    ]);
    for (const path of [await audioOnly(dir()), noFrames]) expectClearError(await consume(path), path);
  });

  it('reads a video by its content whatever its extension', async () => {
    const renamed = join(dir(), 'holiday.txt');
    copyFileSync(await noAudio(dir()), renamed);
    const outcome = await consume(renamed);
    expect(outcome).toEqual({ frames: expect.any(Number) });
  });

  it('refuses a header that claims 20000x20000 without allocating such frames', async () => {
    // MJPEG in Matroska at 256x256, then the container's and every JPEG's dimensions set to 20000x20000.
    const small = join(dir(), 'small-mjpeg.mkv');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=256x256:r=10:d=1', '-c:v', 'mjpeg', '-q:v', '5', small]);
    const data = readFileSync(small);
    const patched = Buffer.from(
      data
        .toString('latin1')
        .replaceAll('\xb0\x82\x01\x00', '\xb0\x82\x4e\x20')
        .replaceAll('\xba\x82\x01\x00', '\xba\x82\x4e\x20')
        .replaceAll('\xff\xc0\x00\x11\x08\x01\x00\x01\x00', '\xff\xc0\x00\x11\x08\x4e\x20\x4e\x20'),
      'latin1',
    );
    expect(patched.equals(data)).toBe(false);
    const huge = join(dir(), 'huge.mkv');
    writeFileSync(huge, patched);
    expectClearError(await consume(huge), huge);
  });

  it('never hangs on a named pipe given as the input', async () => {
    const fifo = join(dir(), 'pipe.mp4');
    execFileSync('mkfifo', [fifo]);
    expectClearError(await consume(fifo), fifo);
  }, 20_000);

  it(`survives ${CORRUPTIONS} videos corrupted in the middle with seeded random bytes`, async () => {
    const source = readFileSync(valid);
    for (let i = 0; i < CORRUPTIONS; i++) {
      const next = random(SEED + i);
      const damaged = Buffer.from(source);
      // A run of garbage somewhere in the middle half, up to 5% of the file.
      const length = 1 + Math.floor(next() * damaged.length * 0.05);
      const start = Math.floor(damaged.length * (0.25 + next() * 0.5));
      for (let b = start; b < Math.min(damaged.length, start + length); b++)
        damaged[b] = Math.floor(next() * 256);
      const path = join(dir(), `corrupt-${SEED + i}.mp4`);
      writeFileSync(path, damaged);
      const outcome = await consume(path);
      if ('error' in outcome) expectClearError(outcome, path);
    }
  });
});
