import { InferenceSession, type Tensor } from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Frame } from '../../src/vision/frame.js';
import type { Processor } from '../../src/vision/processor.js';
import { FaceEnhancerProcessor } from '../../src/vision/processors/face_enhancer/faceEnhancer.js';
import { codeformerFactor, type FakeModelName } from '../fixtures/models.js';
import { useTempDir } from '../helpers/tempDir.js';
import {
  fakeShared,
  makeFrame,
  processorOptions,
  type Rgb,
  rgbToYuv,
  squareFace,
  yuvAt,
} from './processorHarness.js';

const dir = useTempDir();

/** The prototype every onnxruntime session's `run` comes from, to see what the model is fed. */
const sessionPrototype = () => (InferenceSession as unknown as { prototype: InferenceSession }).prototype;
let loaded: Processor[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(loaded.map((p) => p.dispose()));
  loaded = [];
});

const WIDTH = 320;
const HEIGHT = 240;
const FACE = { x: 110, y: 70, size: 100 };
const ORIGINAL: Rgb = [180, 90, 50];
const paint = (x: number, y: number): Rgb => [180 + (x - 160) / 64, 90, 50 + (y - 120) / 64];

function frameWithFace(colours = paint): Frame {
  const frame = makeFrame(WIDTH, HEIGHT, colours);
  frame.faces = [squareFace(FACE.x, FACE.y, FACE.size)];
  return frame;
}

async function enhance(
  model: FakeModelName,
  enhancer: { blend?: number; weight?: number },
  mask: { padding?: [number, number, number, number]; types?: ('box' | 'occlusion')[]; blur?: number } = {},
  { colours = paint, name = model as string } = {},
): Promise<{ frame: Frame; before: Frame }> {
  const options = await processorOptions(dir(), [model, 'xseg_1'], {
    enhancer: { model: name, ...enhancer },
    mask,
  });
  const processor = new FaceEnhancerProcessor();
  loaded.push(processor);
  await processor.load(options, fakeShared());
  const frame = frameWithFace(colours);
  const before = { ...frame, data: Buffer.from(frame.data) };
  expect(await processor.process(frame)).toBe(frame);
  return { frame, before };
}

/** The face centre (nose landmark), where the box mask is 1. */
function centre(): [number, number] {
  const [x, y] = squareFace(FACE.x, FACE.y, FACE.size).landmarks[2];
  return [Math.round(x), Math.round(y)];
}

function expectNear(frame: Frame, rgb: Rgb, tolerance = 1.5): void {
  const [cx, cy] = centre();
  const want = rgbToYuv(rgb);
  for (const [dx, dy] of [
    [0, 0],
    [-8, -6],
    [8, 6],
  ]) {
    const got = yuvAt(frame, cx + dx, cy + dy);
    for (let c = 0; c < 3; c++)
      expect(Math.abs(got[c] - want[c]), `plane ${c}`).toBeLessThanOrEqual(tolerance);
  }
}

const mix = (enhanced: Rgb, amount: number): Rgb =>
  ORIGINAL.map((o, c) => amount * enhanced[c] + (1 - amount) * o) as Rgb;
const negative: Rgb = ORIGINAL.map((v) => 255 - v) as Rgb;

