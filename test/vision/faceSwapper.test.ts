import { InferenceSession } from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { builtinModels } from '../../src/models/registry.js';
import type { Frame } from '../../src/vision/frame.js';
import { applyAffine, invertAffine, similarityTransform } from '../../src/vision/geometry.js';
import type { Processor } from '../../src/vision/processor.js';
import { FaceSwapperProcessor } from '../../src/vision/processors/face_swapper/faceSwapper.js';
import { SWAPPER_MODELS, swapperFiles } from '../../src/vision/processors/face_swapper/swapperModels.js';
import { inswapperSource, targetShare } from '../../src/vision/processors/face_swapper/swapperSource.js';
import { templatePoints } from '../../src/vision/templates.js';
import {
  type ConverterName,
  converterOutput,
  inswapperSource as expectedInswapperSource,
  FAKE_MODELS,
  type FakeModelName,
  inswapperEmap,
  type StandInSwapperName,
  type SwapperName,
  standInSwap,
  swapperColour,
  swapperWeights,
} from '../fixtures/models.js';
import { OnnxGraph, toFloat16Bits } from '../helpers/onnx/graph.js';
import { useTempDir } from '../helpers/tempDir.js';
import {
  fakeShared,
  makeFrame,
  processorOptions,
  type Rgb,
  rgbToYuv,
  sourceFace,
  squareFace,
  yuvAt,
} from './processorHarness.js';

const dir = useTempDir();

/** The prototype every onnxruntime session's `run` comes from, to count model calls. */
const sessionPrototype = () => (InferenceSession as unknown as { prototype: InferenceSession }).prototype;
let loaded: Processor[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(loaded.map((p) => p.dispose()));
  loaded = [];
});

/**
 * The fixtures' fake inswapper (every pixel sigmoid(0.5 · (source · emap) · W)) with its emap as the
 * graph's LAST initializer, as in the real file, where FaceFusion reads it (model_helper.py).
 */
function inswapperEmapLast(fp16: boolean): OnnxGraph {
  const g = new OnnxGraph('inswapper_emap_last');
  const target = g.input('target', 'float32', [1, 3, 128, 128]);
  const source = g.input('source', 'float32', [1, 512]);
  const half = g.scalar(0.5);
  const zero = g.scalar(0);
  const shape = g.int64s([1, 3, 1, 1]);
  let projection: string;
  let emap: string;
  if (fp16) {
    projection = g.initializer('projection', toFloat16Bits(swapperWeights()), [512, 3], 'float16');
    emap = g.initializer('emap', toFloat16Bits(inswapperEmap()), [512, 512], 'float16');
    projection = g.op('Cast', [projection], { to: 1 });
    emap = g.op('Cast', [emap], { to: 1 });
  } else {
    projection = g.initializer('projection', swapperWeights(), [512, 3]);
    emap = g.initializer('emap', inswapperEmap(), [512, 512]);
  }
  const logits = g.op('MatMul', [g.op('MatMul', [source, emap]), projection]);
  const colour = g.op('Sigmoid', [g.op('Mul', [logits, half])]);
  g.node('Add', [g.op('Mul', [target, zero]), g.op('Reshape', [colour, shape])], ['output']);
  g.output('output', 'float32', [1, 3, 128, 128]);
  return g;
}

/**
 * A swapper that ignores its inputs and paints a ramp: red = column / 127, green = row / 127 of its
 * own 128×128 output. Through strided pixel-boost tiles the ramps stay smooth across the crop; block
 * tiles would repeat them (a saw tooth).
 */
function rampSwapper(): OnnxGraph {
  const g = new OnnxGraph('ramp_swapper');
  const target = g.input('target', 'float32', [1, 3, 128, 128]);
  const source = g.input('source', 'float32', [1, 512]);
  const ramp = new Float32Array(3 * 128 * 128);
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x < 128; x++) {
      ramp[y * 128 + x] = x / 127;
      ramp[128 * 128 + y * 128 + x] = y / 127;
      ramp[2 * 128 * 128 + y * 128 + x] = 0.5;
    }
  }
  const zero = g.scalar(0);
  const tied = g.op('Add', [g.op('Mul', [target, zero]), g.op('Mul', [g.op('ReduceMean', [source]), zero])]);
  g.node('Add', [tied, g.constant(ramp, [1, 3, 128, 128])], ['output']);
  g.output('output', 'float32', [1, 3, 128, 128]);
  return g;
}

