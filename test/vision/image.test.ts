import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaError } from '../../src/media/errors.js';
import { loadImage, loadPicture, loadVideoFrame } from '../../src/vision/image.js';
import { ffmpeg } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();
const ASTRONAUT = '/work/shared/testdata/faces/astronaut.png';

function pixel(image: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [image.data[i], image.data[i + 1], image.data[i + 2]];
}

function expectColour(actual: number[], expected: number[], tolerance: number): void {
  actual.forEach((value, i) => {
    expect(Math.abs(value - expected[i])).toBeLessThanOrEqual(tolerance);
  });
}

/** A big-endian EXIF APP1 segment holding only the Orientation tag. */
function exifOrientationSegment(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);
  tiff.writeUInt16BE(1, 8);
  tiff.writeUInt16BE(0x0112, 10);
  tiff.writeUInt16BE(3, 12);
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  const header = Buffer.from([0xff, 0xe1, 0, 0, ...Buffer.from('Exif\0\0', 'latin1')]);
  header.writeUInt16BE(2 + 6 + tiff.length, 2);
  return Buffer.concat([header, tiff]);
}

/** A 64x32 JPEG, white on the left half and black on the right, tagged with an EXIF orientation. */
async function orientedJpeg(orientation: number): Promise<string> {
  const plain = join(dir(), `plain-${orientation}.jpg`);
  await ffmpeg([
    ...['-f', 'lavfi', '-i', 'color=c=white:s=32x32,pad=64:32:0:0:black'],
    ...['-frames:v', '1', '-q:v', '2', plain],
  ]);
  const bytes = await readFile(plain);
  const path = join(dir(), `oriented-${orientation}.jpg`);
  await writeFile(
    path,
    Buffer.concat([bytes.subarray(0, 2), exifOrientationSegment(orientation), bytes.subarray(2)]),
  );
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
  it.skipIf(!existsSync(ASTRONAUT))('decodes a PNG to RGB (needs testdata astronaut.png)', async () => {
    const image = await loadImage(ASTRONAUT);
    expect(image.width).toBe(512);
    expect(image.height).toBe(512);
    expect(image.data.length).toBe(512 * 512 * 3);
  });

  it('turns a JPEG upright by its EXIF orientation', async () => {
    const upright = await loadImage(await orientedJpeg(1));
    expect([upright.width, upright.height]).toEqual([64, 32]);
    expectColour(pixel(upright, 8, 16), [255, 255, 255], 8);
    const rotated = await loadImage(await orientedJpeg(6));
    expect([rotated.width, rotated.height]).toEqual([32, 64]);
    expectColour(pixel(rotated, 16, 8), [255, 255, 255], 8);
    expectColour(pixel(rotated, 16, 56), [0, 0, 0], 8);
    const mirrored = await loadImage(await orientedJpeg(2));
    expectColour(pixel(mirrored, 56, 16), [255, 255, 255], 8);
  });

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
