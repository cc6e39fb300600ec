import { describe, expect, it } from 'vitest';
import { frameByteLength, type PipePixelFormat, planeLayout } from '../../src/media/pixelFormat.js';
import type { VideoColour } from '../../src/media/probe.js';
import { alignFace } from '../../src/vision/alignment.js';
import type { Point } from '../../src/vision/detectors/detector.js';
import { letterbox } from '../../src/vision/detectors/letterbox.js';
import type { Frame } from '../../src/vision/frame.js';
import {
  alignFromFrame,
  frameRegionToRgb,
  frameToRgbScaled,
  pasteIntoFrame,
} from '../../src/vision/frameImage.js';
import { type Affine, applyAffine, invertAffine } from '../../src/vision/geometry.js';
import { boxMask } from '../../src/vision/masks.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { yuvToRgb } from '../../src/vision/yuvToRgb.js';

type Fill = (x: number, y: number) => number;

/** Smooth, in-gamut content on the 8-bit scale: luma 60–180, chroma 128 ± 20. */
const smoothY: Fill = (x, y) =>
  120 + 40 * Math.sin(x / 29) * Math.cos(y / 17) + 15 * Math.sin((x + 2 * y) / 11);
const smoothU: Fill = (x, y) => 128 + 18 * Math.sin(x / 23 + y / 41);
const smoothV: Fill = (x, y) => 128 + 18 * Math.cos(y / 19 - x / 53);

/**
 * A synthetic frame in `fmt`, every sample from the fills (8-bit scale, evaluated at the sample's own
 * luma-grid position), written where planeLayout says. `byteOffset` places the data at an offset of a
 * larger buffer (an odd one cannot be viewed as 16-bit words).
 */
function makeFrame(
  fmt: PipePixelFormat,
  width: number,
  height: number,
  colour: VideoColour = { space: 'bt709', range: 'tv' },
  fills: [Fill, Fill, Fill] = [smoothY, smoothU, smoothV],
  byteOffset = 0,
): Frame {
  const length = frameByteLength(fmt, width, height);
  const data = Buffer.alloc(length + byteOffset).subarray(byteOffset);
  const planes = planeLayout(fmt, width, height);
  planes.forEach((plane, p) => {
    const sx = width / plane.width;
    const sy = height / plane.height;
    for (let y = 0; y < plane.height; y++) {
      for (let x = 0; x < plane.width; x++) {
        const value = fills[p](x * sx, y * sy);
        const at = plane.offset + (y * plane.width + x) * plane.bytesPerSample;
        if (plane.bytesPerSample === 1) data[at] = Math.min(255, Math.max(0, Math.round(value)));
        else data.writeUInt16LE(Math.min(1023, Math.max(0, Math.round(value * 4))), at);
      }
    }
  });
  return { index: 0, width, height, pixFmt: fmt, colour, data };
}

function sample(frame: Frame, p: number, x: number, y: number): number {
  const plane = planeLayout(frame.pixFmt, frame.width, frame.height)[p];
  const at = plane.offset + (y * plane.width + x) * plane.bytesPerSample;
  return plane.bytesPerSample === 1 ? frame.data[at] : frame.data.readUInt16LE(at);
}

function rgbOf(frame: Frame): RgbImage {
  return yuvToRgb(frame.data, frame.pixFmt, frame.width, frame.height, frame.colour);
}

function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak = 255): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((peak * peak) / mse);
}

/** The RGB tensor letterbox makes, back to interleaved 0–255 values over width×height. */
function tensorToRgb(tensor: Float32Array, size: number, width: number, height: number): Float64Array {
  const out = new Float64Array(width * height * 3);
  const area = size * size;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let ch = 0; ch < 3; ch++)
        out[(y * width + x) * 3 + ch] = tensor[ch * area + y * size + x] * 128 + 127.5;
    }
  }
  return out;
}