const WIDTH = 320;
const HEIGHT = 240;
const FACE = { x: 100, y: 60, size: 120 };
/** A gentle gradient, so that an unchanged pixel is told apart from a repainted one. */
const background = (x: number, y: number): Rgb => [60 + x / 8, 70 + y / 8, 90 + (x + y) / 16];
const bright = (x: number, y: number): Rgb => [200 + x / 32, 190 + y / 32, 180];

function frameWithFace(paint = background): Frame {
  const frame = makeFrame(WIDTH, HEIGHT, paint);
  frame.faces = [squareFace(FACE.x, FACE.y, FACE.size)];
  return frame;
}

/** The crop's bounding box in the frame, one pixel wider all round. */
function pastedBox(size: number): [number, number, number, number] {
  const face = squareFace(FACE.x, FACE.y, FACE.size);
  const inverse = invertAffine(similarityTransform(face.landmarks, templatePoints('arcface_128', size)));
  const corners = [
    [0, 0],
    [size, 0],
    [0, size],
    [size, size],
  ].map((p) => applyAffine(inverse, p as [number, number]));
  const xs = corners.map(([x]) => x);
  const ys = corners.map(([, y]) => y);
  return [
    Math.floor(Math.min(...xs)) - 1,
    Math.floor(Math.min(...ys)) - 1,
    Math.ceil(Math.max(...xs)) + 1,
    Math.ceil(Math.max(...ys)) + 1,
  ];
}

/** The face centre: the nose landmark. */
const centre = () => squareFace(FACE.x, FACE.y, FACE.size).landmarks[2].map(Math.round) as [number, number];

function expectColourNear(frame: Frame, rgb: Rgb, tolerance = 1.5): void {
  const [cx, cy] = centre();
  const want = rgbToYuv(rgb);
  for (const [dx, dy] of [
    [0, 0],
    [-6, -4],
    [6, 4],
    [4, -6],
  ]) {
    const got = yuvAt(frame, cx + dx, cy + dy);
    for (let c = 0; c < 3; c++) expect(Math.abs(got[c] - want[c])).toBeLessThanOrEqual(tolerance);
  }
}

const toRgb = (colour: number[]): Rgb => colour.map((c) => Math.round(c * 255)) as Rgb;

async function loadSwapper(
  model: string,
  face: Parameters<typeof processorOptions>[2] = {},
  source = sourceFace(),
  graph?: OnnxGraph,
) {
  const names: FakeModelName[] = ['xseg_1'];
  if (model in FAKE_MODELS && !model.startsWith('inswapper')) names.push(model as FakeModelName);
  const converter = CONVERTERS[model];
  if (converter) names.push(converter);
  const extra = model.startsWith('inswapper')
    ? {
        [model]: { role: 'face_swapper' as const, graph: graph ?? inswapperEmapLast(model.endsWith('fp16')) },
      }
    : {};
  const options = await processorOptions(
    dir(),
    names,
    { ...face, swapper: { model, ...face.swapper } },
    extra,
  );
  const swapper = new FaceSwapperProcessor();
  loaded.push(swapper);
  const shared = fakeShared(source);
  await swapper.load(options, shared);
  return { swapper, shared };
}

describe('inswapperSource', () => {
  it('is (embedding · emap) / ‖embedding‖', () => {
    const { raw } = sourceFace(3);
    const got = inswapperSource(raw, { name: 'emap', dims: [512, 512], data: inswapperEmap() });
    const want = expectedInswapperSource(raw);
    for (let i = 0; i < 512; i++) expect(got[i]).toBeCloseTo(want[i], 5);
  });

  it('rejects an emap that does not fit the embedding', () => {
    const { raw } = sourceFace(3, 128);
    expect(() => inswapperSource(raw, { name: 'emap', dims: [512, 512], data: inswapperEmap() })).toThrow(
      UserError,
    );
  });
});

