import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FACE_SQUARE, writeModelSet } from '../fixtures/models.js';
import { ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import {
  numberedBackground,
  frameNumber as numberedFrame,
  rgbFrames as numberedRgbFrames,
  startDelayed,
} from './numberedFrames.js';
import { ORACLE_TIMEOUT, runHeadless } from './oracleCases.js';

/**
 * Videos: FaceFusion 3.8.1's headless-run and `spotfuse run` on the same clip with the same stand-in models
 * give the same frames, in the same order, at the same timestamps, with the audio kept; FaceFusion's trim
 * range [10, 25) gives exactly the frames 10–24 of a whole run.
 */

const WIDTH = 640;
const HEIGHT = 360;
const FRAMES = 60;
const TRIM = [10, 25] as const;
/**
 * Mean absolute difference per channel value allowed between the two engines' frames (measured: 3.3). Both
 * re-encode with H.264 at their own settings, and FaceFusion turns whole frames into BGR and back (bt709,
 * limited range), where spotfuse touches only the faces' pixels.
 */
const MEAN_DIFFERENCE = 4;
const dir = useTempDir();

/**
 * 2 s at 30 fps, each frame different: a white square (the stand-in detectors' face) moving right one grid step
 * every 8 frames over a dark background that carries the frame's number, with a tone.
 */
async function movingSquare(path: string): Promise<string> {
  const overlay = "[bg][1:v]overlay=x='64+32*floor(n/8)':y=96,format=yuv420p[v]";
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=0x080808:s=${WIDTH}x${HEIGHT}:r=30:d=2`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}:r=30:d=2`],
    ...['-f', 'lavfi', '-i', 'sine=f=440:r=48000:d=2'],
    // Every frame its own: its number in binary, six dark patches of level 0 or 16 along the bottom left.
    ...['-filter_complex', `[0:v]${numberedBackground(HEIGHT)}[bg];${overlay}`],
    ...['-map', '[v]', '-map', '2:a'],
    ...['-c:v', 'libx264', '-crf', '4', '-pix_fmt', 'yuv420p', '-c:a', 'aac', path],
  ]);
  return path;
}