/** The paste box of FaceFusion's paste_back: the crop corners mapped into the frame, floor/ceil, clipped. */
function pasteBox(frame: Frame, size: number, matrix: Affine): [number, number, number, number] {
  const inverse = invertAffine(matrix);
  const corners = [
    [0, 0],
    [size, 0],
    [size, size],
    [0, size],
  ].map(([x, y]) => applyAffine(inverse, [x, y]));
  const xs = corners.map((c) => c[0]);
  const ys = corners.map((c) => c[1]);
  const clip = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  return [
    clip(Math.floor(Math.min(...xs)), frame.width),
    clip(Math.floor(Math.min(...ys)), frame.height),
    clip(Math.ceil(Math.max(...xs)), frame.width),
    clip(Math.ceil(Math.max(...ys)), frame.height),
  ];
}

/** Every sample of `after` outside the box (luma) or covering no luma pixel of it (chroma) equals `before`. */
function expectOutsideUnchanged(before: Frame, after: Frame, [x1, y1, x2, y2]: number[]): number {
  const planes = planeLayout(before.pixFmt, before.width, before.height);
  let checked = 0;
  planes.forEach((plane, p) => {
    const sx = before.width / plane.width > 1 ? 2 : 1;
    const sy = before.height / plane.height > 1 ? 2 : 1;
    for (let y = 0; y < plane.height; y++) {
      for (let x = 0; x < plane.width; x++) {
        const meets = x * sx < x2 && (x + 1) * sx > x1 && y * sy < y2 && (y + 1) * sy > y1;
        if (meets) continue;
        checked++;
        if (sample(after, p, x, y) !== sample(before, p, x, y)) {
          throw new Error(`plane ${p} sample (${x}, ${y}) outside the box changed`);
        }
      }
    }
  });
  return checked;
}

function cloneFrame(frame: Frame): Frame {
  return { ...frame, data: Buffer.from(frame.data) };
}

/** Landmarks of a face about `width` px wide centred at (cx, cy), turned by `angle` radians. */
function faceAt(cx: number, cy: number, width: number, angle = 0.08): Point[] {
  const unit: Point[] = [
    [-0.2, -0.12],
    [0.2, -0.12],
    [0, 0.05],
    [-0.16, 0.24],
    [0.16, 0.24],
  ];
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return unit.map(([x, y]) => [cx + width * (x * cos - y * sin), cy + width * (x * sin + y * cos)]);
}

const FORMATS: PipePixelFormat[] = [
  'yuv420p',
  'yuv422p',
  'yuv444p',
  'yuv420p10le',
  'yuv422p10le',
  'yuv444p10le',
];