describe('face_swapper on a YUV frame', () => {
  it('paints the face with inswapper_128 colour for (emb·emap)/‖emb‖, leaving the rest bit-identical', async () => {
    const source = sourceFace();
    const { swapper } = await loadSwapper('inswapper_128', {}, source);
    const frame = frameWithFace();
    const original = Buffer.from(frame.data);
    const out = await swapper.process(frame);
    expect(out).toBe(frame);

    const colour = swapperColour('inswapper_128', expectedInswapperSource(source.raw));
    expectColourNear(frame, toRgb(colour));
    // The colour tells the source apart: the normed embedding fed without emap would give another one.
    const wrong = toRgb(
      swapperColour(
        'inswapper_128',
        source.normed.map((_, i, a) => a[(i + 1) % 512]),
      ),
    );
    const gap = Math.max(...wrong.map((v, c) => Math.abs(v - toRgb(colour)[c])));
    expect(gap).toBeGreaterThan(10);

    // Outside the pasted box nothing moved, in every plane.
    const [x1, y1, x2, y2] = pastedBox(128);
    const before = { ...frame, data: original };
    let checked = 0;
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        if (x >= x1 && x <= x2 && y >= y1 && y <= y2) continue;
        expect(yuvAt(frame, x, y)).toEqual(yuvAt(before, x, y));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(WIDTH * HEIGHT * 0.5);
    expect(frame.data.equals(original)).toBe(false);
  });

  it('feathers the seam: the box mask blends through intermediate values', async () => {
    const { swapper } = await loadSwapper('inswapper_128');
    const frame = frameWithFace();
    const before = { ...frame, data: Buffer.from(frame.data) };
    await swapper.process(frame);
    const [cx, cy] = centre();
    const [, , x2] = pastedBox(128);
    let between = 0;
    for (let x = cx; x <= Math.min(WIDTH - 1, x2); x++) {
      const swapped = yuvAt(frame, cx, cy)[0];
      const now = yuvAt(frame, x, cy)[0];
      const was = yuvAt(before, x, cy)[0];
      const lo = Math.min(swapped, was) + 2;
      const hi = Math.max(swapped, was) - 2;
      if (now > lo && now < hi) between++;
    }
    expect(between).toBeGreaterThanOrEqual(4);
  });

  it('pixel boost 512x512 runs 16 strided tiles per face and gives the same colour', async () => {
    const source = sourceFace();
    const run = vi.spyOn(sessionPrototype(), 'run');
    const { swapper } = await loadSwapper('inswapper_128', { swapper: { pixelBoost: '512x512' } }, source);
    const frame = frameWithFace();
    frame.faces = [squareFace(FACE.x, FACE.y, FACE.size), squareFace(10, 150, 60)];
    await swapper.process(frame);
    expect(run).toHaveBeenCalledTimes(2 * 16);
    const colour = swapperColour('inswapper_128', expectedInswapperSource(source.raw));
    expectColourNear(frame, toRgb(colour));
    const second = squareFace(10, 150, 60).landmarks[2].map(Math.round);
    const want = rgbToYuv(toRgb(colour));
    const got = yuvAt(frame, second[0], second[1]);
    for (let c = 0; c < 3; c++) expect(Math.abs(got[c] - want[c])).toBeLessThanOrEqual(2);
  });

  it('pixel boost reassembles the strided tiles in place (a model ramp stays smooth)', async () => {
    const ramp = rampSwapper();
    // The ramp model has no emap: give it the real one's last initializer by appending it.
    ramp.initializer('emap', inswapperEmap(), [512, 512]);
    const { swapper } = await loadSwapper(
      'inswapper_128',
      { swapper: { pixelBoost: '256x256' } },
      sourceFace(),
      ramp,
    );
    const frame = frameWithFace();
    await swapper.process(frame);
    const [cx, cy] = centre();
    let drops = 0;
    for (let x = cx - 30; x < cx + 30; x++) {
      if (yuvAt(frame, x + 1, cy)[0] < yuvAt(frame, x, cy)[0] - 1) drops++;
    }
    expect(drops).toBe(0);
    expect(yuvAt(frame, cx + 30, cy)[0] - yuvAt(frame, cx - 30, cy)[0]).toBeGreaterThan(10);
  });

  it('inswapper_128_fp16 reads a float16 emap and gives the same colour', async () => {
    const source = sourceFace();
    const { swapper } = await loadSwapper('inswapper_128_fp16', {}, source);
    const frame = frameWithFace();
    await swapper.process(frame);
    expectColourNear(
      frame,
      toRgb(swapperColour('inswapper_128_fp16', expectedInswapperSource(source.raw))),
      2,
    );
  });

  it('hyperswap_1a_256 takes the normed embedding and de-normalises its output', async () => {
    const source = sourceFace();
    const { swapper } = await loadSwapper('hyperswap_1a_256', {}, source);
    const frame = frameWithFace();
    await swapper.process(frame);
    const colour = swapperColour('hyperswap_1a_256' satisfies SwapperName, source.normed).map(
      (c) => c * 0.5 + 0.5,
    );
    expectColourNear(frame, toRgb(colour));
  });

  it('leaves a frame without faces untouched', async () => {
    const { swapper, shared } = await loadSwapper('inswapper_128');
    const frame = makeFrame(WIDTH, HEIGHT, background);
    const original = Buffer.from(frame.data);
    await swapper.process(frame);
    expect(frame.data.equals(original)).toBe(true);
    expect(shared.selectCalls).toBe(1);
  });

  it('keeps occluded pixels with the occlusion mask (xseg: dark = occluded)', async () => {
    const source = sourceFace();
    const mask = { types: ['box', 'occlusion'] as ('box' | 'occlusion')[] };
    const { swapper } = await loadSwapper('inswapper_128', { mask }, source);
    const dark = frameWithFace();
    const original = Buffer.from(dark.data);
    await swapper.process(dark);
    expect(dark.data.equals(original)).toBe(true);

    const lit = frameWithFace(bright);
    await swapper.process(lit);
    expectColourNear(lit, toRgb(swapperColour('inswapper_128', expectedInswapperSource(source.raw))));
  });

  it('rejects unknown models, pixel boosts the model does not offer, and embeddings of the wrong size', async () => {
    await expect(loadSwapper('simswap_1024')).rejects.toThrow(/unknown face swapper model "simswap_1024"/);
    await expect(loadSwapper('hyperswap_1a_256', { swapper: { pixelBoost: '128x128' } })).rejects.toThrow(
      /takes pixel boosts 256x256, 512x512, 768x768, 1024x1024, not "128x128"/,
    );
    await expect(loadSwapper('hyperswap_1a_256', {}, sourceFace(7, 128))).rejects.toThrow(
      /takes a 512-value source embedding, the recognizer gives 128/,
    );
  });
});

