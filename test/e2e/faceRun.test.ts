import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import {
  arcfaceEmbedding,
  converterOutput,
  FACE_SQUARE,
  inswapperSource,
  type ModelSet,
  standInSwap,
  swapperColour,
  writeModelSet,
} from '../fixtures/models.js';
import { ffmpeg, probeFramesPts, probeStreams, psnr } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

const WIDTH = 640;
const HEIGHT = 360;
const FRAMES = 30;
/** The frame at t = 0.5 s, where the square jumps. */
const JUMP = 15;
/** Where the bright square (the fake detectors' "face") is: before and after t = 0.5 s. */
const POSITIONS = [
  { x: 96, y: 96 },
  { x: 352, y: 160 },
] as const;
const positionAt = (frame: number) => POSITIONS[frame < JUMP ? 0 : 1];

type Rgb = [number, number, number];

/** 1 s at 30 fps, black with a white 96x96 square that jumps at 0.5 s (grid-aligned for the fakes), plus AAC. */
async function squareVideo(dir: string): Promise<string> {
  const path = join(dir, 'target.mp4');
  const [a, b] = POSITIONS;
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `color=c=black:s=${WIDTH}x${HEIGHT}:r=30:d=1`,
    '-f',
    'lavfi',
    '-i',
    `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}:r=30:d=1`,
    '-f',
    'lavfi',
    '-i',
    'sine=f=440:r=48000:d=1',
    '-filter_complex',
    `[0:v][1:v]overlay=x='if(lt(t,0.5),${a.x},${b.x})':y='if(lt(t,0.5),${a.y},${b.y})'[v]`,
    '-map',
    '[v]',
    '-map',
    '2:a',
    '-c:v',
    'libx264',
    '-crf',
    '4',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    path,
  ]);
  return path;
}

/** A still with one white square: the source "face". */
async function sourceImage(dir: string): Promise<string> {
  const path = join(dir, 'source.png');
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `color=c=black:s=${WIDTH}x${HEIGHT}`,
    '-f',
    'lavfi',
    '-i',
    `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}`,
    '-filter_complex',
    '[0:v][1:v]overlay=256:128',
    '-frames:v',
    '1',
    path,
  ]);
  return path;
}

async function rgbFrames(path: string, width = WIDTH, height = HEIGHT): Promise<Uint8Array[]> {
  const args = ['-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const raw = await runTool(resolveBinaries().ffmpeg, args, { failure: 'decode' });
  const size = width * height * 3;
  expect(raw.length % size).toBe(0);
  return Array.from({ length: raw.length / size }, (_, i) => raw.subarray(i * size, (i + 1) * size));
}

const pixel = (frame: Uint8Array, x: number, y: number): Rgb => {
  const at = (y * WIDTH + x) * 3;
  return [frame[at], frame[at + 1], frame[at + 2]];
};

/** PSNR over the pixels farther than `margin` from the square of that frame. */
function psnrOutsideFace(a: Uint8Array, b: Uint8Array, frame: number, margin: number): number {
  const { x, y } = positionAt(frame);
  let sum = 0;
  let count = 0;
  for (let row = 0; row < HEIGHT; row++) {
    for (let col = 0; col < WIDTH; col++) {
      const inside =
        col >= x - margin &&
        col < x + FACE_SQUARE + margin &&
        row >= y - margin &&
        row < y + FACE_SQUARE + margin;
      if (inside) continue;
      for (let c = 0; c < 3; c++) {
        const i = (row * WIDTH + col) * 3 + c;
        sum += (a[i] - b[i]) ** 2;
        count++;
      }
    }
  }
  return sum === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255 * count) / sum);
}

/** The fake swappers paint a constant colour derived from the source square's embedding. */
function expectedSwapColour(model: 'hyperswap_1a_256' | 'inswapper_128'): Rgb {
  // The source crop is the white square (x / 127.5 − 1 = 1 everywhere).
  const raw = arcfaceEmbedding(new Float32Array(3 * 112 * 112).fill(1));
  const norm = Math.hypot(...raw);
  if (model === 'hyperswap_1a_256') {
    const normed = raw.map((v) => v / norm);
    return swapperColour(model, normed).map((v) => Math.round((v * 0.5 + 0.5) * 255)) as Rgb;
  }
  // What FaceFusion feeds inswapper: (embedding · emap) / ‖embedding‖ (the fake then applies its emap too).
  return swapperColour(model, inswapperSource(raw)).map((v) => Math.round(v * 255)) as Rgb;
}