async function stillSource(path: string): Promise<string> {
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}`],
    ...['-f', 'lavfi', '-i', `color=c=0xf0e0ff:s=${FACE_SQUARE}x${FACE_SQUARE}`],
    ...['-filter_complex', '[0:v][1:v]overlay=256:128', '-frames:v', '1', path],
  ]);
  return path;
}

const rgbFrames = (path: string) => numberedRgbFrames(path, WIDTH, HEIGHT);

function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

const frameNumber = (frame: Uint8Array) => numberedFrame(frame, WIDTH, HEIGHT);

describe.skipIf(oracleUnavailable())('videos: spotfuse run vs FaceFusion 3.8.1 headless-run', () => {
  let oracle: Oracle;
  let target: string;
  let ours: string;
  let ourTrimmed: string;
  let targetFrames: Uint8Array[];
  const theirs = { whole: '', trimmed: '' };

  beforeAll(async () => {
    const models = await writeModelSet(dir());
    oracle = setUpOracle(join(dir(), 'ff'), join(dir(), 'fake-models'));
    target = await movingSquare(join(dir(), 'target.mp4'));
    const source = await stillSource(join(dir(), 'source.png'));
    theirs.whole = join(dir(), 'ff-whole.mp4');
    theirs.trimmed = join(dir(), 'ff-trimmed.mp4');
    const common = [
      '-s',
      source,
      '-t',
      target,
      '--execution-providers',
      'cpu',
      '--execution-thread-count',
      '2',
    ].concat(['--output-audio-encoder', 'aac']);
    const trim = ['--trim-frame-start', String(TRIM[0]), '--trim-frame-end', String(TRIM[1])];
    await runHeadless(
      oracle,
      [
        [...common, '-o', theirs.whole],
        [...common, '-o', theirs.trimmed, ...trim],
      ],
      dir(),
    );
    targetFrames = await rgbFrames(target);
    expect(targetFrames.map(frameNumber)).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    ours = join(dir(), 'ours.mp4');
    ourTrimmed = join(dir(), 'ours-trimmed.mp4');
    const flags = ['--model-manifest', models.manifest, '--model-dir', join(dir(), 'model-cache')];
    // The trimmed run with FaceFusion's own flags, cut into tasks that do not start at its range's start.
    const runs: [string, string[]][] = [
      [ours, []],
      [ourTrimmed, [...trim, '--chunk-frames', '6', '--checkpoint-frames', '4']],
    ];
    for (const [output, extra] of runs) {
      const run = await runCli(
        [
          'run',
          '-s',
          source,
          '-t',
          target,
          '-o',
          output,
          '--state-dir',
          join(dir(), `state-${basename(output)}`),
        ].concat(['--workers', '1', '--output-audio-encoder', 'aac', ...flags, ...extra]),
        dir(),
      );
      expect(run.stderr).not.toMatch(/error/i);
      expect(run.code).toBe(0);
    }
  }, ORACLE_TIMEOUT);

  it(
    'whole runs: the same timestamps, the same frames in the same order, audio kept',
    async () => {
      const pts = await probeFramesPts(target);
      expect(pts).toHaveLength(FRAMES);
      expect(await probeFramesPts(ours)).toEqual(pts);
      expect(await startDelayed(theirs.whole)).toEqual(pts.map((t) => expect.closeTo(t, 3)));
      for (const output of [theirs.whole, ours]) {
        expect((await probeStreams(output)).map((s) => s.codec_type)).toEqual(['video', 'audio']);
      }
      const [ffFrames, ourFrames] = [await rgbFrames(theirs.whole), await rgbFrames(ours)];
      const inOrder = Array.from({ length: FRAMES }, (_, i) => i);
      expect(ffFrames.map(frameNumber)).toEqual(inOrder);
      expect(ourFrames.map(frameNumber)).toEqual(inOrder);
      // Both lossy (H.264 at each engine's settings): the same picture up to the encoders' noise.
      for (let i = 0; i < FRAMES; i++)
        expect(meanAbsoluteDifference(ourFrames[i], ffFrames[i])).toBeLessThan(MEAN_DIFFERENCE);
    },
    ORACLE_TIMEOUT,
  );

  it(
    "FaceFusion's trim range [10, 25) is frames 10–24 of the whole run, from time 0, with the audio of that range",
    async () => {
      const pts = await startDelayed(theirs.trimmed);
      const count = TRIM[1] - TRIM[0];
      expect(pts).toEqual(Array.from({ length: count }, (_, i) => i / 30).map((t) => expect.closeTo(t, 3)));
      const ourFrames = await rgbFrames(ours);
      const trimmed = await rgbFrames(theirs.trimmed);
      expect(trimmed.map(frameNumber)).toEqual(Array.from({ length: count }, (_, i) => TRIM[0] + i));
      trimmed.forEach((frame, i) => {
        expect(meanAbsoluteDifference(frame, ourFrames[TRIM[0] + i])).toBeLessThan(MEAN_DIFFERENCE);
      });
      const audio = (await probeStreams(theirs.trimmed)).find((s) => s.codec_type === 'audio');
      expect(Number(audio?.duration)).toBeCloseTo(count / 30, 1);
    },
    ORACLE_TIMEOUT,
  );

  it(
    "spotfuse run --trim-frame-start 10 --trim-frame-end 25: FaceFusion's frames in its order, from time 0, audio cut",
    async () => {
      const count = TRIM[1] - TRIM[0];
      const theirPts = await startDelayed(theirs.trimmed);
      // Ours starts at 0 itself (no audio-step delay), at the source's times less the range's first.
      expect(await probeFramesPts(ourTrimmed)).toEqual(theirPts.map((t) => expect.closeTo(t, 3)));
      const [ffFrames, ourFrames] = [await rgbFrames(theirs.trimmed), await rgbFrames(ourTrimmed)];
      expect(ourFrames.map(frameNumber)).toEqual(ffFrames.map(frameNumber));
      expect(ourFrames).toHaveLength(count);
      for (let i = 0; i < count; i++)
        expect(meanAbsoluteDifference(ourFrames[i], ffFrames[i])).toBeLessThan(MEAN_DIFFERENCE);
      const audioOf = async (path: string) =>
        (await probeStreams(path)).filter((s) => s.codec_type === 'audio').map((s) => Number(s.duration));
      const [ourAudio, theirAudio] = [await audioOf(ourTrimmed), await audioOf(theirs.trimmed)];
      expect(ourAudio).toHaveLength(1);
      // Both cut to the range: [10/30 s, 25/30 s) of the tone, within an AAC frame (1024 samples at 48 kHz).
      expect(Math.abs(ourAudio[0] - count / 30)).toBeLessThan(1024 / 48000);
      expect(Math.abs(ourAudio[0] - theirAudio[0])).toBeLessThan(1024 / 48000);
    },
    ORACLE_TIMEOUT,
  );
});
