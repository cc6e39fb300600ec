import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import { DEFAULT_EXECUTION, faceOptionsOf } from '../../src/vision/faceOptions.js';
import type { Frame } from '../../src/vision/frame.js';
import { loadImage } from '../../src/vision/image.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { frameToRgb, rgbToFrame } from '../../src/vision/rgbFrame.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { FAKE_MODELS, type FakeModelName, writeModel } from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHeadless, type SharedModel, sharedModels } from './oracleCases.js';

/**
 * Final pixels: FaceFusion 3.8.1's headless-run on a PNG target against spotfuse's processor chain on the same
 * picture, with the same stand-in models, for every processor and model spotfuse offers and its mask, boost
 * and blend options. spotfuse works on YUV frames: the picture goes in as full-range 10-bit 4:4:4, whose
 * round trip to RGB is exact to well under one step, so what is compared is the processing itself.
 */

const dir = useTempDir();
/**
 * ±2 per channel: FaceFusion's image code runs on Debian's numpy/OpenCV here, and truncates where spotfuse
 * rounds. A few values may differ by more, never more than WORST: OpenCV's warps put their samples on a
 * 1/32-pixel grid, which shows on the stand-ins' steep edges (the occluder is a hard threshold, gfpgan's
 * stand-in a colour negative that doubles the texture's contrast).
 */
const TOLERANCE = 2;
/** Share of channel values allowed beyond ±TOLERANCE. */
const OUTLIERS = 0.001;
const WORST = 6;
async function writePng(image: RgbImage, name: string): Promise<string> {
  const raw = join(dir(), `${name}.rgb`);
  await writeFile(raw, image.data);
  const png = join(dir(), `${name}.png`);
  const size = `${image.width}x${image.height}`;
  await ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', size, '-i', raw, '-frames:v', '1', '-y', png]);
  return png;
}

/**
 * A dark picture (texture under 16) with textured bright squares where the stand-in detectors see faces: the
 * brightest channel stays ≥ 240, the others vary, so warps, masks and blends show in every channel. The
 * texture changes by at most about 12 levels a pixel, as faces do: OpenCV's warps place their samples on a
 * 1/32-pixel grid, so steeper textures differ by more than ±2 from exact sampling.
 */
function texturedSquares(
  width: number,
  height: number,
  squares: { x: number; y: number; size?: number; seed: number }[],
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      data.set([(x * 7) % 17, (y * 5) % 13, ((x + y) * 3) % 11], (y * width + x) * 3);
  }
  for (const { x, y, size = 96, seed } of squares) {
    for (let row = y; row < y + size; row++) {
      for (let col = x; col < x + size; col++) {
        const u = col - x;
        const v = row - y;
        const wave = (a: number) =>
          Math.round(127 + 120 * Math.sin((u * (a + seed)) / 60 + (v * (a + 2 * seed)) / 80));
        data.set([244 + ((u + v + seed) % 12), wave(1), wave(3)], (row * width + col) * 3);
      }
    }
  }
  return { width, height, data };
}

interface PixelCase {
  name: string;
  processors: string[];
  /** FaceFusion's flags beyond the common ones; spotfuse's options are derived from the same values. */
  flags: string[];
  options: Record<string, object>;
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
  ...(['gfpgan_1.4', 'codeformer'] as const).map((model) => ({
    name: `face_enhancer ${model}`,
    processors: ['face_enhancer'],
    flags: ['--face-enhancer-model', model],
    options: { enhancer: { model, blend: 80, weight: 0.5 } },
  })),
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
];

const MODELS: Record<FakeModelName, true> = Object.fromEntries(
  Object.keys(FAKE_MODELS).map((name) => [name, true]),
) as Record<FakeModelName, true>;

describe.skipIf(oracleUnavailable())('final pixels: spotfuse vs FaceFusion 3.8.1 on PNG targets', () => {
  let oracle: Oracle;
  let models: ModelSettings;
  let source: string;
  let target: string;
  let targetImage: RgbImage;
  const outputs: Record<string, RgbImage> = {};

  beforeAll(async () => {
    const fakes = join(dir(), 'fakes');
    const shared: SharedModel[] = [];
    for (const name of Object.keys(MODELS) as FakeModelName[]) {
      shared.push({ name, role: FAKE_MODELS[name].role, path: await writeModel(fakes, name) });
    }
    models = await sharedModels(shared, dir(), fakes);
    oracle = setUpOracle(join(dir(), 'ff'), fakes);
    source = await writePng(texturedSquares(320, 240, [{ x: 96, y: 64, seed: 5 }]), 'source');
    // Three faces, one of them larger, one touching the top and right edges (its crop reaches past them).
    targetImage = texturedSquares(640, 480, [
      { x: 64, y: 96, seed: 1 },
      { x: 256, y: 224, size: 128, seed: 2 },
      { x: 544, y: 0, seed: 3 },
    ]);
    target = await writePng(targetImage, 'target');
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
      const ours = frameToRgb(frame);
      const theirs = outputs[c.name];
      expect([ours.width, ours.height]).toEqual([theirs.width, theirs.height]);
      let worst = 0;
      let worstAt = 0;
      let beyond = 0;
      let changed = 0;
      for (let i = 0; i < ours.data.length; i++) {
        const difference = Math.abs(ours.data[i] - theirs.data[i]);
        if (difference > worst) [worst, worstAt] = [difference, i];
        if (difference > TOLERANCE) beyond++;
        if (theirs.data[i] !== (targetImage.data[i] ?? -1)) changed++;
      }
      const pixel = Math.floor(worstAt / 3);
      const where = `(${pixel % ours.width}, ${Math.floor(pixel / ours.width)}) channel ${worstAt % 3}`;
      expect(changed, 'FaceFusion changed the picture').toBeGreaterThan(1000);
      expect(beyond / ours.data.length, `share of values beyond ±${TOLERANCE}`).toBeLessThanOrEqual(OUTLIERS);
      expect(
        worst,
        `worst at ${where}: ${ours.data[worstAt]} vs FaceFusion ${theirs.data[worstAt]}`,
      ).toBeLessThanOrEqual(WORST);
    });
  }
});