const CONVERTERS: Record<string, ConverterName> = {
  ghost_1_256: 'crossface_ghost',
  ghost_2_256: 'crossface_ghost',
  ghost_3_256: 'crossface_ghost',
  hififace_unofficial_256: 'crossface_hififace',
  simswap_256: 'crossface_simswap',
  simswap_unofficial_512: 'crossface_simswap',
};

const HALF: Rgb = [0.5, 0.5, 0.5];
/** FaceFusion's target normalisation and whether it de-normalises the output (face_swapper/core.py). */
const SPACES: Record<StandInSwapperName, { mean: Rgb; std: Rgb; denormalise: boolean }> = {
  blendswap_256: { mean: [0, 0, 0], std: [1, 1, 1], denormalise: false },
  ghost_1_256: { mean: HALF, std: HALF, denormalise: true },
  ghost_2_256: { mean: HALF, std: HALF, denormalise: true },
  ghost_3_256: { mean: HALF, std: HALF, denormalise: true },
  hififace_unofficial_256: { mean: HALF, std: HALF, denormalise: true },
  simswap_256: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], denormalise: false },
  simswap_unofficial_512: { mean: [0, 0, 0], std: [1, 1, 1], denormalise: false },
  uniface_256: { mean: HALF, std: HALF, denormalise: true },
};

/** The stand-in's pixel, as 0–255 RGB, for a target pixel of `pixel` and this `source` input. */
function expectedSwap(model: StandInSwapperName, source: ArrayLike<number>, pixel: Rgb): Rgb {
  const { mean, std, denormalise } = SPACES[model];
  const target = pixel.map((v, c) => (v / 255 - mean[c]) / std[c]) as Rgb;
  const out = standInSwap(model, source, target);
  return out.map((v, c) => {
    const value = denormalise ? v * std[c] + mean[c] : v;
    return Math.round(Math.min(1, Math.max(0, value)) * 255);
  }) as Rgb;
}

