import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtinModels } from '../../src/models/registry.js';
import type { ModelSettings } from '../../src/models/settings.js';
import { DEFAULT_EXECUTION, faceOptionsOf } from '../../src/vision/faceOptions.js';
import type { Frame } from '../../src/vision/frame.js';
import { loadImage } from '../../src/vision/image.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { ENHANCER_MODELS } from '../../src/vision/processors/face_enhancer/models.js';
import { FRAME_ENHANCER_MODELS } from '../../src/vision/processors/frame_enhancer/models.js';
import { rgbToFrame } from '../../src/vision/rgbFrame.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { FAKE_MODELS, type FakeModelName } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHarness, runHeadless, sharedStandIns } from './oracleCases.js';
import { expectLikeFaceFusion, OUTLIERS, TOLERANCE, texturedSquares, writePng } from './pictures.js';

/**
 * The enhancers against FaceFusion 3.8.1: spotfuse's catalogue against FaceFusion's own model sets, read from
 * its modules (every model, so the pixel tests below need only one model of each kind), and the final pixels
 * of one frame enhancer of each tiling and scale (the face enhancers' pixels: pixels.oracle.test.ts).
 */

const dir = useTempDir();

interface FaceFusionModel {
  license: string;
  /** `models-X.Y.Z/<file>`: the release and file it downloads. */
  urls: string[];
  template?: string;
  size: number[];
  scale?: number;
  precision?: string;
}

type ModelSets = Record<'face_enhancer' | 'frame_enhancer', Record<string, FaceFusionModel>>;

/** What spotfuse's catalogue says of a model: its release and file, and its licence. */
function catalogued(name: string) {
  const entry = builtinModels('models-{version}').find((e) => e.name === name);
  return entry && { url: entry.url, license: entry.license };
}

/**
 * One frame enhancer of each tiling (tile, pad, overlap) and scale; the others share one of these exactly
 * (checked against FaceFusion's model set below). real_esrgan_x2 runs in pixels.oracle.test.ts.
 */
const TILED: { model: FakeModelName; blend?: number }[] = [
  { model: 'span_kendata_x4' },
  { model: 'tghq_face_x8' },
  { model: 'real_esrgan_x4', blend: 45 },
  { model: 'real_esrgan_x8_fp16' },
  { model: 'real_web_photo_x4', blend: 100 },
  { model: 'ultra_sharp_2_x4' },
];

describe.skipIf(oracleUnavailable())('enhancers: spotfuse vs FaceFusion 3.8.1', () => {
  let oracle: Oracle;
  let models: ModelSettings;
  let sets: ModelSets;
  let target: string;
  let targetImage: RgbImage;
  const outputs: Record<string, RgbImage> = {};

  beforeAll(async () => {
    const standIns = await sharedStandIns(Object.keys(FAKE_MODELS) as FakeModelName[], dir());
    const fakes = standIns.fakes;
    models = standIns.models;
    oracle = setUpOracle(join(dir(), 'ff'), fakes);
    sets = await runHarness<ModelSets>(oracle, 'model_sets.py', ['face_enhancer', 'frame_enhancer'], dir());
    // Small, so the ×8 outputs stay small, yet several 64- and 128-pixel tiles across and down, two of 256.
    targetImage = texturedSquares(256, 136, [{ x: 100, y: 20, seed: 4 }]);
    target = await writePng(targetImage, join(dir(), 'target'));
    await runHeadless(
      oracle,
      TILED.map(({ model, blend }, i) => [
        '-t',
        target,
        '-o',
        join(dir(), `ff-${i}.png`),
        '--execution-providers',
        'cpu',
        '--processors',
        'frame_enhancer',
        '--frame-enhancer-model',
        model,
        ...(blend === undefined ? [] : ['--frame-enhancer-blend', String(blend)]),
        '--output-image-scale',
        String(FRAME_ENHANCER_MODELS[model].scale),
      ]),
      dir(),
    );
    for (const [i, { model }] of TILED.entries())
      outputs[model] = await loadImage(join(dir(), `ff-${i}.png`));
  }, ORACLE_TIMEOUT);

  it('offers exactly FaceFusion face enhancers, each with its template, size, release and licence', () => {
    const theirs = sets.face_enhancer;
    expect(Object.keys(ENHANCER_MODELS).sort()).toEqual(Object.keys(theirs).sort());
    for (const [name, { template, size, urls, license }] of Object.entries(theirs)) {
      expect(ENHANCER_MODELS[name], name).toEqual({ template, size: size[0] });
      expect(size[1], name).toBe(size[0]);
      expect(catalogued(name), name).toEqual({ url: `${urls[0]}`, license });
    }
  });

  it('offers exactly FaceFusion frame enhancers, each with its tiling, scale, release and licence', () => {
    const theirs = sets.frame_enhancer;
    expect(Object.keys(FRAME_ENHANCER_MODELS).sort()).toEqual(Object.keys(theirs).sort());
    for (const [name, { size, scale, precision, urls, license }] of Object.entries(theirs)) {
      const [tile, pad, overlap] = size;
      expect(FRAME_ENHANCER_MODELS[name], name).toEqual({ tile, pad, overlap, scale });
      expect(catalogued(name), name).toEqual({ url: `${urls[0]}`, license });
      // The stand-ins keep float16 constants exactly for the files FaceFusion marks fp16.
      expect(name.endsWith('_fp16'), name).toBe(precision === 'fp16');
    }
    // The pixel tests below cover every tiling and scale in the set.
    const kinds = (names: string[]) =>
      new Set(names.map((name) => JSON.stringify([theirs[name].size, theirs[name].scale])));
    expect(kinds([...TILED.map((t) => t.model), 'real_esrgan_x2'])).toEqual(kinds(Object.keys(theirs)));
  });

  for (const { model, blend = 80 } of TILED) {
    const { tile, scale } = FRAME_ENHANCER_MODELS[model];
    it(`frame_enhancer ${model} (tiles of ${tile}, x${scale}), blend ${blend}: within ±${TOLERANCE} per channel (${100 - OUTLIERS * 100} % of values)`, async () => {
      const chain = await ProcessorChain.load(['frame_enhancer'], {
        sources: [],
        target,
        face: faceOptionsOf({ frameEnhancer: { model, blend } }),
        execution: DEFAULT_EXECUTION,
        models,
      });
      let frame: Frame;
      try {
        frame = await chain.process(rgbToFrame(targetImage));
      } finally {
        await chain.dispose();
      }
      expectLikeFaceFusion(frame, outputs[model], targetImage);
    });
  }
});
