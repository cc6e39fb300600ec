import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FACE_SQUARE, writeModelSet } from '../fixtures/models.js';
import { ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { frameNumber, numberedBackground, rgbFrames, startDelayed } from './numberedFrames.js';
import { ORACLE_TIMEOUT, runHeadless } from './oracleCases.js';

/**
 * `--output-video-fps`: FaceFusion 3.8.1's headless-run and `spotfuse run` on the same numbered clips keep the
 * same source frames, in the same order, at the same times, with the audio as long as the video. FaceFusion's
 * disk workflow is the reference; its default memory workflow plays every frame at the output's rate instead.
 */

const WIDTH = 320;
const HEIGHT = 240;
/** An AAC frame at 48 kHz: how closely two cuts of the same tone can agree. */
const AAC_FRAME = 1024 / 48000;
const dir = useTempDir();

/** 1 s at `rate` fps of numbered frames, with a tone. */
async function numberedClip(path: string, rate: number): Promise<string> {
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=0x080808:s=${WIDTH}x${HEIGHT}:r=${rate}:d=1`],
    ...['-f', 'lavfi', '-i', 'sine=f=440:r=48000:d=1'],
    ...['-filter_complex', `[0:v]${numberedBackground(HEIGHT)},format=yuv420p[v]`],
    ...['-map', '[v]', '-map', '1:a', '-c:v', 'libx264', '-crf', '4', '-c:a', 'aac', path],
  ]);
  return path;
}

/** FaceFusion's source face: the stand-in detectors' bright square. */
async function sourceFace(path: string): Promise<string> {
  await ffmpeg([
    ...['-f', 'lavfi', '-i', 'color=c=black:s=640x360'],
    ...['-f', 'lavfi', '-i', `color=c=0xf0e0ff:s=${FACE_SQUARE}x${FACE_SQUARE}`],
    ...['-filter_complex', '[0:v][1:v]overlay=256:128', '-frames:v', '1', path],
  ]);
  return path;
}

interface Case {
  name: string;
  rate: number;
  fps: number;
  trim?: [number, number];
}

const CASES: Case[] = [
  { name: '30-to-24', rate: 30, fps: 24 },
  { name: '30-to-15', rate: 30, fps: 15 },
  { name: '25-to-30', rate: 25, fps: 30 },
  { name: '30-to-24-trimmed', rate: 30, fps: 24, trim: [5, 25] },
];

const numbers = async (path: string) =>
  (await rgbFrames(path, WIDTH, HEIGHT)).map((frame) => frameNumber(frame, WIDTH, HEIGHT));
const audioDuration = async (path: string) =>
  (await probeStreams(path)).filter((s) => s.codec_type === 'audio').map((s) => Number(s.duration));

describe.skipIf(oracleUnavailable())('--output-video-fps: spotfuse run vs FaceFusion 3.8.1', () => {
  const theirs = (c: Case) => join(dir(), `ff-${c.name}.mp4`);
  const ours = (c: Case) => join(dir(), `ours-${c.name}.mp4`);
  const memory = () => join(dir(), 'ff-memory-30-to-24.mp4');

  beforeAll(async () => {
    await writeModelSet(dir());
    const oracle = setUpOracle(join(dir(), 'ff'), join(dir(), 'fake-models'));
    const source = await sourceFace(join(dir(), 'source.png'));
    const targets = new Map<number, string>();
    for (const rate of [25, 30]) targets.set(rate, await numberedClip(join(dir(), `clip-${rate}.mp4`), rate));
    const options = (c: Case) => [
      ...['--output-video-fps', String(c.fps)],
      ...(c.trim ? ['--trim-frame-start', String(c.trim[0]), '--trim-frame-end', String(c.trim[1])] : []),
    ];
    const common = (c: Case) => [
      ...['-s', source, '-t', targets.get(c.rate)!, '--execution-providers', 'cpu'],
      ...['--execution-thread-count', '2', '--output-audio-encoder', 'aac', ...options(c)],
    ];
    await runHeadless(
      oracle,
      [
        ...CASES.map((c) => [...common(c), '-o', theirs(c), '--workflow-strategy', 'disk']),
        [...common(CASES[0]), '-o', memory()],
      ],
      dir(),
    );
    for (const c of CASES) {
      const run = await runCli(
        [
          ...[
            'run',
            '-t',
            targets.get(c.rate)!,
            '-o',
            ours(c),
            '--state-dir',
            join(dir(), `state-${c.name}`),
          ],
          ...[
            '--processors',
            'passthrough',
            '--workers',
            '2',
            '--chunk-frames',
            '7',
            '--checkpoint-frames',
            '3',
          ],
          ...['--output-audio-encoder', 'aac', ...options(c)],
        ],
        dir(),
      );
      expect(run.stderr).not.toMatch(/error/i);
      expect(run.code).toBe(0);
    }
  }, ORACLE_TIMEOUT);

  it.each(CASES)(
    '$name: the same source frames in the same order, at n / fps from 0, the audio as long',
    async (c) => {
      const theirNumbers = await numbers(theirs(c));
      const from = c.trim?.[0] ?? 0;
      const count = (c.trim ? c.trim[1] - c.trim[0] : c.rate) * (c.fps / c.rate);
      expect(theirNumbers).toHaveLength(count);
      expect(theirNumbers[0]).toBe(from);
      expect(await numbers(ours(c))).toEqual(theirNumbers);
      const timestamps = Array.from({ length: count }, (_, n) => expect.closeTo(n / c.fps, 3));
      expect(await startDelayed(theirs(c))).toEqual(timestamps);
      expect(await probeFramesPts(ours(c))).toEqual(timestamps);
      const [ourAudio, theirAudio] = [await audioDuration(ours(c)), await audioDuration(theirs(c))];
      expect(ourAudio).toHaveLength(1);
      expect(Math.abs(ourAudio[0] - count / c.fps)).toBeLessThan(AAC_FRAME);
      expect(Math.abs(ourAudio[0] - theirAudio[0])).toBeLessThan(AAC_FRAME);
    },
    ORACLE_TIMEOUT,
  );

  it(
    "FaceFusion's default memory workflow keeps every frame at 1/24 s: a slower video than its audio",
    async () => {
      expect(await numbers(memory())).toEqual(Array.from({ length: 30 }, (_, i) => i));
      const pts = await startDelayed(memory());
      expect(pts.at(-1)).toBeCloseTo(29 / 24, 3);
      expect((await audioDuration(memory()))[0]).toBeLessThan(1.05);
    },
    ORACLE_TIMEOUT,
  );
});
