import { describe, expect, it } from 'vitest';
import type { Point } from '../../src/vision/detectors/detector.js';
import { type Affine, applyAffine, invertAffine, similarityTransform } from '../../src/vision/geometry.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { templatePoints, WARP_TEMPLATES } from '../../src/vision/templates.js';
import { warpAffine } from '../../src/vision/warp.js';

/** Scale s, counter-clockwise rotation by `degrees`, then translation. */
function similarity(s: number, degrees: number, tx: number, ty: number): Affine {
  const r = (degrees * Math.PI) / 180;
  return [s * Math.cos(r), -s * Math.sin(r), tx, s * Math.sin(r), s * Math.cos(r), ty];
}

function expectMatrix(actual: Affine, expected: Affine, digits = 9): void {
  actual.forEach((value, i) => {
    expect(value).toBeCloseTo(expected[i], digits);
  });
}

/** A smooth 200x160 test image: every channel a different gentle gradient. */
function gradientImage(): RgbImage {
  const width = 200;
  const height = 160;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = x;
      data[i + 1] = y + 40;
      data[i + 2] = 128 + 60 * Math.sin(x / 17) * Math.cos(y / 23);
    }
  }
  return { width, height, data };
}

describe('similarityTransform', () => {
  it('recovers a known rotation, scale and translation exactly', () => {
    const known = similarity(1.7, 23, -40.5, 12.25);
    const from: Point[] = [
      [10, 20],
      [80, 25],
      [45, 60],
      [20, 90],
      [75, 95],
    ];
    const to = from.map((p) => applyAffine(known, p));
    expectMatrix(similarityTransform(from, to), known);
  });

  it('finds the least-squares fit when the points do not fit exactly', () => {
    const known = similarity(0.5, -10, 3, 4);
    const from = templatePoints('arcface_112_v2', 112);
    const noise = [0.4, -0.3, 0.2, -0.1, -0.2];
    const to = from.map((p, i) => {
      const [x, y] = applyAffine(known, p);
      return [x + noise[i], y - noise[i]] as Point;
    });
    const fitted = similarityTransform(from, to);
    const error = (m: Affine) =>
      from.reduce((sum, p, i) => {
        const [x, y] = applyAffine(m, p);
        return sum + (x - to[i][0]) ** 2 + (y - to[i][1]) ** 2;
      }, 0);
    expect(error(fitted)).toBeLessThanOrEqual(error(known));
    expect(fitted[0]).toBeCloseTo(known[0], 1);
    expect(fitted[3]).toBeCloseTo(known[3], 1);
    // Still a similarity: equal scale on both axes, no shear.
    expect(fitted[0]).toBeCloseTo(fitted[4], 12);
    expect(fitted[1]).toBeCloseTo(-fitted[3], 12);
  });

  it('inverts to the identity', () => {
    const m = similarity(2.5, 140, 7, -9);
    const [x, y] = applyAffine(invertAffine(m), applyAffine(m, [13, 37]));
    expect(x).toBeCloseTo(13, 10);
    expect(y).toBeCloseTo(37, 10);
  });
});

describe('warp templates', () => {
  it('hold the published normalised coordinates', () => {
    expect(WARP_TEMPLATES.arcface_112_v2[0]).toEqual([0.34191607, 0.46157411]);
    expect(WARP_TEMPLATES.arcface_112_v2[4]).toEqual([0.63151696, 0.82325089]);
    expect(WARP_TEMPLATES.arcface_128[2]).toEqual([0.50019687, 0.56044219]);
    expect(WARP_TEMPLATES.ffhq_512[1]).toEqual([0.62285697, 0.46912813]);
    expect(WARP_TEMPLATES.arcface_112_v1[3]).toEqual([0.37913393, 0.776875]);
    for (const points of Object.values(WARP_TEMPLATES)) expect(points).toHaveLength(5);
  });

  it('scale to the crop size', () => {
    const [leftEye] = templatePoints('arcface_112_v2', 112);
    expect(leftEye[0]).toBeCloseTo(38.2946, 3);
    expect(leftEye[1]).toBeCloseTo(51.6963, 3);
    expect(templatePoints('ffhq_512', 512)[2][0]).toBeCloseTo(256.634, 3);
  });
});

describe('warpAffine', () => {
  it('is exact for a pure translation by whole pixels', () => {
    const image = gradientImage();
    const crop = warpAffine(image, [1, 0, -30, 0, 1, -20], 50, 40);
    for (const [x, y] of [
      [0, 0],
      [49, 39],
      [17, 23],
    ]) {
      const c = (y * 50 + x) * 3;
      const s = ((y + 20) * image.width + x + 30) * 3;
      expect([...crop.data.subarray(c, c + 3)]).toEqual([...image.data.subarray(s, s + 3)]);
    }
  });

  it('then the inverse warp gives the crop back within tolerance', () => {
    const image = gradientImage();
    // Centred, so that every crop pixel comes from inside the image.
    const turn = similarity(1.3, 25, 0, 0);
    const [cx, cy] = applyAffine(turn, [100, 80]);
    const m: Affine = [turn[0], turn[1], 48 - cx, turn[3], turn[4], 48 - cy];
    const crop = warpAffine(image, m, 96, 96);
    const back = warpAffine(crop, invertAffine(m), image.width, image.height);
    const again = warpAffine(back, m, 96, 96);
    let worst = 0;
    // The outermost ring samples the crop's replicated border, so compare inside it.
    for (let y = 2; y < 94; y++) {
      for (let x = 2; x < 94; x++) {
        for (let ch = 0; ch < 3; ch++) {
          const i = (y * 96 + x) * 3 + ch;
          worst = Math.max(worst, Math.abs(again.data[i] - crop.data[i]));
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(3);
  });

  it('repeats the edge pixels outside the image', () => {
    const image = gradientImage();
    const crop = warpAffine(image, [1, 0, 10, 0, 1, 10], 20, 20);
    expect([...crop.data.subarray(0, 3)]).toEqual([...image.data.subarray(0, 3)]);
  });
});
