import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import { FACE_MASK_AREAS, type FaceMaskArea, type FaceMaskRegion } from '../../src/vision/analysisOptions.js';
import { areaMask } from '../../src/vision/areaMask.js';
import type { Point } from '../../src/vision/detectors/detector.js';
import { loadFaceParser } from '../../src/vision/faceParser.js';
import { loadImage } from '../../src/vision/image.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { LANDMARK_68_FRACTIONS, writeModel } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHarness, sharedModels } from './oracleCases.js';
import { texturedSquares, writePng } from './pictures.js';

/**
 * The area and region masks, value by value: FaceFusion 3.8.1's create_area_mask and create_region_mask
 * (test/oracle/harness/create_masks.py) against spotfuse's on the same landmarks and the same crops, with
 * the stand-in bisenet.
 */

const dir = useTempDir();

/** The stand-in face layout, scaled, rotated and moved into a crop of `size`. */
function layout(size: number, scale: number, angle: number, [dx, dy]: Point): Point[] {
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  return LANDMARK_68_FRACTIONS.map(([fx, fy]) => {
    const [x, y] = [(fx - 0.5) * scale * size, (fy - 0.5) * scale * size];
    return [size / 2 + dx + x * cos - y * sin, size / 2 + dy + x * sin + y * cos];
  });
}

/** 68 points scattered over a crop of `size` (a seeded LCG), some past its edges. */
function scattered(size: number, seed: number): Point[] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from(
    { length: 68 },
    (): Point => [next() * size * 1.2 - size * 0.1, next() * size * 1.2 - size * 0.1],
  );
}

function worstDifference(ours: Float32Array, theirs: number[]): { worst: number; at: number } {
  expect(ours.length).toBe(theirs.length);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < ours.length; i++) {
    const difference = Math.abs(ours[i] - theirs[i]);
    if (difference > worst) [worst, at] = [difference, i];
  }
  return { worst, at };
}

describe.skipIf(oracleUnavailable())('crop masks: spotfuse vs FaceFusion 3.8.1', () => {
  let oracle: Oracle;
  let models: ModelSettings;

  beforeAll(async () => {
    const fakes = join(dir(), 'fakes');
    const path = await writeModel(fakes, 'bisenet_resnet_34');
    models = await sharedModels([{ name: 'bisenet_resnet_34', role: 'face_parser', path }], dir(), fakes);
    oracle = setUpOracle(join(dir(), 'ff'), fakes);
  }, ORACLE_TIMEOUT);

  it(
    'area masks: the same values for every area, face layout and crop size',
    async () => {
      const areaSets: FaceMaskArea[][] = [...FACE_MASK_AREAS.map((area) => [area]), [...FACE_MASK_AREAS]];
      const faces = [
        { size: 256, points: layout(256, 0.8, 0, [0.3, -0.7]) },
        { size: 128, points: layout(128, 0.9, 0.35, [3.5, 1.25]) },
        { size: 512, points: layout(512, 0.7, -1.2, [-10.6, 20.2]) },
        { size: 256, points: layout(256, 1.3, 2.9, [40.5, -30.5]) },
        { size: 256, points: scattered(256, 7) },
        { size: 128, points: scattered(128, 11) },
      ];
      const cases = faces.flatMap(({ size, points }) =>
        areaSets.map((areas) => ({ kind: 'area', size, landmarks68: points, areas })),
      );
      const theirs = await runHarness<number[][]>(oracle, 'create_masks.py', cases, dir());
      cases.forEach(({ size, landmarks68, areas }, i) => {
        const ours = areaMask(size, landmarks68, areas);
        // A small mouth alone may blur away; the whole face never does.
        if (areas.length > 1)
          expect(
            theirs[i].some((v) => v > 0.5),
            `case ${i}: a mask`,
          ).toBe(true);
        const { worst, at } = worstDifference(ours, theirs[i]);
        expect
          .soft(worst, `case ${i} (${size}, ${areas}) at (${at % size}, ${Math.floor(at / size)})`)
          .toBeLessThan(1e-5);
      });
    },
    ORACLE_TIMEOUT,
  );

  it(
    'region masks: the same values for each set of regions and crop size',
    async () => {
      const crops: { size: number; image: RgbImage; png: string }[] = [];
      for (const [i, size] of [128, 512].entries()) {
        const side = Math.round(size * 0.6);
        const image = texturedSquares(size, size, [
          { x: Math.round(size * 0.2), y: Math.round(size * 0.15), size: side, seed: i + 1 },
        ]);
        crops.push({ size, image, png: await writePng(image, join(dir(), `crop-${size}`)) });
      }
      const regionSets: FaceMaskRegion[][] = [['skin'], ['nose', 'lower-lip'], ['skin', 'nose', 'mouth']];
      const cases = crops.flatMap(({ png }) =>
        regionSets.map((regions) => ({ kind: 'region', crop: png, regions, parser: 'bisenet_resnet_34' })),
      );
      const theirs = await runHarness<number[][]>(oracle, 'create_masks.py', cases, dir());
      let at = 0;
      for (const { size, png } of crops) {
        const image = await loadImage(png);
        for (const regions of regionSets) {
          const parser = await loadFaceParser('bisenet_resnet_34', regions, models);
          try {
            const ours = await parser.mask(image);
            const mask = theirs[at++];
            const inside = mask.filter((v) => v > 0.5).length / mask.length;
            expect.soft(inside, `${size}, ${regions}: share inside`).toBeGreaterThan(0.001);
            expect.soft(inside, `${size}, ${regions}: share inside`).toBeLessThan(0.9);
            const { worst } = worstDifference(ours, mask);
            expect(worst, `${size}, ${regions}`).toBeLessThan(1e-4);
          } finally {
            await parser.dispose();
          }
        }
      }
    },
    ORACLE_TIMEOUT,
  );
});
