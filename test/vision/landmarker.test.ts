import { describe, expect, it } from 'vitest';
import type { Point } from '../../src/vision/detectors/detector.js';
import { applyAffine } from '../../src/vision/geometry.js';
import {
  decodeLandmarks,
  LANDMARKER_SIZE,
  landmarkerMatrix,
  landmarks68to5,
} from '../../src/vision/landmarker.js';

/** Point i of a synthetic 68: (i, 2i), except the ones set by hand. */
function points68(overrides: Record<number, Point> = {}): Point[] {
  return Array.from({ length: 68 }, (_, i) => overrides[i] ?? [i, 2 * i]);
}

describe('landmarks 68 → 5', () => {
  it('takes the eye contour centres, the nose tip and the mouth corners', () => {
    const eyes: Record<number, Point> = {
      36: [100, 200],
      37: [110, 195],
      38: [120, 195],
      39: [130, 200],
      40: [120, 206],
      41: [110, 206],
      42: [170, 201],
      43: [180, 196],
      44: [190, 196],
      45: [200, 201],
      46: [190, 207],
      47: [180, 207],
      30: [150, 250],
      48: [120, 300],
      54: [182, 302],
    };
    const five = landmarks68to5(points68(eyes));
    // (100+110+120+130+120+110)/6 = 115, (200+195+195+200+206+206)/6 = 200.333…
    expect(five[0][0]).toBeCloseTo(115, 10);
    expect(five[0][1]).toBeCloseTo(1202 / 6, 10);
    // (170+180+190+200+190+180)/6 = 185, (201+196+196+201+207+207)/6 = 201.333…
    expect(five[1][0]).toBeCloseTo(185, 10);
    expect(five[1][1]).toBeCloseTo(1208 / 6, 10);
    expect(five.slice(2)).toEqual([
      [150, 250],
      [120, 300],
      [182, 302],
    ]);
  });

  it('copies the points it keeps', () => {
    const points = points68();
    const five = landmarks68to5(points);
    five[2][0] = -1;
    expect(points[30]).toEqual([30, 60]);
  });
});

describe('landmarker crop', () => {
  it('puts the box centre at the crop centre with the longer side 195 px', () => {
    const box: [number, number, number, number] = [300, 100, 400, 250];
    const matrix = landmarkerMatrix(box);
    expect(matrix[1]).toBe(0);
    expect(matrix[3]).toBe(0);
    expect(matrix[0]).toBeCloseTo(195 / 150, 12);
    expect(matrix[4]).toBeCloseTo(195 / 150, 12);
    const centre = applyAffine(matrix, [350, 175]);
    expect(centre[0]).toBeCloseTo(LANDMARKER_SIZE / 2, 10);
    expect(centre[1]).toBeCloseTo(LANDMARKER_SIZE / 2, 10);
    const [top, bottom] = [applyAffine(matrix, [350, 100]), applyAffine(matrix, [350, 250])];
    expect(bottom[1] - top[1]).toBeCloseTo(195, 10);
  });

  it('treats a box thinner than a pixel as one pixel', () => {
    expect(landmarkerMatrix([10, 10, 10.2, 10.5])[0]).toBe(195);
  });

  it('decodes heatmap-grid points back to image pixels, and scores the heatmap peaks', () => {
    const box: [number, number, number, number] = [40, 60, 240, 300];
    const matrix = landmarkerMatrix(box);
    const truth = Array.from({ length: 68 }, (_, i): Point => [60 + 2 * i, 80 + 3 * i]);
    // What 2dfan4 would output for these points: crop coordinates / 4, and a third value it ignores.
    const coords = new Float32Array(68 * 3);
    truth.forEach((point, i) => {
      const [x, y] = applyAffine(matrix, point);
      coords.set([x / 4, y / 4, 0.5], i * 3);
    });
    const heatmaps = new Float32Array(68 * 64 * 64);
    // Peaks of 0.45 everywhere: mean 0.45, stretched from [0, 0.9] → 0.5.
    for (let i = 0; i < 68; i++) heatmaps[i * 4096 + 100 + i] = 0.45;
    for (const outputs of [
      [coords, heatmaps],
      [heatmaps, coords],
    ]) {
      const { points, score } = decodeLandmarks(outputs, matrix);
      expect(score).toBeCloseTo(0.5, 6);
      points.forEach(([x, y], i) => {
        expect(x).toBeCloseTo(truth[i][0], 3);
        expect(y).toBeCloseTo(truth[i][1], 3);
      });
    }
    heatmaps.fill(0.95);
    expect(decodeLandmarks([coords, heatmaps], matrix).score).toBe(1);
    expect(() => decodeLandmarks([coords], matrix)).toThrow('2dfan4: expected outputs');
  });
});
