import { join } from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import { DEFAULT_EXECUTION, faceOptionsOf } from '../../src/vision/faceOptions.js';
import type { Frame } from '../../src/vision/frame.js';
import { loadImage } from '../../src/vision/image.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { rgbToFrame } from '../../src/vision/rgbFrame.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { FAKE_MODELS, type FakeModelName } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHeadless, sharedStandIns } from './oracleCases.js';
import { expectLikeFaceFusion, OUTLIERS, TOLERANCE, texturedSquares, writePng } from './pictures.js';

/**
 * Final pixels: FaceFusion 3.8.1's headless-run on a PNG target against spotfuse's processor chain on the same
 * picture, with the same stand-in models, for every processor and model spotfuse offers and its mask, boost
 * and blend options (the frame enhancers' tilings: frameEnhancer.oracle.test.ts).
 */

const dir = useTempDir();

interface PixelCase {
  name: string;
  processors: string[];
  /** FaceFusion's flags beyond the common ones; spotfuse's options are derived from the same values. */
  flags: string[];
  options: Record<string, unknown>;
}

const SELECT_MANY = { selector: { mode: 'many' } };

const CASES: PixelCase[] = [
  ...(['inswapper_128', 'inswapper_128_fp16', 'hyperswap_1a_256'] as const).map((model) => ({
    name: `face_swapper ${model}`,
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', model],
    options: { swapper: { model } },
  })),
  {
    name: 'face_swapper inswapper_128, pixel boost 256, box blur 0.5 and padding',
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', 'inswapper_128', '--face-swapper-pixel-boost', '256x256'].concat([
      '--face-mask-blur',
      '0.5',
      '--face-mask-padding',
      '10',
      '20',
      '0',
      '5',
    ]),
    options: {
      swapper: { model: 'inswapper_128', pixelBoost: '256x256' },
      mask: { types: ['box'], blur: 0.5, padding: [10, 20, 0, 5] },
    },
  },
  {
    name: 'face_swapper hyperswap_1a_256, pixel boost 512, box and occlusion masks',
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', 'hyperswap_1a_256', '--face-swapper-pixel-boost', '512x512'].concat([
      '--face-mask-types',
      'box',
      'occlusion',
    ]),
    options: {
      swapper: { model: 'hyperswap_1a_256', pixelBoost: '512x512' },
      mask: { types: ['box', 'occlusion'], blur: 0.3, padding: [0, 0, 0, 0] },
    },
  },
  {
    name: 'face_swapper inswapper_128, occlusion mask only, no blur',
    processors: ['face_swapper'],
    flags: [
      '--face-swapper-model',
      'inswapper_128',
      '--face-mask-types',
      'occlusion',
      '--face-mask-blur',
      '0',
    ],
    options: {
      swapper: { model: 'inswapper_128' },
      mask: { types: ['occlusion'], blur: 0, padding: [0, 0, 0, 0] },
    },
  },
  {
    name: 'face_swapper inswapper_128, box and occlusion masks, every occluder (many)',
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', 'inswapper_128', '--face-mask-types', 'box', 'occlusion'].concat([
      '--face-occluder-model',
      'many',
    ]),
    options: {
      swapper: { model: 'inswapper_128' },
      mask: { types: ['box', 'occlusion'], occluder: 'many' },
    },
  },
  {
    name: 'face_swapper hyperswap_1a_256, box and region masks (bisenet_resnet_18)',
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', 'hyperswap_1a_256', '--face-mask-types', 'box', 'region'].concat([
      '--face-parser-model',
      'bisenet_resnet_18',
    ]),
    options: {
      swapper: { model: 'hyperswap_1a_256' },
      mask: { types: ['box', 'region'], parser: 'bisenet_resnet_18' },
    },
  },
  {
    name: 'face_swapper hyperswap_1a_256, area mask (upper-face, lower-face) and region mask (three classes)',
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', 'hyperswap_1a_256', '--face-mask-types', 'area', 'region'].concat([
      '--face-mask-areas',
      'upper-face',
      'lower-face',
      '--face-mask-regions',
      'skin',
      'nose',
      'lower-lip',
    ]),
    options: {
      swapper: { model: 'hyperswap_1a_256' },
      mask: {
        types: ['area', 'region'],
        areas: ['upper-face', 'lower-face'],
        regions: ['skin', 'nose', 'lower-lip'],
      },
    },
  },
  {
    name: 'face_swapper hyperswap_1a_256, box and area masks, landmarker off (fan_68_5)',
    processors: ['face_swapper'],
    flags: ['--face-swapper-model', 'hyperswap_1a_256', '--face-mask-types', 'box', 'area'].concat([
      '--face-landmarker-score',
      '0',
    ]),
    options: {
      swapper: { model: 'hyperswap_1a_256' },
      landmarkerScore: 0,
      mask: { types: ['box', 'area'] },
    },
  },
  // One face enhancer of each template and size (gfpgan_1.2/1.3, gpen_bfr_512 and restoreformer_plus_plus are
  // gfpgan_1.4's: ffhq_512 at 512, the same input and output).
  ...(['gfpgan_1.4', 'codeformer', 'gpen_bfr_256', 'gpen_bfr_1024', 'gpen_bfr_2048'] as const).map(
    (model) => ({
      name: `face_enhancer ${model}`,
      processors: ['face_enhancer'],
      flags: ['--face-enhancer-model', model],
      options: { enhancer: { model, blend: 80, weight: 0.5 } },
    }),
  ),
  {
    name: 'face_enhancer codeformer, blend 35, weight 0.9',
    processors: ['face_enhancer'],
    flags: [
      '--face-enhancer-model',
      'codeformer',
      '--face-enhancer-blend',
      '35',
      '--face-enhancer-weight',
      '0.9',
    ],
    options: { enhancer: { model: 'codeformer', blend: 35, weight: 0.9 } },
  },
  {
    name: 'face_swapper then face_enhancer',
    processors: ['face_swapper', 'face_enhancer'],
    flags: ['--face-swapper-model', 'hyperswap_1a_256', '--face-enhancer-model', 'gfpgan_1.4'],
    options: {
      swapper: { model: 'hyperswap_1a_256' },
      enhancer: { model: 'gfpgan_1.4', blend: 80, weight: 0.5 },
    },
  },
  {
    name: 'frame_enhancer real_esrgan_x2, blend 60, output scale 2',
    processors: ['frame_enhancer'],
    flags: [
      '--frame-enhancer-model',
      'real_esrgan_x2',
      '--frame-enhancer-blend',
      '60',
      '--output-image-scale',
      '2',
    ],
    options: { frameEnhancer: { model: 'real_esrgan_x2', blend: 60 } },
  },
  ...swapperCases(),
];