function expectColour(actual: Rgb, expected: Rgb, tolerance: number): void {
  for (let c = 0; c < 3; c++) expect(Math.abs(actual[c] - expected[c])).toBeLessThanOrEqual(tolerance);
}

describe('spotfuse run with the face processors (generated models with the real signatures)', () => {
  const dir = useTempDir();
  let target: string;
  let source: string;
  let models: ModelSet;
  let input: Uint8Array[];

  beforeAll(async () => {
    target = await squareVideo(dir());
    source = await sourceImage(dir());
    models = await writeModelSet(dir());
    input = await rgbFrames(target);
    expect(input).toHaveLength(FRAMES);
  });

  async function run(name: string, extra: string[]) {
    const output = join(dir(), `${name}.mp4`);
    const report = join(dir(), `${name}.json`);
    const result = await runCli(
      [
        'run',
        '-t',
        target,
        '-o',
        output,
        '--state-dir',
        join(dir(), `state-${name}`),
        '--report',
        report,
        '--model-manifest',
        models.manifest,
        '--model-dir',
        join(dir(), 'model-cache'),
        '--workers',
        '2',
        '--chunk-frames',
        '10',
        '--checkpoint-frames',
        '5',
        ...extra,
      ],
      dir(),
    );
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(report, 'utf8')).state).toBe('completed');
    return output;
  }

  it("swaps every frame's face with FaceFusion's defaults (yolo_face, hyperswap_1a_256, reference mode)", async () => {
    const output = await run('swap', ['-s', source]);
    expect(await probeFramesPts(output)).toEqual(await probeFramesPts(target));
    expect((await probeStreams(output)).map((s) => s.codec_type)).toEqual(['video', 'audio']);
    const frames = await rgbFrames(output);
    expect(frames).toHaveLength(FRAMES);
    const colour = expectedSwapColour('hyperswap_1a_256');
    for (let i = 0; i < FRAMES; i++) {
      const { x, y } = positionAt(i);
      // The face takes the swapper's colour at its centre…
      expectColour(pixel(frames[i], x + 48, y + 48), colour, 8);
      // …everything away from the face is the input (the arcface_128 crop reaches a little past the
      // square, hence the margin)…
      expect(psnrOutsideFace(frames[i], input[i], i, FACE_SQUARE / 6)).toBeGreaterThan(40);
    }
    // …and the seam is feathered: between the square's edge and its centre the colour goes from white
    // to the swap colour through values in between, not in one step.
    const { x, y } = positionAt(0);
    const channel = [0, 1, 2].reduce((best, c) =>
      Math.abs(255 - colour[c]) > Math.abs(255 - colour[best]) ? c : best,
    );
    const row = Array.from({ length: 48 }, (_, dx) => pixel(frames[0], x + dx, y + 48)[channel]);
    const low = Math.min(255, colour[channel]);
    const high = Math.max(255, colour[channel]);
    const between = row.filter((v) => v > low + 20 && v < high - 20);
    expect(between.length).toBeGreaterThanOrEqual(3);
  });

  it('searches the frame at four angles (--face-detector-angles) and swaps the face found at each once', async () => {
    // The stand-in detector sees the square at every angle: one NMS over the four keeps one face per frame.
    const output = await run('angles', [
      ...['-s', source, '--face-selector-mode', 'many'],
      ...['--face-detector-angles', '0', '90', '180', '270'],
    ]);
    const frames = await rgbFrames(output);
    expect(frames).toHaveLength(FRAMES);
    const colour = expectedSwapColour('hyperswap_1a_256');
    for (const i of [0, JUMP - 1, JUMP, FRAMES - 1]) {
      const { x, y } = positionAt(i);
      expectColour(pixel(frames[i], x + 48, y + 48), colour, 8);
      expect(psnrOutsideFace(frames[i], input[i], i, FACE_SQUARE / 6)).toBeGreaterThan(40);
    }
  });

  it('chains face_swapper (inswapper_128, scrfd, many) and face_enhancer (gfpgan_1.4 at blend 80)', async () => {
    const output = await run('swap-enhance', [
      '-s',
      source,
      '--processors',
      'face_swapper,face_enhancer',
      '--face-swapper-model',
      'inswapper_128',
      '--face-detector-model',
      'scrfd',
      '--face-selector-mode',
      'many',
    ]);
    const frames = await rgbFrames(output);
    expect(frames).toHaveLength(FRAMES);
    // The fake gfpgan inverts colours; 80% of the inverted swap, 20% of the swap.
    const swapped = expectedSwapColour('inswapper_128');
    const enhanced = swapped.map((v) => Math.round(0.8 * (255 - v) + 0.2 * v)) as Rgb;
    for (const i of [0, JUMP - 1, JUMP, FRAMES - 1]) {
      const { x, y } = positionAt(i);
      expectColour(pixel(frames[i], x + 48, y + 48), enhanced, 10);
    }
  });

  it('passes the selector filters and the area mask to the workers (fairface, 2dfan4 stand-ins)', async () => {
    // The stand-in fairface puts every face in the 20–29, 40–49 or 60–69 bracket, so 0–10 keeps none.
    const common = ['-s', source, '--face-selector-mode', 'many', '--face-mask-types', 'box,area'];
    const none = await rgbFrames(
      await run('filter-none', [
        ...common,
        '--face-selector-age-start',
        '0',
        '--face-selector-age-end',
        '10',
      ]),
    );
    const kept = await rgbFrames(
      await run('filter-kept', [
        ...common,
        '--face-selector-age-start',
        '20',
        '--face-selector-age-end',
        '70',
      ]),
    );
    const colour = expectedSwapColour('hyperswap_1a_256');
    for (const i of [0, FRAMES - 1]) {
      const { x, y } = positionAt(i);
      expectColour(pixel(none[i], x + 48, y + 48), [255, 255, 255], 8);
      // The centre lies deep inside the upper-face area of the stand-in's 68 points.
      expectColour(pixel(kept[i], x + 48, y + 48), colour, 8);
    }
  });

  it('swaps with ghost_1_256 through its crossface_ghost converter, at --face-swapper-weight 0.2', async () => {
    const output = await run('ghost', [
      '-s',
      source,
      '--face-swapper-model',
      'ghost_1_256',
      '--face-swapper-weight',
      '0.2',
      '--face-selector-mode',
      'many',
    ]);
    const frames = await rgbFrames(output);
    expect(frames).toHaveLength(FRAMES);
    expect(readdirSync(join(dir(), 'model-cache'))).toContain('crossface_ghost.onnx');
    // Source and target faces are the same white square: the same raw embedding. ghost takes the converted
    // source embedding, 21 % of the target's raw one mixed in at weight 0.2, and a white target crop (1).
    const raw = arcfaceEmbedding(new Float32Array(3 * 112 * 112).fill(1));
    const converted = converterOutput('crossface_ghost', raw);
    const colourOf = (embedding: ArrayLike<number>) =>
      standInSwap('ghost_1_256', embedding, [1, 1, 1]).map((v) => Math.round((v * 0.5 + 0.5) * 255)) as Rgb;
    const share = 0.35 - 0.7 * 0.2;
    const colour = colourOf(converted.map((v, i) => v * (1 - share) + raw[i] * share));
    const unweighted = colourOf(converted);
    expect(Math.max(...colour.map((v, c) => Math.abs(v - unweighted[c])))).toBeGreaterThan(16);
    for (const i of [0, JUMP - 1, JUMP, FRAMES - 1]) {
      const { x, y } = positionAt(i);
      expectColour(pixel(frames[i], x + 48, y + 48), colour, 8);
    }
  });

  it('frame_enhancer (real_esrgan_x2) with --output-video-scale 2 doubles the size of every frame and keeps the timeline', async () => {
    const output = await run('upscale', ['--processors', 'frame_enhancer', '--output-video-scale', '2']);
    const [video] = (await probeStreams(output)).filter((s) => s.codec_type === 'video');
    expect([video.width, video.height]).toEqual([2 * WIDTH, 2 * HEIGHT]);
    expect(await probeFramesPts(output)).toEqual(await probeFramesPts(target));
    // The fake upscaler is nearest-neighbour ×2: the output is the input, enlarged.
    const enlarged = join(dir(), 'enlarged.mp4');
    await ffmpeg([
      '-i',
      target,
      '-vf',
      `scale=${2 * WIDTH}:${2 * HEIGHT}:flags=neighbor`,
      '-crf',
      '4',
      enlarged,
    ]);
    expect(await psnr(output, enlarged)).toBeGreaterThan(30);
  });

  it("frame_enhancer without --output-video-scale keeps the target's size, as FaceFusion does; 0.5 halves it", async () => {
    const same = await run('upscale-same', ['--processors', 'frame_enhancer']);
    const [video] = (await probeStreams(same)).filter((s) => s.codec_type === 'video');
    expect([video.width, video.height]).toEqual([WIDTH, HEIGHT]);
    expect(await probeFramesPts(same)).toEqual(await probeFramesPts(target));
    // Enlarged ×2 by nearest neighbour, then resized back: close to the input itself.
    expect(await psnr(same, target)).toBeGreaterThan(30);
    const half = await run('upscale-half', ['--processors', 'frame_enhancer', '--output-video-scale', '0.5']);
    const [small] = (await probeStreams(half)).filter((s) => s.codec_type === 'video');
    expect([small.width, small.height]).toEqual([WIDTH / 2, HEIGHT / 2]);
  });

  it("face_debugger draws each frame's bounding box where the face is, and leaves the rest of the frame", async () => {
    const output = await run('debugger', [
      '--processors',
      'face_debugger',
      '--face-debugger-items',
      'bounding-box',
      'face-landmark-5',
    ]);
    expect(await probeFramesPts(output)).toEqual(await probeFramesPts(target));
    const frames = await rgbFrames(output);
    expect(frames).toHaveLength(FRAMES);
    const red = ([r, g, b]: Rgb) => r - g > 40 && r - b > 40;
    for (const i of [0, JUMP - 1, JUMP, FRAMES - 1]) {
      const { x, y } = positionAt(i);
      const far = POSITIONS.find((p) => p !== positionAt(i))!;
      // The box's sides (1 pixel at 360 lines) on the square's edges turn red; where the square is
      // not this frame, nothing is drawn.
      for (const [px, py] of [
        [x, y + 30],
        [x + FACE_SQUARE, y + 60],
        [x + 40, y + FACE_SQUARE],
        [x + 60, y],
      ])
        expect(red(pixel(frames[i], px, py)), `frame ${i} at ${px},${py}`).toBe(true);
      expect(red(pixel(frames[i], far.x, far.y + 30))).toBe(false);
      expect(red(pixel(frames[i], x + 20, y + 80))).toBe(false);
      expect(psnrOutsideFace(frames[i], input[i], i, 4)).toBeGreaterThan(40);
    }
  });

  it('stops before any video work when the source image has no face', async () => {
    const blank = join(dir(), 'blank.png');
    await ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240', '-frames:v', '1', blank]);
    const output = join(dir(), 'never.mp4');
    const result = await runCli(
      [
        'run',
        '-s',
        blank,
        '-t',
        target,
        '-o',
        output,
        '--state-dir',
        join(dir(), 'state-blank'),
        '--model-manifest',
        models.manifest,
        '--model-dir',
        join(dir(), 'model-cache'),
      ],
      dir(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`spotfuse: error: no face found in source image ${blank}`);
    expect(existsSync(output)).toBe(false);
  });

  it('lists every model the job lacks, with sizes, when the model server cannot be reached', async () => {
    // A port nothing listens on, as offline or behind a firewall that refuses.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const base = `http://127.0.0.1:${port}`;
    const modelDir = join(dir(), 'no-models');
    const output = join(dir(), 'offline.mp4');
    const result = await runCli(
      [
        'run',
        ...['-s', source, '-t', target, '-o', output, '--state-dir', join(dir(), 'state-offline')],
        ...['--model-dir', modelDir, '--model-base-url', `${base}/models-{version}`],
      ],
      dir(),
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toBe(
      `spotfuse: error: 5 models needed are missing from ${modelDir} (≈577.0 MB plus 3 of unknown size in all); ` +
        `cannot reach 127.0.0.1:${port} (ECONNREFUSED) for ${base}/models-3.0.0/yoloface_8n.onnx`,
    );
    expect(lines.slice(1, 6)).toEqual([
      `  yoloface_8n        size unknown  ${base}/models-3.0.0/yoloface_8n.onnx`,
      `  2dfan4             size unknown  ${base}/models-3.0.0/2dfan4.onnx`,
      `  fan_68_5           size unknown  ${base}/models-3.0.0/fan_68_5.onnx`,
      `  arcface_w600k_r50  ≈174.0 MB     ${base}/models-3.0.0/arcface_w600k_r50.onnx`,
      `  hyperswap_1a_256   ≈403.0 MB     ${base}/models-3.3.0/hyperswap_1a_256.onnx`,
    ]);
    expect(result.stderr).toContain('--model-base-url URL');
    expect(result.stderr).toContain('--model-manifest FILE');
    expect(result.stderr).toContain(
      `spotfuse models download yoloface_8n 2dfan4 fan_68_5 arcface_w600k_r50 hyperswap_1a_256: on a machine that can reach them, then copy the files into ${modelDir}`,
    );
    expect(existsSync(output)).toBe(false);
  });

  it('asks for a source face when face_swapper has none', async () => {
    const result = await runCli(['run', '-t', target, '-o', join(dir(), 'x.mp4')], dir());
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'spotfuse: error: face_swapper needs a source face image (-s face.jpg)',
    );
  });
});