const normalised = (vector: Float32Array) => {
  const norm = Math.hypot(...vector);
  return vector.map((v) => v / norm);
};

/** What stands at the face centre before the swap: the target pixel the model saw there. */
const centrePixel = (): Rgb => background(...centre());

describe('face_swapper: the families with an embedding converter', () => {
  it.each([
    ['ghost_1_256', false],
    ['ghost_2_256', false],
    ['ghost_3_256', false],
    ['hififace_unofficial_256', true],
    ['simswap_256', true],
    ['simswap_unofficial_512', true],
  ] as const)('%s takes the raw embedding through its converter (normalised: %s)', async (model, norm) => {
    const source = sourceFace();
    const { swapper, shared } = await loadSwapper(model, {}, source);
    const frame = frameWithFace();
    await swapper.process(frame);
    const converted = converterOutput(CONVERTERS[model], source.raw);
    const input = norm ? normalised(converted) : converted;
    const want = expectedSwap(model, input, centrePixel());
    expectColourNear(frame, want, 2.5);
    // Fed the other way (normalised or not), or without the converter, the colour is another one.
    for (const wrong of [norm ? converted : normalised(converted), source.normed]) {
      const other = expectedSwap(model, wrong, centrePixel());
      expect(Math.max(...other.map((v, c) => Math.abs(v - want[c])))).toBeGreaterThan(5);
    }
    // At the default weight the target faces' embeddings are not needed.
    expect(shared.embedCalls).toBe(0);
  });
});

describe('face_swapper: the families that take the source face image', () => {
  it('blendswap_256 takes the source face aligned to arcface_112_v2 at 112 px, RGB / 255', async () => {
    const paint = (x: number, y: number): Rgb => [40 + x, 200 - y, 120];
    const source = sourceFace(7, 512, paint);
    const { swapper } = await loadSwapper('blendswap_256', { swapper: { weight: 0 } }, source);
    const frame = frameWithFace();
    await swapper.process(frame);
    // The source landmarks are the arcface_112_v2 points of the 96 px square at (32, 32): crop pixel
    // (u, v) samples the linear paint at (32, 32) + (u, v) · 96 / 112.
    const crop = new Float32Array(3 * 112 * 112);
    for (let v = 0; v < 112; v++) {
      for (let u = 0; u < 112; u++) {
        const rgb = paint(32 + (u * 96) / 112, 32 + (v * 96) / 112);
        for (let c = 0; c < 3; c++) crop[c * 112 * 112 + v * 112 + u] = Math.round(rgb[c]) / 255;
      }
    }
    expectColourNear(frame, expectedSwap('blendswap_256', crop, centrePixel()), 2.5);
  });

  it('uniface_256 takes the source face at 256 px and de-normalises its output', async () => {
    const flat: Rgb = [180, 90, 30];
    const source = sourceFace(7, 512, () => flat);
    const { swapper } = await loadSwapper('uniface_256', {}, source);
    const frame = frameWithFace();
    await swapper.process(frame);
    const crop = new Float32Array(3 * 256 * 256).map((_, i) => flat[Math.floor(i / (256 * 256))] / 255);
    expectColourNear(frame, expectedSwap('uniface_256', crop, centrePixel()), 2.5);
  });

  it('refuses blendswap_256 at pixel boost 384x384, which cannot be cut into 256 px tiles', async () => {
    await expect(loadSwapper('blendswap_256', { swapper: { pixelBoost: '384x384' } })).rejects.toThrow(
      /cannot use pixel boost 384x384: it is not a whole multiple of the model's 256x256/,
    );
  });
});