/**
 * One case per face swapper family (source as embedding, converted embedding or face image; each template,
 * normalisation and output range), every model at least once, pixel boosts, and `--face-swapper-weight` on
 * each kind of embedding it mixes (ghost's raw target embedding, the others' normalised one).
 */
function swapperCases(): PixelCase[] {
  const swap = (model: string, extra: { boost?: string; weight?: number } = {}): PixelCase => {
    const { boost, weight } = extra;
    const flags = ['--face-swapper-model', model];
    if (boost) flags.push('--face-swapper-pixel-boost', boost);
    if (weight !== undefined) flags.push('--face-swapper-weight', String(weight));
    const described = [boost && `pixel boost ${boost}`, weight !== undefined && `weight ${weight}`];
    return {
      name: [`face_swapper ${model}`, ...described.filter(Boolean)].join(', '),
      processors: ['face_swapper'],
      flags,
      options: {
        swapper: { model, ...(boost ? { pixelBoost: boost } : {}), weight: weight ?? 0.5 },
      },
    };
  };
  return [
    swap('blendswap_256'),
    swap('blendswap_256', { boost: '512x512', weight: 0.1 }),
    swap('ghost_1_256'),
    swap('ghost_2_256', { weight: 0.2 }),
    swap('ghost_3_256', { boost: '512x512' }),
    swap('hififace_unofficial_256', { weight: 0.85 }),
    swap('hyperswap_1b_256', { weight: 0 }),
    swap('hyperswap_1c_256'),
    swap('inswapper_128', { weight: 1 }),
    swap('simswap_256'),
    swap('simswap_256', { weight: 0.3 }),
    swap('simswap_unofficial_512'),
    swap('uniface_256'),
    swap('uniface_256', { boost: '768x768' }),
  ];
}

describe.skipIf(oracleUnavailable())('final pixels: spotfuse vs FaceFusion 3.8.1 on PNG targets', () => {
  let oracle: Oracle;
  let models: ModelSettings;
  let source: string;
  let target: string;
  let targetImage: RgbImage;
  const outputs: Record<string, RgbImage> = {};

  beforeAll(async () => {
    const standIns = await sharedStandIns(Object.keys(FAKE_MODELS) as FakeModelName[], dir());
    const fakes = standIns.fakes;
    models = standIns.models;
    oracle = setUpOracle(join(dir(), 'ff'), fakes);
    source = await writePng(texturedSquares(320, 240, [{ x: 96, y: 64, seed: 5 }]), join(dir(), 'source'));
    // Three faces, one of them larger, one touching the top and right edges (its crop reaches past them).
    targetImage = texturedSquares(640, 480, [
      { x: 64, y: 96, seed: 1 },
      { x: 256, y: 224, size: 128, seed: 2 },
      { x: 544, y: 0, seed: 3 },
    ]);
    target = await writePng(targetImage, join(dir(), 'target'));
    const common = [
      '-s',
      source,
      '-t',
      target,
      '--execution-providers',
      'cpu',
      '--face-selector-mode',
      'many',
    ];
    await runHeadless(
      oracle,
      CASES.map((c, i) => [
        ...common,
        '-o',
        join(dir(), `ff-${i}.png`),
        '--processors',
        ...c.processors,
        ...c.flags,
      ]),
      dir(),
    );
    for (const [i, c] of CASES.entries()) outputs[c.name] = await loadImage(join(dir(), `ff-${i}.png`));
  }, ORACLE_TIMEOUT);

  for (const c of CASES) {
    it(`${c.name}: within ±${TOLERANCE} per channel (${100 - OUTLIERS * 100} % of values)`, async () => {
      const chain = await ProcessorChain.load(c.processors, {
        sources: [source],
        target,
        face: faceOptionsOf({ ...c.options, selector: { ...SELECT_MANY.selector } }),
        execution: DEFAULT_EXECUTION,
        models,
      });
      let frame: Frame;
      try {
        frame = await chain.process(rgbToFrame(targetImage));
      } finally {
        await chain.dispose();
      }
      expectLikeFaceFusion(frame, outputs[c.name], targetImage);
    });
  }
});