describe('face_enhancer on a YUV frame', () => {
  it('blend 100 pastes the enhanced face (gfpgan fake: the colour negative)', async () => {
    const { frame } = await enhance('gfpgan_1.4', { blend: 100 });
    expectNear(frame, negative);
  });

  it('blend 0 leaves the frame bit-identical', async () => {
    const { frame, before } = await enhance('gfpgan_1.4', { blend: 0 });
    expect(frame.data.equals(before.data)).toBe(true);
  });

  it('blend 80 is 80% enhanced, 20% original', async () => {
    const { frame } = await enhance('gfpgan_1.4', { blend: 80 });
    expectNear(frame, mix(negative, 0.8));
  });

  it('uses a box mask without padding, whatever --face-mask-padding says', async () => {
    const { frame, before } = await enhance('gfpgan_1.4', { blend: 100 }, { padding: [50, 50, 50, 50] });
    expectNear(frame, negative);
    // Far from the face nothing moved.
    expect(yuvAt(frame, 5, 5)).toEqual(yuvAt(before, 5, 5));
    expect(yuvAt(frame, WIDTH - 3, HEIGHT - 3)).toEqual(yuvAt(before, WIDTH - 3, HEIGHT - 3));
  });

  it('feeds codeformer its weight (fake: input · (1 − 2·weight))', async () => {
    expect(codeformerFactor(1)).toBe(-1);
    const full = await enhance('codeformer', { blend: 100, weight: 1 });
    expectNear(full.frame, negative);
    const none = await enhance('codeformer', { blend: 100, weight: 0 });
    expectNear(none.frame, ORIGINAL);
    const half = await enhance('codeformer', { blend: 100, weight: 0.5 });
    expectNear(half.frame, [128, 128, 128]);
  });

  it('keeps occluded pixels when the occlusion mask is asked for (xseg fake: dark = occluded)', async () => {
    // The picture's brightest channel (180/255) is above xseg's 128 threshold: the face is visible.
    const lit = await enhance('gfpgan_1.4', { blend: 100 }, { types: ['box', 'occlusion'] });
    expectNear(lit.frame, negative);
    // A dark picture (brightest channel 100/255) is all occluded: nothing is pasted.
    const dark = await enhance(
      'gfpgan_1.4',
      { blend: 100 },
      { types: ['box', 'occlusion'] },
      { colours: () => [100, 60, 30] },
    );
    expect(dark.frame.data.equals(dark.before.data)).toBe(true);
  });

  // FaceFusion 3.8.1's model set: the crop each model is fed (codeformer is covered above).
  it.each([
    ['gfpgan_1.2', 512],
    ['gfpgan_1.3', 512],
    ['gfpgan_1.4', 512],
    ['gpen_bfr_256', 256],
    ['gpen_bfr_512', 512],
    ['gpen_bfr_1024', 1024],
    ['gpen_bfr_2048', 2048],
    ['restoreformer_plus_plus', 512],
  ] as const)('%s is fed a %i-pixel crop and its output is pasted back', async (model, size) => {
    const run = vi.spyOn(sessionPrototype(), 'run');
    const { frame } = await enhance(model, { blend: 100 });
    expect(run).toHaveBeenCalledTimes(1);
    const feeds = run.mock.calls[0][0] as Record<string, Tensor>;
    expect(Object.keys(feeds)).toEqual(['input']);
    expect(feeds.input.dims).toEqual([1, 3, size, size]);
    expectNear(frame, negative);
  });

  it('warps gpen_bfr_256 to arcface_128, whose crop holds less around the face than ffhq_512', async () => {
    // With no feathering the pasted area is the crop's footprint. On the eyes' row the face square spans
    // x 110–210; ffhq_512's crop reaches about 14 px past it on each side, arcface_128's about 7.
    const row = Math.round(squareFace(FACE.x, FACE.y, FACE.size).landmarks[0][1]);
    const changed = (frame: Frame, before: Frame, x: number) =>
      yuvAt(frame, x, row).some((v, c) => v !== yuvAt(before, x, row)[c]);
    const ffhq = await enhance('gfpgan_1.4', { blend: 100 }, { blur: 0 });
    const arcface = await enhance('gpen_bfr_256', { blend: 100 }, { blur: 0 });
    for (const x of [99, 221]) {
      expect(changed(ffhq.frame, ffhq.before, x), `ffhq_512 at x ${x}`).toBe(true);
      expect(changed(arcface.frame, arcface.before, x), `arcface_128 at x ${x}`).toBe(false);
    }
    for (const x of [106, 214]) expect(changed(arcface.frame, arcface.before, x), `x ${x}`).toBe(true);
    for (const x of [92, 228]) expect(changed(ffhq.frame, ffhq.before, x), `x ${x}`).toBe(false);
  });

  it('rejects an unknown model and an out-of-range blend', async () => {
    await expect(enhance('codeformer', {}, {}, { name: 'gpen' })).rejects.toThrow(
      /unknown face enhancer model "gpen"/,
    );
    await expect(enhance('gfpgan_1.4', { blend: 120 })).rejects.toThrow(/between 0 and 100/);
  });
});