describe('frameToRgbScaled', () => {
  it('matches yuvToRgb of the full frame resized as the detector does (1080p to 640x360)', () => {
    const frame = makeFrame('yuv420p', 1920, 1080);
    const { image, scale } = frameToRgbScaled(frame, 640, 640);
    expect([image.width, image.height, scale]).toEqual([640, 360, 3]);
    const size = { width: 640, height: 640 };
    const spec = { channels: 'rgb' as const, mean: 127.5, std: 128 };
    const reference = tensorToRgb(letterbox(rgbOf(frame), size, spec).tensor, 640, 640, 360);
    expect(psnr(image.data, reference)).toBeGreaterThan(45);
  });

  it.each(FORMATS)('matches at a fractional scale and odd size (%s)', (fmt) => {
    const frame = makeFrame(fmt, 1001, 703, { space: 'bt601', range: 'pc' });
    const { image, scale } = frameToRgbScaled(frame, 640, 640);
    expect(image.width).toBe(640);
    expect(image.height).toBe(Math.round(703 * (640 / 1001)));
    expect(scale).toBeCloseTo(1001 / 640, 12);
    const size = { width: 640, height: 640 };
    const spec = { channels: 'rgb' as const, mean: 127.5, std: 128 };
    // letterbox floors the size (449 rows, 450 here): compare the rows both have.
    const reference = tensorToRgb(letterbox(rgbOf(frame), size, spec).tensor, 640, 640, 449);
    expect(psnr(image.data.subarray(0, 640 * 449 * 3), reference)).toBeGreaterThan(38);
  });

  it('fills a reused array of the right length with the same pixels, and ignores one of another length', () => {
    const frame = makeFrame('yuv420p', 1920, 1080);
    const fresh = frameToRgbScaled(frame, 640, 640).image.data;
    const reuse = new Uint8ClampedArray(640 * 360 * 3).fill(7);
    const reused = frameToRgbScaled(frame, 640, 640, reuse).image.data;
    expect(reused.buffer).toBe(reuse.buffer);
    expect(Buffer.compare(Buffer.from(reused), Buffer.from(fresh))).toBe(0);
    const other = frameToRgbScaled(frame, 640, 640, new Uint8ClampedArray(12)).image.data;
    expect(Buffer.compare(Buffer.from(other), Buffer.from(fresh))).toBe(0);
  });

  it('never enlarges: a small frame comes back as yuvToRgb gives it', () => {
    const frame = makeFrame('yuv420p', 321, 241);
    const { image, scale } = frameToRgbScaled(frame, 640, 640);
    expect([image.width, image.height, scale]).toEqual([321, 241, 1]);
    const reference = rgbOf(frame).data;
    let worst = 0;
    for (let i = 0; i < reference.length; i++)
      worst = Math.max(worst, Math.abs(reference[i] - image.data[i]));
    expect(worst).toBeLessThanOrEqual(1);
  });
});

describe('frameRegionToRgb', () => {
  it.each(FORMATS)('is the same rectangle of yuvToRgb, clipped to the frame (%s)', (fmt) => {
    const frame = makeFrame(fmt, 99, 67, { space: 'bt2020nc', range: 'tv' });
    const full = rgbOf(frame);
    const region = frameRegionToRgb(frame, -5, 20, 40, 100);
    expect([region.width, region.height]).toEqual([35, 47]);
    for (let y = 0; y < region.height; y++) {
      for (let x = 0; x < region.width; x++) {
        for (let ch = 0; ch < 3; ch++) {
          expect(region.data[(y * 35 + x) * 3 + ch]).toBe(full.data[((y + 20) * 99 + x) * 3 + ch]);
        }
      }
    }
    expect(frameRegionToRgb(frame, 120, 0, 10, 10).width).toBe(0);
  });
});

describe('alignFromFrame', () => {
  it.each([
    ['yuv420p', 1280, 720, 'arcface_128', 256],
    ['yuv420p', 1280, 720, 'ffhq_512', 512],
    ['yuv420p10le', 641, 481, 'arcface_128', 256],
    ['yuv422p', 641, 481, 'arcface_112_v2', 112],
    ['yuv444p10le', 641, 481, 'ffhq_512', 512],
  ] as const)(
    'matches alignFace on the RGB frame (%s %ix%i, %s %i)',
    (fmt, width, height, template, size) => {
      const frame = makeFrame(fmt, width, height);
      const landmarks = faceAt(width / 2 + 13, height / 2 - 7, 220);
      const ours = alignFromFrame(frame, landmarks, template, size);
      const reference = alignFace(rgbOf(frame), landmarks, template, size);
      expect(ours.matrix).toEqual(reference.matrix);
      expect([ours.crop.width, ours.crop.height]).toEqual([size, size]);
      expect(psnr(ours.crop.data, reference.crop.data)).toBeGreaterThan(35);
    },
  );

  it('repeats the edge pixels for a face partly outside the frame, as alignFace does', () => {
    const frame = makeFrame('yuv420p', 400, 300);
    const landmarks = faceAt(20, 280, 200, -0.3);
    const ours = alignFromFrame(frame, landmarks, 'ffhq_512', 512);
    const reference = alignFace(rgbOf(frame), landmarks, 'ffhq_512', 512);
    expect(psnr(ours.crop.data, reference.crop.data)).toBeGreaterThan(35);
  });

  it('reads 10-bit data at an odd byte offset', () => {
    const aligned = makeFrame('yuv420p10le', 320, 240);
    const odd = makeFrame('yuv420p10le', 320, 240, undefined, undefined, 1);
    expect(odd.data.byteOffset % 2).toBe(1);
    const landmarks = faceAt(160, 120, 120);
    const a = alignFromFrame(aligned, landmarks, 'arcface_128', 128);
    const b = alignFromFrame(odd, landmarks, 'arcface_128', 128);
    expect(Buffer.compare(a.crop.data, b.crop.data)).toBe(0);
  });
});

