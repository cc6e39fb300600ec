import { describe, expect, it } from 'vitest';
import type { DetectorSpec } from '../../src/vision/detectors/detector.js';
import { letterbox } from '../../src/vision/detectors/letterbox.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';

type Spec = Pick<DetectorSpec, 'channels' | 'mean' | 'std'>;

const SPECS: Spec[] = [
  { channels: 'rgb', mean: 0, std: 255 },
  { channels: 'rgb', mean: 127.5, std: 128 },
  { channels: 'bgr', mean: 127.5, std: 128 },
];

/** Every byte value, in a different order on each channel. */
function picture(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + Math.floor(i / 3) * 11) % 256;
  return { width, height, data };
}

/**
 * The tensor of an image that fits: bilinear at scale 1 has every tap weight at 0, so each pixel is
 * (value − mean) / std in float32, and the rest of the canvas is black.
 */
function expected(image: RgbImage, width: number, height: number, { channels, mean, std }: Spec) {
  const area = width * height;
  const tensor = new Float32Array(3 * area).fill((0 - mean) / std);
  const planes = channels === 'rgb' ? [0, area, 2 * area] : [2 * area, area, 0];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      for (let ch = 0; ch < 3; ch++) {
        tensor[planes[ch] + y * width + x] = (image.data[(y * image.width + x) * 3 + ch] - mean) / std;
      }
    }
  }
  return tensor;
}

function expectSameBits(actual: Float32Array, want: Float32Array) {
  expect(actual.length).toBe(want.length);
  expect(Buffer.compare(Buffer.from(actual.buffer), Buffer.from(want.buffer))).toBe(0);
}

describe('letterbox', () => {
  it.each(SPECS)('copies an image that already fits bit for bit (%o)', (spec) => {
    for (const [width, height] of [
      [640, 360],
      [360, 640],
      [640, 640],
      [321, 241],
      [1, 1],
    ]) {
      const image = picture(width, height);
      const result = letterbox(image, { width: 640, height: 640 }, spec);
      expect([result.scaleX, result.scaleY]).toEqual([1, 1]);
      expectSameBits(result.tensor, expected(image, 640, 640, spec));
    }
  });

  it.each(SPECS)('fills a reused tensor exactly as a new one, whatever it held (%o)', (spec) => {
    const into = new Float32Array(3 * 640 * 640).fill(Number.NaN);
    // Each image smaller than the one before in some direction, so stale values lie outside the next.
    for (const [width, height] of [
      [640, 640],
      [640, 360],
      [360, 640],
      [321, 241],
    ]) {
      const image = picture(width, height);
      const result = letterbox(image, { width: 640, height: 640 }, spec, into);
      expect(result.tensor).toBe(into);
      expectSameBits(result.tensor, expected(image, 640, 640, spec));
    }
    expect(() => letterbox(picture(8, 8), { width: 640, height: 640 }, spec, new Float32Array(3))).toThrow(
      RangeError,
    );
  });

  it('shrinks a larger image, aspect kept, to the top left of the black canvas', () => {
    // Each pixel of `small` as a 2x2 block: halved with pixel-centre alignment, every output pixel
    // falls between the 4 pixels of one block, so it is that pixel again.
    const small = picture(32, 16);
    const width = 64;
    const height = 32;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const from = ((y >> 1) * small.width + (x >> 1)) * 3;
        data.set(small.data.subarray(from, from + 3), (y * width + x) * 3);
      }
    }
    const spec = SPECS[1];
    const result = letterbox({ width, height, data }, { width: 32, height: 32 }, spec);
    expect([result.scaleX, result.scaleY]).toEqual([2, 2]);
    expectSameBits(result.tensor, expected(small, 32, 32, spec));
  });
});
