import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaError } from '../../src/media/errors.js';
import { exifOrientation, withExifOrientation } from '../../src/media/exifOrientation.js';
import { loadImage, loadPicture, loadVideoFrame } from '../../src/vision/image.js';
import { ffmpeg } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { bundledMissing, face } from './testdata.js';

const dir = useTempDir();
const ASTRONAUT = face('astronaut.png');

function pixel(image: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [image.data[i], image.data[i + 1], image.data[i + 2]];
}

function expectColour(actual: number[], expected: number[], tolerance: number): void {
  actual.forEach((value, i) => {
    expect(Math.abs(value - expected[i])).toBeLessThanOrEqual(tolerance);
  });
}

/**
 * What turns the upright picture into the one a camera stores with each EXIF orientation: the inverse
 * of the turn a viewer applies (6 means "turn 90° clockwise to view", so it is stored turned 90°
 * counter-clockwise).
 */
const STORED_AS: Record<number, string | undefined> = {
  1: undefined,
  2: 'hflip',
  3: 'hflip,vflip',
  4: 'vflip',
  5: 'transpose=0',
  6: 'transpose=2',
  7: 'transpose=3',
  8: 'transpose=1',
};

/** The upright picture: 64x32, white in its top-left 32x16 quarter, black elsewhere. */
const UPRIGHT = 'color=c=white:s=32x16,pad=64:32:0:0:black';

/** A JPEG of the upright picture as a camera stores it with this EXIF orientation. */
async function orientedJpeg(orientation: number): Promise<string> {
  const stored = join(dir(), `stored-${orientation}.jpg`);
  const turn = STORED_AS[orientation];
  await ffmpeg([
    ...['-f', 'lavfi', '-i', UPRIGHT, ...(turn ? ['-vf', turn] : [])],
    ...['-frames:v', '1', '-q:v', '2', stored],
  ]);
  const path = join(dir(), `oriented-${orientation}.jpg`);
  await writeFile(path, withExifOrientation(await readFile(stored), orientation));
  return path;
}

/** A one-second 64x48 video of one solid colour, encoded with the given YUV format and matrix. */
async function solidVideo(name: string, colour: string, pixFmt: string, matrix: string, range: string) {
  const path = join(dir(), name);
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=${colour}:s=64x48:r=10:d=1`],
    ...['-vf', `scale=out_color_matrix=${matrix}:out_range=${range}`, '-pix_fmt', pixFmt],
    ...['-colorspace', matrix === 'bt601' ? 'smpte170m' : matrix, '-color_range', range],
    ...['-c:v', 'libx264', '-qp', '0', path],
  ]);
  return path;
}

describe('loadImage', () => {
  it.skipIf(bundledMissing)('decodes a PNG to RGB', async () => {
    const image = await loadImage(ASTRONAUT);
    expect(image.width).toBe(512);
    expect(image.height).toBe(512);
    expect(image.data.length).toBe(512 * 512 * 3);
  });

  for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`turns a JPEG with EXIF orientation ${orientation} upright, whatever the ffmpeg`, async () => {
      const path = await orientedJpeg(orientation);
      expect(await exifOrientation(path)).toBe(orientation);
      const image = await loadImage(path);
      expect([image.width, image.height]).toEqual([64, 32]);
      // Centres of the four quarters: only the top-left one is white.
      expectColour(pixel(image, 16, 8), [255, 255, 255], 8);
      expectColour(pixel(image, 48, 8), [0, 0, 0], 8);
      expectColour(pixel(image, 16, 24), [0, 0, 0], 8);
      expectColour(pixel(image, 48, 24), [0, 0, 0], 8);
    });
  }

  it('rejects what is not an image, in one line', async () => {
    const text = join(dir(), 'notes.txt');
    await writeFile(text, 'hello\n');
    await expect(loadImage(text)).rejects.toThrow(MediaError);
    await expect(loadPicture(text)).rejects.toThrow(/^not an image or a video: /);
    await expect(loadPicture(join(dir(), 'missing.jpg'))).rejects.toThrow(/^input not found: /);
  });
});

describe('loadVideoFrame', () => {
  const cases = [
    { name: 'bt601-tv.mp4', pixFmt: 'yuv420p', matrix: 'bt601', range: 'tv' },
    { name: 'bt709-tv.mp4', pixFmt: 'yuv420p', matrix: 'bt709', range: 'tv' },
    { name: 'bt709-pc.mp4', pixFmt: 'yuvj444p', matrix: 'bt709', range: 'pc' },
    { name: 'bt709-10bit.mp4', pixFmt: 'yuv422p10le', matrix: 'bt709', range: 'tv' },
  ];
  for (const { name, pixFmt, matrix, range } of cases) {
    it(`converts ${pixFmt} ${matrix} ${range} back to the source colour`, async () => {
      const path = await solidVideo(name, '0xC83C50', pixFmt, matrix, range);
      const image = await loadVideoFrame(path, 3);
      expect([image.width, image.height]).toEqual([64, 48]);
      // ffmpeg's own RGB→YUV step is off by a few levels; a wrong matrix or range is off by 10 or more.
      expectColour(pixel(image, 30, 20), [0xc8, 0x3c, 0x50], 5);
    });
  }

  it('refuses a frame past the end', async () => {
    const path = await solidVideo('short.mp4', 'red', 'yuv420p', 'bt601', 'tv');
    await expect(loadVideoFrame(path, 10)).rejects.toThrow(/frame 10 is out of range: .* has 10 frames/);
  });
});