describe('pasteIntoFrame', () => {
  it.each([
    ['yuv420p', 1280, 720, 'ffhq_512', 512],
    ['yuv420p', 1280, 720, 'arcface_128', 256],
    ['yuv420p10le', 641, 481, 'arcface_128', 256],
    ['yuv422p10le', 641, 481, 'ffhq_512', 512],
    ['yuv444p', 301, 201, 'arcface_128', 128],
    ['yuv444p10le', 301, 201, 'ffhq_512', 256],
    ['yuv422p', 301, 201, 'arcface_128', 128],
  ] as const)(
    'puts back its own crop almost unchanged and nothing outside the box (%s %ix%i, %s %i)',
    (fmt, width, height, template, size) => {
      // Chroma that changes fast enough for a misplaced chroma sample to show.
      const sharpU: Fill = (x, y) => 128 + 20 * Math.sin(x / 6 + y / 9);
      const sharpV: Fill = (x, y) => 128 + 20 * Math.cos(y / 5 - x / 11);
      const frame = makeFrame(fmt, width, height, undefined, [smoothY, sharpU, sharpV]);
      const before = cloneFrame(frame);
      const { crop, matrix } = alignFromFrame(
        frame,
        faceAt(width / 2, height / 2, width / 4),
        template,
        size,
      );
      pasteIntoFrame(frame, crop, matrix, new Float32Array(size * size).fill(1));
      const [x1, y1, x2, y2] = pasteBox(frame, size, matrix);
      expect(x2 - x1).toBeGreaterThan(10);
      const wide = fmt.endsWith('10le');
      const inBox = (f: Frame) => {
        const values: number[] = [];
        for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) values.push(sample(f, 0, x, y));
        return values;
      };
      expect(psnr(inBox(frame), inBox(before), wide ? 1023 : 255)).toBeGreaterThan(35);
      // Chroma samples around the face centre (the crop covers them), where a misplaced sample shows.
      const chroma = planeLayout(fmt, width, height)[1];
      const xs = width / chroma.width > 1 ? 2 : 1;
      const ys = height / chroma.height > 1 ? 2 : 1;
      for (const p of [1, 2]) {
        const [after, original]: number[][] = [[], []];
        for (let y = Math.ceil((y1 + y2) / 2 / ys - 20); y < (y1 + y2) / 2 / ys + 20; y++) {
          for (let x = Math.ceil((x1 + x2) / 2 / xs - 20); x < (x1 + x2) / 2 / xs + 20; x++) {
            after.push(sample(frame, p, x, y));
            original.push(sample(before, p, x, y));
          }
        }
        expect(psnr(after, original, wide ? 1023 : 255)).toBeGreaterThan(40);
      }
      expect(expectOutsideUnchanged(before, frame, [x1, y1, x2, y2])).toBeGreaterThan(0);
    },
  );

  it.each(FORMATS)('turns the region into a solid crop colour (%s, odd size)', (fmt) => {
    const colour: VideoColour = { space: 'bt709', range: fmt.includes('422') ? 'pc' : 'tv' };
    const frame = makeFrame(fmt, 203, 151, colour);
    const before = cloneFrame(frame);
    const size = 64;
    const crop: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3) };
    for (let i = 0; i < size * size; i++) crop.data.set([200, 50, 80], i * 3);
    const { matrix } = alignFromFrame(frame, faceAt(100, 75, 80), 'arcface_128', size);
    pasteIntoFrame(frame, crop, matrix, new Float32Array(size * size).fill(1));
    // The YUV of (200, 50, 80) by the inverse of yuvToRgb's BT.709 conversion.
    const [kr, kb] = [0.2126, 0.0722];
    const luma = kr * 200 + (1 - kr - kb) * 50 + kb * 80;
    const full = colour.range === 'pc';
    const depth = fmt.endsWith('10le') ? 4 : 1;
    const expected = [
      (full ? luma : (luma * 219) / 255 + 16) * depth,
      ((80 - luma) / (2 * (1 - kb)) / (full ? 1 : 255 / 224) + 128) * depth,
      ((200 - luma) / (2 * (1 - kr)) / (full ? 1 : 255 / 224) + 128) * depth,
    ];
    // Inside the crop, away from its edge where the mask fades into its zero border.
    const inverse = invertAffine(matrix);
    const planes = planeLayout(fmt, 203, 151);
    for (const [cx, cy] of [
      [32, 32],
      [5, 5],
      [58, 10],
      [10, 58],
    ]) {
      const [fx, fy] = applyAffine(inverse, [cx, cy]).map(Math.round);
      planes.forEach((plane, p) => {
        const x = p === 0 ? fx : Math.floor(fx / (203 / plane.width > 1 ? 2 : 1));
        const y = p === 0 ? fy : Math.floor(fy / (151 / plane.height > 1 ? 2 : 1));
        expect(Math.abs(sample(frame, p, x, y) - expected[p])).toBeLessThanOrEqual(0.51 * depth + 0.01);
      });
    }
    const rgb = frameRegionToRgb(
      frame,
      ...(applyAffine(inverse, [32, 32]).map(Math.round) as [number, number]),
      1,
      1,
    );
    for (const [ch, value] of [200, 50, 80].entries())
      expect(Math.abs(rgb.data[ch] - value)).toBeLessThanOrEqual(3);
    expectOutsideUnchanged(before, frame, pasteBox(frame, size, matrix));
  });

  it.each([
    ['yuv420p', 'tv'],
    ['yuv420p10le', 'pc'],
    ['yuv422p', 'pc'],
    ['yuv444p10le', 'tv'],
  ] as const)('samples the crop at the position of each chroma sample (%s, %s)', (fmt, range) => {
    const frame = makeFrame(fmt, 161, 121, { space: 'bt601', range });
    const size = 64;
    // A crop whose colour changes linearly, so that bilinear sampling gives its exact value anywhere.
    const rgbAt = (x: number, y: number) => [30 + 3 * y, 90 + x, 20 + 3 * x];
    const crop: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3) };
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) crop.data.set(rgbAt(x, y), (y * size + x) * 3);
    // Frame → crop: a plain translation by (−37, −23).
    pasteIntoFrame(frame, crop, [1, 0, -37, 0, 1, -23], new Float32Array(size * size).fill(1));
    const [kr, kb] = [0.299, 0.114];
    const full = range === 'pc';
    const depth = fmt.endsWith('10le') ? 4 : 1;
    const yuvAt = (x: number, y: number) => {
      const [r, g, b] = rgbAt(x, y);
      const luma = kr * r + (1 - kr - kb) * g + kb * b;
      const cScale = full ? 1 : 255 / 224;
      return [
        (full ? luma : (luma * 219) / 255 + 16) * depth,
        ((b - luma) / (2 * (1 - kb) * cScale) + 128) * depth,
        ((r - luma) / (2 * (1 - kr) * cScale) + 128) * depth,
      ];
    };
    planeLayout(fmt, 161, 121).forEach((plane, p) => {
      const step = 161 / plane.width > 1 ? 2 : 1;
      const rowStep = 121 / plane.height > 1 ? 2 : 1;
      for (let j = Math.ceil(25 / rowStep); j < 80 / rowStep; j++) {
        for (let i = Math.ceil(39 / step); i < 95 / step; i++) {
          const position = [step * i + (step - 1) / 2 - 37, rowStep * j + (rowStep - 1) / 2 - 23];
          const expected = yuvAt(position[0], position[1])[p];
          expect(Math.abs(sample(frame, p, i, j) - expected)).toBeLessThanOrEqual(0.5 + 1e-6);
        }
      }
    });
  });

  it('feathers with the box mask: the centre takes the crop, the border keeps the frame', () => {
    const frame = makeFrame('yuv420p', 640, 480);
    const before = cloneFrame(frame);
    const size = 256;
    const crop: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3).fill(250) };
    const { matrix } = alignFromFrame(frame, faceAt(320, 240, 200), 'arcface_128', size);
    pasteIntoFrame(frame, crop, matrix, boxMask(size, 0.3, [0, 0, 0, 0]));
    const inverse = invertAffine(matrix);
    const lumaAt = (f: Frame, cx: number, cy: number) => {
      const [x, y] = applyAffine(inverse, [cx, cy]).map(Math.round);
      return sample(f, 0, x, y);
    };
    const white = Math.round((250 * 219) / 255 + 16);
    expect(Math.abs(lumaAt(frame, 128, 128) - white)).toBeLessThanOrEqual(1);
    for (const [cx, cy] of [
      [1, 1],
      [254, 1],
      [1, 254],
      [254, 254],
    ]) {
      expect(Math.abs(lumaAt(frame, cx, cy) - lumaAt(before, cx, cy))).toBeLessThanOrEqual(1);
    }
    // Halfway through the feathered edge, halfway between.
    const edge = lumaAt(frame, 19, 128);
    const original = lumaAt(before, 19, 128);
    expect(edge).toBeGreaterThan(original + 0.3 * (white - original));
    expect(edge).toBeLessThan(original + 0.7 * (white - original));
  });

  it('handles a face partly outside the frame', () => {
    const frame = makeFrame('yuv420p', 321, 241);
    const before = cloneFrame(frame);
    const size = 128;
    const { crop, matrix } = alignFromFrame(frame, faceAt(5, 230, 150, 0.5), 'ffhq_512', size);
    crop.data.fill(0);
    pasteIntoFrame(frame, crop, matrix, new Float32Array(size * size).fill(1));
    const box = pasteBox(frame, size, matrix);
    expect(box[0]).toBe(0);
    expect(box[3]).toBe(241);
    expect(sample(frame, 0, 0, 240)).toBe(16);
    expectOutsideUnchanged(before, frame, box);
  });

  it('writes 10-bit data at an odd byte offset back into the frame', () => {
    const aligned = makeFrame('yuv420p10le', 320, 240);
    const odd = makeFrame('yuv420p10le', 320, 240, undefined, undefined, 1);
    const size = 128;
    const crop: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3).fill(90) };
    const { matrix } = alignFromFrame(aligned, faceAt(160, 120, 120), 'arcface_128', size);
    const mask = boxMask(size, 0.3, [0, 0, 0, 0]);
    pasteIntoFrame(aligned, crop, matrix, mask);
    pasteIntoFrame(odd, crop, matrix, mask);
    expect(Buffer.compare(aligned.data, odd.data)).toBe(0);
    expect(Buffer.compare(aligned.data, makeFrame('yuv420p10le', 320, 240).data)).not.toBe(0);
  });

  it('leaves the frame alone where the mask is 0, and rejects a mask of the wrong size', () => {
    const frame = makeFrame('yuv444p', 200, 150);
    const before = cloneFrame(frame);
    const { crop, matrix } = alignFromFrame(frame, faceAt(100, 75, 90), 'arcface_128', 64);
    crop.data.fill(255);
    pasteIntoFrame(frame, crop, matrix, new Float32Array(64 * 64));
    expect(Buffer.compare(frame.data, before.data)).toBe(0);
    expect(() => pasteIntoFrame(frame, crop, matrix, new Float32Array(10))).toThrow(RangeError);
  });
});
