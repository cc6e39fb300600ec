import { describe, expect, it } from 'vitest';
import { areaMask, convexHull, fillConvexPolygon } from '../../src/vision/areaMask.js';
import type { Point } from '../../src/vision/detectors/detector.js';
import { resizeBilinearBytes } from '../../src/vision/resample.js';
import { LANDMARK_68_FRACTIONS } from '../fixtures/models.js';

const picture = (mask: Float32Array, size: number) =>
  Array.from({ length: size }, (_, y) =>
    Array.from(mask.subarray(y * size, (y + 1) * size), (v) => (v ? '#' : '.')).join(''),
  );

describe('area mask', () => {
  // cv2.fillConvexPoly(mask, cv2.convexHull(points), 1.0) on 12×12 zeros, OpenCV 4.6.
  it('fills a hull as cv2.fillConvexPoly does, edges and clipped corners included', () => {
    const inside = new Float32Array(144);
    fillConvexPolygon(
      inside,
      12,
      convexHull([
        [2, 1],
        [9, 3],
        [7, 10],
        [1, 8],
      ]),
    );
    expect(picture(inside, 12)).toEqual([
      '............',
      '..##........',
      '..######....',
      '..########..',
      '..########..',
      '.########...',
      '.########...',
      '.########...',
      '.########...',
      '...#####....',
      '......##....',
      '............',
    ]);
    const across = new Float32Array(144);
    fillConvexPolygon(
      across,
      12,
      convexHull([
        [-3, 2],
        [14, 5],
        [4, 15],
      ]),
    );
    expect(picture(across, 12)).toEqual([
      '............',
      '............',
      '##..........',
      '######......',
      '##########..',
      '############',
      '############',
      '############',
      '############',
      '.##########.',
      '.#########..',
      '..#######...',
    ]);
  });

  it('outlines the chosen areas of the 68 points, smoothed inside them', () => {
    const size = 256;
    const points = LANDMARK_68_FRACTIONS.map(([x, y]): Point => [x * size, y * size]);
    const upper = areaMask(size, points, ['upper-face']);
    const lower = areaMask(size, points, ['lower-face']);
    const at = (mask: Float32Array, [x, y]: Point) => mask[Math.round(y) * size + Math.round(x)];
    const between = (a: Point, b: Point): Point => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    // Between the eyes: upper face only; the chin's middle: lower face only; far corners: neither.
    expect(at(upper, between(points[39], points[42]))).toBe(1);
    expect(at(lower, between(points[39], points[42]))).toBe(0);
    expect(at(lower, between(points[8], points[57]))).toBeGreaterThan(0.9);
    expect(at(upper, between(points[8], points[57]))).toBe(0);
    expect(at(upper, [2, 2])).toBe(0);
    // The σ 5 smoothing moves the soft edge inside: under ½ at a corner of the outline.
    expect(at(upper, points[0])).toBeLessThan(0.5);
    const both = areaMask(size, points, ['upper-face', 'lower-face']);
    expect(at(both, points[30])).toBe(1);
  });
});

describe('8-bit resize', () => {
  it('matches cv2.resize (INTER_LINEAR) bit for bit, edges included', () => {
    // cv2.resize of this 5×4 RGB image to 11×9, OpenCV 4.6 (its first two rows and last four pixels).
    const source = Uint8Array.from({ length: 60 }, (_, i) => (i * 7) % 256);
    const out = new Uint8Array(11 * 9 * 3);
    resizeBilinearBytes(source, 5, 4, 3, 11, 9, out);
    expect([...out.subarray(0, 66)]).toEqual([
      0, 7, 14, 4, 11, 18, 13, 20, 27, 23, 30, 37, 32, 39, 46, 42, 49, 56, 51, 59, 65, 61, 68, 75, 71, 78, 85,
      80, 87, 94, 84, 91, 98, 17, 24, 31, 21, 28, 35, 31, 38, 45, 40, 47, 54, 50, 57, 64, 59, 66, 73, 69, 76,
      83, 78, 85, 92, 88, 95, 102, 98, 104, 111, 101, 108, 115,
    ]);
    expect([...out.subarray(-12)]).toEqual([120, 127, 134, 130, 136, 143, 139, 146, 153, 143, 150, 157]);
  });
});
