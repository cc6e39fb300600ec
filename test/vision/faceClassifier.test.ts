import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import { alignFace } from '../../src/vision/alignment.js';
import { CLASSIFIER_CROP, categorize, loadFaceClassifier } from '../../src/vision/classifier.js';
import type { Point } from '../../src/vision/detectors/detector.js';
import { requiredModels } from '../../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { classMask, loadFaceParser } from '../../src/vision/faceParser.js';
import { loadFan68From5 } from '../../src/vision/fan68.js';
import {
  drawSquares,
  FACE_LANDMARK_FRACTIONS,
  LANDMARK_68_FRACTIONS,
  squareLandmarks,
  writeModelSet,
} from '../fixtures/models.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

describe('fairface classes', () => {
  it('names the ids as FaceFusion does: both Asian classes asian, ages as range(from, to)', () => {
    expect(categorize(0, 3, 0)).toEqual({ gender: 'male', age: [20, 29], race: 'white' });
    expect(categorize(1, 0, 3)).toEqual({ gender: 'female', age: [0, 2], race: 'asian' });
    expect(categorize(1, 8, 4).race).toBe('asian');
    expect(categorize(0, 9, 6)).toEqual({ gender: 'male', age: [70, 100], race: 'arabic' });
    expect(categorize(0, 1, 5).race).toBe('indian');
  });
});

describe('face parser classes', () => {
  it('marks the pixels whose winning class (the first of equal ones) is chosen', () => {
    // 3 classes × 4 pixels: winners 1, 0 (tie 0/2 goes to 0), 2, 1.
    const scores = Float32Array.of(0, 5, 3, 0, 9, 1, 3, 1, 1, 2, 5, 0);
    expect([...classMask(scores, 3, 4, new Set([1]))]).toEqual([1, 0, 0, 1]);
    expect([...classMask(scores, 3, 4, new Set([0, 2]))]).toEqual([0, 1, 1, 0]);
    expect(() => classMask(scores, 4, 4, new Set([1]))).toThrow(RangeError);
  });
});

describe('classifier, parser and fan_68_5 on their stand-ins', () => {
  let models: ModelSettings;
  beforeAll(async () => {
    const set = await writeModelSet(dir(), ['fairface', 'bisenet_resnet_34', 'fan_68_5']);
    models = await resolveModelSettings({ modelDir: join(dir(), 'models'), modelManifest: set.manifest }, {});
  });

  it('classifies the aligned face (fairface stand-in: by its mean colour)', async () => {
    const classifier = await loadFaceClassifier(models);
    try {
      const classes = [];
      for (const colour of [
        [250, 120, 30],
        [40, 255, 90],
        [90, 40, 250],
      ] as const) {
        const image = drawSquares(256, 256, [{ x: 64, y: 64, colour }]);
        const { template, size } = CLASSIFIER_CROP;
        classes.push(
          await classifier.classifyCrop(alignFace(image, squareLandmarks(64, 64), template, size).crop),
        );
      }
      expect(classes).toEqual([
        { gender: 'male', age: [20, 29], race: 'white' },
        { gender: 'male', age: [40, 49], race: 'black' },
        { gender: 'female', age: [60, 69], race: 'latino' },
      ]);
    } finally {
      await classifier.dispose();
    }
  });

  it('estimates 68 points from 5 in the frame (fan_68_5 stand-in: the square layout)', async () => {
    const fan = await loadFan68From5(models);
    try {
      const [x, y, side] = [100, 40, 150];
      const five = FACE_LANDMARK_FRACTIONS.map(([fx, fy]): Point => [x + fx * side, y + fy * side]);
      const points = await fan.estimate(five);
      expect(points).toHaveLength(68);
      points.forEach(([px, py], i) => {
        expect(px).toBeCloseTo(x + LANDMARK_68_FRACTIONS[i][0] * side, 2);
        expect(py).toBeCloseTo(y + LANDMARK_68_FRACTIONS[i][1] * side, 2);
      });
    } finally {
      await fan.dispose();
    }
  });

  it('masks the chosen regions of a crop (bisenet stand-in: red skin on a dark background)', async () => {
    const crop = drawSquares(128, 128, [{ x: 32, y: 32, size: 64, colour: [250, 60, 40] }]);
    const skin = await loadFaceParser('bisenet_resnet_34', ['skin'], models);
    const nose = await loadFaceParser('bisenet_resnet_34', ['nose'], models);
    try {
      const mask = await skin.mask(crop);
      expect(mask[64 * 128 + 64]).toBe(1);
      expect(mask[5 * 128 + 5]).toBe(0);
      expect(Math.max(...(await nose.mask(crop)))).toBe(0);
    } finally {
      await skin.dispose();
      await nose.dispose();
    }
  });
});

describe('models a job needs for masks and filters', () => {
  it('adds fairface for a filter, the face parser for the region mask, fan_68_5 for the area mask without 2dfan4 (and with it, for the angle)', async () => {
    const { catalog } = await resolveModelSettings({ modelDir: join(dir(), 'catalog') }, {});
    const face = (patch: object) => ({ ...DEFAULT_FACE_OPTIONS, ...patch });
    const needs = (patch: object) => requiredModels(['face_swapper'], face(patch), catalog);
    expect(needs({})).not.toContain('fairface');
    expect(needs({ selector: { ...DEFAULT_FACE_OPTIONS.selector, gender: 'female' } })).toContain('fairface');
    expect(needs({ selector: { ...DEFAULT_FACE_OPTIONS.selector, ageEnd: 30 } })).toContain('fairface');
    const mask = DEFAULT_FACE_OPTIONS.mask;
    expect(needs({ mask: { ...mask, types: ['box', 'region'], parser: 'bisenet_resnet_18' } })).toContain(
      'bisenet_resnet_18',
    );
    expect(needs({ mask: { ...mask, types: ['area'] } })).toContain('fan_68_5');
    expect(needs({ mask: { ...mask, types: ['area'] }, landmarkerScore: 0 })).toContain('fan_68_5');
    expect(needs({ landmarkerScore: 0 })).not.toContain('fan_68_5');
    expect(needs({ mask: { ...mask, types: ['occlusion'], occluder: 'xseg_3' } })).toContain('xseg_3');
    const many = needs({ mask: { ...mask, types: ['occlusion'], occluder: 'many' } });
    expect(many.filter((name) => name.startsWith('xseg'))).toEqual(['xseg_1', 'xseg_2', 'xseg_3']);
  });
});
