import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { withExifOrientation } from '../../src/media/exifOrientation.js';
import { runTool, spawnTool } from '../../src/media/ffmpegProcess.js';
import { FACE_SQUARE, type ModelSet, writeModelSet } from '../fixtures/models.js';
import { ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * Image targets (`-t photo.jpg -o out.jpg`) and FaceFusion-style command lines, end to end through the CLI
 * with the generated stand-in models: the stand-in swapper paints the face one flat colour.
 */

const WIDTH = 640;
const HEIGHT = 360;
type Rgb = [number, number, number];

/** Black, with the white square (the stand-in detectors' face) at x, y. */
async function picture(path: string, x: number, y: number, extra: string[] = []): Promise<string> {
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}`],
    ...['-filter_complex', `[0:v][1:v]overlay=${x}:${y}`, '-frames:v', '1', ...extra, path],
  ]);
  return path;
}

async function decode(path: string): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const [stream] = await probeStreams(path);
  const args = ['-v', 'error', '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const rgb = await runTool(resolveBinaries().ffmpeg, args, { failure: 'decode' });
  return { width: Number(stream.width), height: Number(stream.height), rgb };
}

function pixel(image: { width: number; rgb: Uint8Array }, x: number, y: number): Rgb {
  const at = (y * image.width + x) * 3;
  return [image.rgb[at], image.rgb[at + 1], image.rgb[at + 2]];
}

function expectNear(actual: Rgb, expected: Rgb, tolerance: number): void {
  for (let c = 0; c < 3; c++)
    expect(Math.abs(actual[c] - expected[c]), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

describe('spotfuse run on image targets, and with FaceFusion command lines', () => {
  const dir = useTempDir();
  let models: ModelSet;
  let source: string;
  let target: string;
  let swapColour: Rgb;

  beforeAll(async () => {
    models = await writeModelSet(dir());
    source = await picture(join(dir(), 'source.png'), 256, 128);
    target = await picture(join(dir(), 'photo.png'), 96, 96);
  });

  const modelFlags = () => ['--model-manifest', models.manifest, '--model-dir', join(dir(), 'model-cache')];

  async function run(args: string[]) {
    return runCli(['run', ...args, ...modelFlags(), '--state-dir', join(dir(), 'state')], dir());
  }

  it('swaps the face of a PNG target into a PNG of the same size, every other pixel kept exactly', async () => {
    const output = join(dir(), 'out.png');
    // FaceFusion's spelling of the same command.
    const result = await run([
      ...['--source-paths', source, '--target-path', target, '--output-path', output],
      ...['--processors', 'face_swapper', '--execution-providers', 'cpu', '--execution-thread-count', '2'],
    ]);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/done: .*out\.png — 640x360 in/);
    const [input, out] = [await decode(target), await decode(output)];
    expect([out.width, out.height]).toEqual([WIDTH, HEIGHT]);
    swapColour = pixel(out, 96 + 48, 96 + 48);
    // The stand-in swapper's flat colour, far from the white it replaced, the same over the face's middle.
    expect(Math.min(...swapColour)).toBeLessThan(200);
    expectNear(pixel(out, 96 + 40, 96 + 56), swapColour, 2);
    // Away from the face (the crop reaches a little past the square), the picture is untouched.
    let changed = 0;
    for (let y = 0; y < HEIGHT; y++)
      for (let x = 0; x < WIDTH; x++) {
        const near = x >= 96 - 24 && x < 96 + FACE_SQUARE + 24 && y >= 96 - 24 && y < 96 + FACE_SQUARE + 24;
        if (!near && pixel(out, x, y).some((v, c) => Math.abs(v - pixel(input, x, y)[c]) > 1)) changed++;
      }
    expect(changed).toBe(0);
    expect(readdirSync(dir()).filter((f) => f.includes('.partial'))).toEqual([]);
  });

  it('turns a JPEG upright by its EXIF orientation, and writes the format the extension names', async () => {
    // Stored sideways: orientation 6 shows it turned 90° clockwise, 360x640, the square then at (256, 64).
    const sideways = await picture(join(dir(), 'sideways.jpg'), 64, 8, ['-q:v', '2']);
    writeFileSync(sideways, withExifOrientation(readFileSync(sideways), 6));
    for (const [name, codec] of [
      ['upright.jpg', 'mjpeg'],
      ['upright.webp', 'webp'],
    ]) {
      const output = join(dir(), name);
      const result = await run(['-s', source, '-t', sideways, '-o', output]);
      expect(result.stderr).not.toMatch(/error/i);
      expect(result.code).toBe(0);
      const [stream] = await probeStreams(output);
      expect(stream.codec_name).toBe(codec);
      const out = await decode(output);
      expect([out.width, out.height]).toEqual([HEIGHT, WIDTH]);
      expectNear(pixel(out, 256 + 48, 64 + 48), swapColour, 12);
      expectNear(pixel(out, 20, 600), [0, 0, 0], 12);
    }
  });

  it('sizes the output by --output-image-scale, and sets JPEG quality by --output-image-quality', async () => {
    const half = join(dir(), 'half.png');
    expect((await run(['-s', source, '-t', target, '-o', half, '--output-image-scale', '0.5'])).code).toBe(0);
    expect(await decode(half)).toMatchObject({ width: 320, height: 180 });
    const sizes: number[] = [];
    for (const quality of ['10', '95']) {
      const output = join(dir(), `q${quality}.jpg`);
      const result = await run(['-s', source, '-t', target, '-o', output, '--output-image-quality', quality]);
      expect(result.code).toBe(0);
      sizes.push(readFileSync(output).length);
    }
    expect(sizes[0]).toBeLessThan(sizes[1]);
  });

  it('refuses an output that is not an image, in one line, writing nothing', async () => {
    const output = join(dir(), 'photo-out.mp4');
    const result = await run(['-s', source, '-t', target, '-o', output]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `spotfuse: error: the target ${target} is an image: give an image output (.bmp, .jpg, .jpeg, .png, .tif, .tiff, .webp), not ${output}`,
    );
    expect(existsSync(output)).toBe(false);
  });

  it('runs a video with a FaceFusion command line and a facefusion.ini', async () => {
    const video = join(dir(), 'clip.mp4');
    await ffmpeg([
      ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}:r=25:d=0.4`],
      ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}:r=25:d=0.4`],
      ...[
        '-filter_complex',
        '[0:v][1:v]overlay=96:96',
        '-c:v',
        'libx264',
        '-crf',
        '4',
        '-pix_fmt',
        'yuv420p',
      ],
      video,
    ]);
    const ini = join(dir(), 'facefusion.ini');
    writeFileSync(ini, '[face_masker]\nface_mask_blur = 0.2\n[execution]\nexecution_thread_count = 2\n');
    const output = join(dir(), 'clip-out.mp4');
    const result = await run([
      ...['-s', source, '-t', video, '-o', output, '--config-path', ini],
      ...['--processors', 'face_swapper', '--face-mask-types', 'box', '--execution-providers', 'cpu'],
      ...['--temp-path', join(dir(), 'ff-temp'), '--workers', '1'],
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("spotfuse: ignoring FaceFusion's --temp-path");
    expect(await probeFramesPts(output)).toEqual(await probeFramesPts(video));
    const frame = await decode(output);
    expectNear(pixel(frame, 96 + 48, 96 + 48), swapColour, 12);
  });

  it("re-encodes the audio with FaceFusion's --output-audio-encoder and --output-audio-volume", async () => {
    const video = join(dir(), 'tone.mp4');
    await ffmpeg([
      ...[
        '-f',
        'lavfi',
        '-i',
        'color=c=black:s=160x96:r=25:d=0.4',
        '-f',
        'lavfi',
        '-i',
        'sine=f=440:r=48000:d=0.4',
      ],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '192k', video],
    ]);
    const output = join(dir(), 'tone.mkv');
    const result = await run([
      ...['-t', video, '-o', output, '--processors', 'passthrough'],
      ...[
        '--output-audio-encoder',
        'libopus',
        '--output-audio-quality',
        '100',
        '--output-audio-volume',
        '50',
      ],
    ]);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    const audio = (await probeStreams(output)).find((s) => s.codec_type === 'audio');
    expect(audio?.codec_name).toBe('opus');
    // Half the amplitude is 6 dB less.
    const [before, after] = [await meanVolume(video), await meanVolume(output)];
    expect(before - after).toBeCloseTo(6.02, 0);
    const refused = join(dir(), 'tone-flac.mp4');
    const flac = await run([
      '-t',
      video,
      '-o',
      refused,
      '--processors',
      'passthrough',
      '--output-audio-encoder',
      'flac',
    ]);
    expect(flac.code).toBe(1);
    expect(flac.stderr.trim()).toBe(
      'spotfuse: error: .mp4 cannot hold flac audio (--output-audio-encoder flac): use aac, libmp3lame, or another container',
    );
    expect(existsSync(refused)).toBe(false);
  });
});

/** ffmpeg's volumedetect mean volume of the first audio stream, in dB. */
async function meanVolume(path: string): Promise<number> {
  const args = ['-nostdin', '-i', path, '-map', '0:a:0', '-af', 'volumedetect', '-f', 'null', '-'];
  const tool = spawnTool(resolveBinaries().ffmpeg, args, { failure: 'volumedetect' });
  await tool.done;
  const match = /mean_volume: (-?[\d.]+) dB/.exec(tool.stderrTail());
  if (!match) throw new Error(`no mean volume in: ${tool.stderrTail()}`);
  return Number(match[1]);
}
