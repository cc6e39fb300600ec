import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { loadImage } from '../../src/vision/image.js';
import { writeModelSet } from '../fixtures/models.js';
import { ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHeadless } from './oracleCases.js';

/**
 * `--output-video-scale` and `--output-image-scale`: FaceFusion 3.8.1 and `spotfuse run` give the same output
 * size for the same scale, whatever size frame_enhancer (×2 here) makes, and the same frames. Sides not even
 * (130x74, 0.5 → 64x36) check FaceFusion's rounding.
 */

const WIDTH = 130;
const HEIGHT = 74;
const FRAMES = 5;
const SCALES = ['1', '2', '0.5', '1.25'] as const;
/** FaceFusion's sizes for SCALES: truncated, then rounded to even sides, halves to the even neighbour. */
const SIZES = { '1': [130, 74], '2': [260, 148], '0.5': [64, 36], '1.25': [162, 92] } as const;
/** Mean absolute difference per channel value allowed: both engines resize with ffmpeg's bicubic scaler and re-encode with H.264. */
const MEAN_DIFFERENCE = 4;
/**
 * Below scale 1 FaceFusion shrinks the frames before its processors run, spotfuse after them (README, FaceFusion
 * parity): at 0.5 on this busy test pattern, measured 4.06.
 */
const MEAN_DIFFERENCE_SHRUNK = 6;
const dir = useTempDir();

async function rgbFrames(path: string, width: number, height: number): Promise<Uint8Array[]> {
  const args = ['-v', 'error', '-i', path, '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const raw = await runTool(resolveBinaries().ffmpeg, args, { failure: 'decode' });
  const size = width * height * 3;
  return Array.from({ length: raw.length / size }, (_, i) => raw.subarray(i * size, (i + 1) * size));
}

function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

async function videoSize(path: string): Promise<[number, number]> {
  const [video] = (await probeStreams(path)).filter((s) => s.codec_type === 'video');
  return [Number(video.width), Number(video.height)];
}

describe.skipIf(oracleUnavailable())('output scale: spotfuse run vs FaceFusion 3.8.1 headless-run', () => {
  let oracle: Oracle;
  let target: string;
  let picture: string;
  let flags: string[];
  const theirs = (scale: string) => join(dir(), `ff-${scale}.mp4`);
  const ours = (scale: string) => join(dir(), `ours-${scale}.mp4`);

  beforeAll(async () => {
    const models = await writeModelSet(dir(), ['real_esrgan_x2']);
    oracle = setUpOracle(join(dir(), 'ff'), join(dir(), 'fake-models'));
    target = join(dir(), 'target.mp4');
    await ffmpeg([
      ...['-f', 'lavfi', '-i', `testsrc=s=${WIDTH}x${HEIGHT}:r=10:d=${FRAMES / 10}`],
      ...['-c:v', 'libx264', '-crf', '4', '-pix_fmt', 'yuv420p', target],
    ]);
    picture = join(dir(), 'picture.png');
    await ffmpeg(['-f', 'lavfi', '-i', `testsrc=s=${WIDTH}x${HEIGHT}`, '-frames:v', '1', picture]);
    const enhance = ['--processors', 'frame_enhancer', '--frame-enhancer-model', 'real_esrgan_x2'];
    const common = ['-t', target, '--execution-providers', 'cpu', ...enhance];
    await runHeadless(
      oracle,
      [
        // Its default memory strategy pipes frame_enhancer's larger frames as frames of the target's size
        // (README, FaceFusion parity); the disk strategy writes what FaceFusion means.
        ...SCALES.map((scale) => [
          ...common,
          '-o',
          theirs(scale),
          '--output-video-scale',
          scale,
          '--workflow-strategy',
          'disk',
        ]),
        [...common, '-o', theirs('memory')],
        ['-t', picture, '-o', join(dir(), 'ff.png'), '--execution-providers', 'cpu', ...enhance],
      ],
      dir(),
    );
    flags = ['--model-manifest', models.manifest, '--model-dir', join(dir(), 'model-cache'), ...enhance];
    for (const scale of SCALES) {
      const scaleFlag = scale === '1' ? [] : ['--output-video-scale', scale];
      const run = await runCli(
        [
          'run',
          '-t',
          target,
          '-o',
          ours(scale),
          '--state-dir',
          join(dir(), `state-${scale}`),
          '--workers',
          '1',
        ]
          .concat(flags)
          .concat(scaleFlag),
        dir(),
      );
      expect(run.stderr).not.toMatch(/error/i);
      expect(run.code).toBe(0);
    }
  }, ORACLE_TIMEOUT);

  it(
    "videos: the target's size times the scale, rounded as FaceFusion rounds, with the same frames at the same times",
    async () => {
      const pts = await probeFramesPts(target);
      expect(pts).toHaveLength(FRAMES);
      for (const scale of SCALES) {
        expect(await videoSize(theirs(scale)), scale).toEqual(SIZES[scale]);
        expect(await videoSize(ours(scale)), scale).toEqual(SIZES[scale]);
        expect(await probeFramesPts(ours(scale))).toEqual(pts);
        const [width, height] = SIZES[scale];
        const [ffFrames, ourFrames] = [
          await rgbFrames(theirs(scale), width, height),
          await rgbFrames(ours(scale), width, height),
        ];
        expect(ffFrames).toHaveLength(FRAMES);
        expect(ourFrames).toHaveLength(FRAMES);
        for (let i = 0; i < FRAMES; i++)
          expect(meanAbsoluteDifference(ourFrames[i], ffFrames[i]), `${scale} frame ${i}`).toBeLessThan(
            Number(scale) < 1 ? MEAN_DIFFERENCE_SHRUNK : MEAN_DIFFERENCE,
          );
      }
    },
    ORACLE_TIMEOUT,
  );

  it("FaceFusion's default memory strategy gives frame_enhancer ×2 four times the frames (why the disk strategy is the reference)", async () => {
    expect(await videoSize(theirs('memory'))).toEqual([WIDTH, HEIGHT]);
    expect(await rgbFrames(theirs('memory'), WIDTH, HEIGHT)).toHaveLength(4 * FRAMES);
  });

  it("images: without --output-image-scale both keep the target's size", async () => {
    const output = join(dir(), 'ours.png');
    const run = await runCli(['run', '-t', picture, '-o', output, ...flags], dir());
    expect(run.code).toBe(0);
    const [ff, mine] = [await loadImage(join(dir(), 'ff.png')), await loadImage(output)];
    expect([ff.width, ff.height]).toEqual([WIDTH, HEIGHT]);
    expect([mine.width, mine.height]).toEqual([WIDTH, HEIGHT]);
  });
});
