import { describe, expect, it } from 'vitest';
import { frameByteLength, type PipePixelFormat, planeLayout } from '../../src/media/pixelFormat.js';
import type { VideoColour } from '../../src/media/probe.js';
import { rgbToYuvCoefficients, yuvToRgbCoefficients } from '../../src/vision/colourMatrix.js';
import { yuvToRgb } from '../../src/vision/yuvToRgb.js';

type Rgb = [number, number, number];

const FORMATS: PipePixelFormat[] = ['yuv420p', 'yuv444p', 'yuv422p10le', 'yuv444p10le'];

/** Colour spaces as ffprobe names them, with the textbook luma weights (Kr, Kb) of each. */
const SPACES: [string | undefined, number, number][] = [
  ['bt709', 0.2126, 0.0722],
  ['bt470bg', 0.299, 0.114],
  ['smpte170m', 0.299, 0.114],
  ['bt2020nc', 0.2627, 0.0593],
  [undefined, 0.299, 0.114],
];

const COLOURS: Rgb[] = [
  [0, 0, 0],
  [255, 255, 255],
  [200, 50, 80],
  [30, 160, 220],
  [90, 200, 40],
];

/** The Y, Cb, Cr samples of `rgb` by the textbook formulas, at the format's depth, rounded. */
function encode([r, g, b]: Rgb, kr: number, kb: number, full: boolean, depth: number): Rgb {
  const luma = kr * r + (1 - kr - kb) * g + kb * b;
  const cb = (b - luma) / (2 * (1 - kb));
  const cr = (r - luma) / (2 * (1 - kr));
  const y = full ? luma : 16 + (luma * 219) / 255;
  const c = (v: number) => 128 + (full ? v : (v * 224) / 255);
  return [y, c(cb), c(cr)].map((v) => Math.round(v * depth)) as Rgb;
}

/** A solid frame of the samples `yuv`, placed at `byteOffset` of a larger buffer. */
function solid(fmt: PipePixelFormat, width: number, height: number, yuv: Rgb, byteOffset = 0): Buffer {
  const data = Buffer.alloc(frameByteLength(fmt, width, height) + byteOffset).subarray(byteOffset);
  planeLayout(fmt, width, height).forEach((plane, p) => {
    for (let i = 0; i < plane.width * plane.height; i++) {
      if (plane.bytesPerSample === 1) data[plane.offset + i] = yuv[p];
      else data.writeUInt16LE(yuv[p], plane.offset + i * 2);
    }
  });
  return data;
}

describe('yuvToRgb', () => {
  it.each(FORMATS)('gives back the colour the textbook matrices encoded (%s)', (fmt) => {
    const depth = fmt.endsWith('10le') ? 4 : 1;
    for (const [space, kr, kb] of SPACES) {
      for (const range of ['tv', 'pc'] as const) {
        const colour: VideoColour = { space, range };
        for (const rgb of COLOURS) {
          const image = yuvToRgb(
            solid(fmt, 6, 4, encode(rgb, kr, kb, range === 'pc', depth)),
            fmt,
            6,
            4,
            colour,
          );
          expect([image.width, image.height, image.data.length]).toEqual([6, 4, 6 * 4 * 3]);
          for (let i = 0; i < image.data.length; i++) {
            // One step of rounding in Y, Cb and Cr; a quarter of it at 10 bit.
            expect(Math.abs(image.data[i] - rgb[i % 3])).toBeLessThanOrEqual(depth === 1 ? 2 : 1);
          }
        }
      }
    }
  });

  it('reads 10-bit data at an odd byte offset of a larger buffer', () => {
    const colour: VideoColour = { space: 'bt709', range: 'tv' };
    const yuv = encode([200, 50, 80], 0.2126, 0.0722, false, 4);
    const aligned = yuvToRgb(solid('yuv420p10le', 6, 4, yuv), 'yuv420p10le', 6, 4, colour);
    const odd = solid('yuv420p10le', 6, 4, yuv, 1);
    expect(odd.byteOffset % 2).toBe(1);
    expect(Buffer.compare(yuvToRgb(odd, 'yuv420p10le', 6, 4, colour).data, aligned.data)).toBe(0);
  });
});

describe('colourMatrix', () => {
  it.each([1, 4])('rgbToYuvCoefficients inverts yuvToRgbCoefficients (depth %i)', (depth) => {
    for (const space of ['bt709', 'bt601', 'bt2020nc', undefined]) {
      for (const range of ['tv', 'pc'] as const) {
        const forward = rgbToYuvCoefficients({ space, range }, depth);
        const back = yuvToRgbCoefficients({ space, range }, depth);
        for (const [r, g, b] of COLOURS) {
          const luma = forward.kr * r + forward.kg * g + forward.kb * b;
          const y = luma * forward.yMul + forward.yAdd;
          const cb = (b - luma) * forward.uMul + forward.cAdd;
          const cr = (r - luma) * forward.vMul + forward.cAdd;
          const l = y * back.yMul + back.yAdd;
          const u = cb * back.cMul - 128;
          const v = cr * back.cMul - 128;
          expect(l + back.rv * v).toBeCloseTo(r, 9);
          expect(l - back.gu * u - back.gv * v).toBeCloseTo(g, 9);
          expect(l + back.bu * u).toBeCloseTo(b, 9);
        }
      }
    }
  });
});
