import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clahe } from '../../src/vision/clahe.js';
import { labToRgb, rgbToLab } from '../../src/vision/labColour.js';
import { optimizeContrast } from '../../src/vision/landmarkerContrast.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * OpenCV's 8-bit Lab conversions and CLAHE against Debian's cv2 (OpenCV 4.6) itself, run through
 * /usr/bin/python3 on the same bytes: every value must be equal.
 */

const PYTHON = '/usr/bin/python3';
const CV2 = `
import sys, numpy, cv2
op, w, h, src, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
if op == 'clahe':
    a = numpy.fromfile(src, numpy.uint8).reshape(h, w)
    out = cv2.createCLAHE(clipLimit = float(sys.argv[6]), tileGridSize = (8, 8)).apply(a)
elif op == 'contrast':
    # FaceFusion 3.8.1's face_landmarker.conditional_optimize_contrast, word for word.
    a = numpy.fromfile(src, numpy.uint8).reshape(h, w, 3)
    a = cv2.cvtColor(a, cv2.COLOR_RGB2Lab)
    if numpy.mean(a[:, :, 0]) < 30:
        a[:, :, 0] = cv2.createCLAHE(clipLimit = 2).apply(a[:, :, 0])
    out = cv2.cvtColor(a, cv2.COLOR_Lab2RGB)
else:
    a = numpy.fromfile(src, numpy.uint8).reshape(h, w, 3)
    out = cv2.cvtColor(a, { 'rgb2lab': cv2.COLOR_RGB2Lab, 'lab2rgb': cv2.COLOR_Lab2RGB }[op])
out.tofile(dst)
`;

function cv2Missing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import numpy, cv2'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'no /usr/bin/python3 with numpy and cv2 (apt-get install python3-opencv)';
  }
}

const dir = useTempDir();
const skip = cv2Missing();
if (skip) console.warn(`cv2 comparisons skipped: ${skip}`);

function cv2(op: string, width: number, height: number, input: Uint8Array, ...rest: string[]): Uint8Array {
  const src = join(dir(), `${op}.in`);
  const dst = join(dir(), `${op}.out`);
  writeFileSync(src, input);
  execFileSync(PYTHON, ['-c', CV2, op, String(width), String(height), src, dst, ...rest], {
    maxBuffer: 1 << 20,
  });
  return new Uint8Array(readFileSync(dst));
}

/** Every 8-bit triple, in order (r fastest... b slowest), as one 4096×4096 picture. */
function everyTriple(): Uint8Array {
  const all = new Uint8Array(3 << 24);
  for (let v = 0, i = 0; v < 1 << 24; v++, i += 3) {
    all[i] = v & 255;
    all[i + 1] = (v >> 8) & 255;
    all[i + 2] = v >> 16;
  }
  return all;
}

/** Where two byte arrays differ: the count, the largest difference and the first place. */
function differences(ours: Uint8Array, theirs: Uint8Array) {
  let count = 0;
  let largest = 0;
  let first = -1;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - theirs[i]);
    if (d > 0) {
      count++;
      largest = Math.max(largest, d);
      if (first < 0) first = i;
    }
  }
  return { count, largest, first };
}

/** A reproducible pseudo-random picture, dark (0–`top`) with a few bright specks. */
function darkPicture(width: number, height: number, channels: number, top: number, seed: number): Uint8Array {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 8;
  };
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // A smooth gradient (tiles see different histograms) with noise, and one pixel in 97 bright.
      const base = ((x * 3 + y * 2) / (width * 3 + height * 2)) * top;
      for (let c = 0; c < channels; c++) {
        const at = (y * width + x) * channels + c;
        out[at] = next() % 97 === 0 ? 150 + (next() % 100) : Math.min(255, Math.floor(base + (next() % 9)));
      }
    }
  }
  return out;
}

describe.skipIf(skip)('OpenCV 8-bit Lab and CLAHE, against cv2', () => {
  for (const [op, convert, what] of [
    ['rgb2lab', rgbToLab, 'RGB → Lab equals cv2.cvtColor(COLOR_RGB2Lab)'],
    ['lab2rgb', labToRgb, 'Lab → RGB equals cv2.cvtColor(COLOR_Lab2RGB)'],
  ] as const) {
    it(`${what} on all 16,777,216 triples`, () => {
      const all = everyTriple();
      const theirs = cv2(op, 4096, 4096, all);
      const ours = new Uint8Array(all.length);
      convert(all, ours);
      expect(differences(ours, theirs)).toEqual({ count: 0, largest: 0, first: -1 });
    }, 120_000);
  }

  it('CLAHE equals cv2.createCLAHE(clipLimit).apply: tiles dividing the plane or not, clip limits 2, 40 and 0.1', () => {
    const cases = [
      { width: 256, height: 256, limit: 2 },
      { width: 257, height: 255, limit: 2 },
      { width: 100, height: 77, limit: 40 },
      { width: 64, height: 48, limit: 0.1 },
    ];
    for (const [n, { width, height, limit }] of cases.entries()) {
      const plane = darkPicture(width, height, 1, 40, n + 1);
      const theirs = cv2('clahe', width, height, plane, String(limit));
      const ours = clahe(plane, width, height, limit);
      expect(differences(ours, theirs), `${width}x${height} at ${limit}`).toEqual({
        count: 0,
        largest: 0,
        first: -1,
      });
      // The equalisation does something: the dark plane is stretched.
      expect(Math.max(...ours)).toBeGreaterThan(Math.max(...plane.filter((v) => v < 60)));
    }
  });

  it("FaceFusion's contrast step: a dark crop is equalised, a bright one only goes through Lab and back", () => {
    for (const [top, seed] of [
      [30, 7],
      [200, 8],
    ]) {
      const crop = darkPicture(256, 256, 3, top, seed);
      const theirs = cv2('contrast', 256, 256, crop);
      const ours = { width: 256, height: 256, data: crop.slice() };
      optimizeContrast(ours);
      expect(differences(ours.data, theirs), `pixels up to ${top}`).toEqual({
        count: 0,
        largest: 0,
        first: -1,
      });
      const mean = (data: Uint8Array) => data.reduce((sum, v) => sum + v, 0) / data.length;
      if (top === 30) expect(mean(ours.data)).toBeGreaterThan(mean(crop) + 10);
      else expect(Math.abs(mean(ours.data) - mean(crop))).toBeLessThan(1);
    }
  });
});