describe('--face-swapper-weight', () => {
  /** The face of frameWithFace() with an embedding of its own. */
  function frameWithEmbeddedFace(seed: number) {
    const frame = frameWithFace();
    const { raw, normed } = sourceFace(seed);
    frame.faces = [
      { ...squareFace(FACE.x, FACE.y, FACE.size), embedding: { vector: normed, norm: Math.hypot(...raw) } },
    ];
    return { frame, raw, normed };
  }

  it('weight 0 mixes 35 % of the target face’s raw embedding into ghost’s converted one', async () => {
    const source = sourceFace();
    const { swapper, shared } = await loadSwapper('ghost_1_256', { swapper: { weight: 0 } }, source);
    const { frame, raw } = frameWithEmbeddedFace(19);
    await swapper.process(frame);
    expect(shared.embedCalls).toBe(1);
    const converted = converterOutput('crossface_ghost', source.raw);
    const mixed = converted.map((v, i) => v * 0.65 + raw[i] * 0.35);
    const want = expectedSwap('ghost_1_256', mixed, centrePixel());
    expectColourNear(frame, want, 2.5);
    const unmixed = expectedSwap('ghost_1_256', converted, centrePixel());
    expect(Math.max(...unmixed.map((v, c) => Math.abs(v - want[c])))).toBeGreaterThan(8);
  });

  it('weight 1 pushes simswap’s normalised source 35 % away from the normalised target embedding', async () => {
    const source = sourceFace();
    const { swapper } = await loadSwapper('simswap_256', { swapper: { weight: 1 } }, source);
    const { frame, normed } = frameWithEmbeddedFace(23);
    await swapper.process(frame);
    const converted = normalised(converterOutput('crossface_simswap', source.raw));
    const mixed = converted.map((v, i) => v * 1.35 - normed[i] * 0.35);
    expectColourNear(frame, expectedSwap('simswap_256', mixed, centrePixel()), 2.5);
  });

  it('leaves blendswap alone: it takes no embedding', async () => {
    const { swapper, shared } = await loadSwapper('blendswap_256', { swapper: { weight: 1 } });
    await swapper.process(frameWithFace());
    expect(shared.embedCalls).toBe(0);
  });
});

describe('the face swapper catalogue', () => {
  it('has every face_swapper model of FaceFusion 3.8.1, each with its files in the model catalogue', () => {
    expect(Object.keys(SWAPPER_MODELS).sort()).toEqual(
      [
        'blendswap_256',
        'ghost_1_256',
        'ghost_2_256',
        'ghost_3_256',
        'hififace_unofficial_256',
        'hyperswap_1a_256',
        'hyperswap_1b_256',
        'hyperswap_1c_256',
        'inswapper_128',
        'inswapper_128_fp16',
        'simswap_256',
        'simswap_unofficial_512',
        'uniface_256',
      ].sort(),
    );
    const catalogue = new Map(builtinModels().map((entry) => [entry.name, entry]));
    // FaceFusion's release of each file (resolve_download_url in face_swapper/core.py).
    const release: Record<string, string> = {
      ghost_1_256: '3.0.0',
      hififace_unofficial_256: '3.1.0',
      hyperswap_1b_256: '3.3.0',
      uniface_256: '3.0.0',
      crossface_ghost: '3.4.0',
      crossface_hififace: '3.4.0',
      crossface_simswap: '3.4.0',
    };
    for (const model of Object.values(SWAPPER_MODELS)) {
      for (const file of swapperFiles(model)) {
        const entry = catalogue.get(file);
        expect(entry, file).toBeDefined();
        expect(entry?.license, file).toBeDefined();
        if (release[file]) expect(entry?.url).toContain(`/models-${release[file]}/${file}.onnx`);
      }
    }
    expect(swapperFiles(SWAPPER_MODELS.ghost_2_256)).toEqual(['ghost_2_256', 'crossface_ghost']);
    expect(swapperFiles(SWAPPER_MODELS.simswap_unofficial_512)).toEqual([
      'simswap_unofficial_512',
      'crossface_simswap',
    ]);
    expect(swapperFiles(SWAPPER_MODELS.uniface_256)).toEqual(['uniface_256']);
    expect(catalogue.get('crossface_ghost')?.role).toBe('embedding_converter');
  });

  it('maps --face-swapper-weight as FaceFusion does: 0 → 0.35, 0.5 → 0, 1 → −0.35', () => {
    expect(targetShare(0)).toBeCloseTo(0.35, 7);
    expect(targetShare(0.5)).toBe(0);
    expect(targetShare(0.75)).toBeCloseTo(-0.175, 7);
    expect(targetShare(1)).toBeCloseTo(-0.35, 7);
  });
});
