import { InferenceSession, type Tensor } from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type PipePixelFormat, planeLayout } from '../../src/media/pixelFormat.js';
import type { Frame } from '../../src/vision/frame.js';
import { FrameEnhancerProcessor } from '../../src/vision/processors/frame_enhancer/frameEnhancer.js';
import type { FakeModelName } from '../fixtures/models.js';
import { useTempDir } from '../helpers/tempDir.js';
import { makeFrame, processorOptions, psnr, type Rgb, sample, squareFace } from './processorHarness.js';

const dir = useTempDir();

/** The prototype every onnxruntime session's `run` comes from, to count model calls. */
const sessionPrototype = () => (InferenceSession as unknown as { prototype: InferenceSession }).prototype;
let loaded: FrameEnhancerProcessor[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(loaded.map((p) => p.dispose()));
  loaded = [];
});

/** A smooth picture: nearest and bilinear upscales of it differ little. */
const smooth = (x: number, y: number): Rgb => [
  128 + 60 * Math.sin(x / 40),
  128 + 50 * Math.cos(y / 35),
  100 + 40 * Math.sin((x + y) / 60),
];

async function enhancer(
  blend: number,
  model: FakeModelName = 'real_esrgan_x2',
): Promise<FrameEnhancerProcessor> {
  const options = await processorOptions(dir(), [model], {
    frameEnhancer: { model, blend },
  });
  const processor = new FrameEnhancerProcessor();
  loaded.push(processor);
  await processor.load(options);
  return processor;
}

/** Every sample of one plane, on the 8-bit scale. */
function planeValues(frame: Frame, plane: number): number[] {
  const p = planeLayout(frame.pixFmt, frame.width, frame.height)[plane];
  const values: number[] = [];
  for (let y = 0; y < p.height; y++)
    for (let x = 0; x < p.width; x++) values.push(sample(frame, plane, x, y));
  return values;
}

/** Where FaceFusion 3.8.1 tiles a model's input (frame_enhancer/core.py's `size`) and how much it upscales. */
interface Tiling {
  tile: number;
  pad: number;
  overlap: number;
  scale: number;
}

const REAL_ESRGAN_X2: Tiling = { tile: 256, pad: 16, overlap: 8, scale: 2 };

/**
 * Whether input column (or row) `i` of the frame lies under a stand-in's cross: a tile keeps its centre
 * `tile − 2·overlap` and the first tile's centre starts `pad` pixels before the frame, so a tile's middle
 * falls on every i ≡ core/2 − pad (mod core).
 */
function underCross(i: number, { tile, pad, overlap }: Tiling): boolean {
  const core = tile - 2 * overlap;
  return (((i + pad - core / 2) % core) + core) % core === 0;
}

/**
 * The frame as the stand-in upscales it: output sample (x, y) of a plane is input sample (x / s, y / s) of
 * the same plane, and the cross (16 levels added to R, G and B) adds 16·219/255 to Y once per line of it
 * through the pixel; U and V do not change, R, G and B moving alike.
 */
function standInUpscaled(frame: Frame, plane: number, tiling: Tiling): number[] {
  const { scale } = tiling;
  const out = planeLayout(frame.pixFmt, frame.width * scale, frame.height * scale)[plane];
  const values: number[] = [];
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      let value = sample(frame, plane, Math.floor(x / scale), Math.floor(y / scale));
      if (plane === 0) {
        const lines =
          Number(underCross(Math.floor(x / scale), tiling)) +
          Number(underCross(Math.floor(y / scale), tiling));
        value += (lines * 16 * 219) / 255;
      }
      values.push(value);
    }
  }
  return values;
}

/** cv2.resize INTER_LINEAR ×2 of the Y plane, written out for the test. */
function bilinearDoubledLuma(frame: Frame): number[] {
  const { width, height } = frame;
  const tap = (i: number, size: number): [number, number, number] => {
    const s = (i + 0.5) / 2 - 0.5;
    const base = Math.floor(s);
    if (base < 0) return [0, 0, 0];
    if (base >= size - 1) return [size - 1, size - 1, 0];
    return [base, base + 1, s - base];
  };
  const values: number[] = [];
  for (let y = 0; y < height * 2; y++) {
    const [y0, y1, fy] = tap(y, height);
    for (let x = 0; x < width * 2; x++) {
      const [x0, x1, fx] = tap(x, width);
      const top = sample(frame, 0, x0, y0) * (1 - fx) + sample(frame, 0, x1, y0) * fx;
      const bottom = sample(frame, 0, x0, y1) * (1 - fx) + sample(frame, 0, x1, y1) * fx;
      values.push(top * (1 - fy) + bottom * fy);
    }
  }
  return values;
}

function maxDifference(a: number[], b: number[]): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('frame_enhancer (real_esrgan_x2, tiled)', () => {
  it('doubles the size', async () => {
    const processor = await enhancer(100);
    expect(processor.outputSize(1920, 1080)).toEqual({ width: 3840, height: 2160 });
  });

  it("runs only 256×256 tiles and stitches them in FaceFusion's places", async () => {
    const run = vi.spyOn(sessionPrototype(), 'run');
    const processor = await enhancer(100);
    const frame = makeFrame(600, 500, smooth);
    const out = await processor.process(frame);
    expect(out).not.toBe(frame);
    expect(out).toMatchObject({ width: 1200, height: 1000, pixFmt: 'yuv420p', index: 0 });
    // Tiles keep their 240 px centre; the frame gets 16 px of black around it first: 3×3 tiles.
    expect(run).toHaveBeenCalledTimes(9);
    for (const [feeds] of run.mock.calls) {
      for (const tensor of Object.values(feeds as Record<string, Tensor>))
        expect(tensor.dims).toEqual([1, 3, 256, 256]);
    }
    for (let plane = 0; plane < 3; plane++) {
      const got = planeValues(out, plane);
      const want = standInUpscaled(frame, plane, REAL_ESRGAN_X2);
      expect(got.length).toBe(want.length);
      // Only the RGB round trip separates them.
      expect(maxDifference(got, want), `plane ${plane}`).toBeLessThanOrEqual(3);
      expect(psnr(got, want)).toBeGreaterThan(45);
    }
  });

  it('blend 0 is the plain bilinear upscale, which the enhanced frame matches above 40 dB', async () => {
    const frame = makeFrame(600, 500, smooth);
    const plain = await (await enhancer(0)).process(frame);
    const plainY = planeValues(plain, 0);
    expect(maxDifference(plainY, bilinearDoubledLuma(frame))).toBeLessThanOrEqual(0.5);
    const enhanced = await (await enhancer(100)).process(frame);
    for (let plane = 0; plane < 3; plane++) {
      expect(psnr(planeValues(enhanced, plane), planeValues(plain, plane))).toBeGreaterThan(40);
    }
  });

  it('blend 80 mixes 80% enhanced with 20% plain', async () => {
    const frame = makeFrame(300, 200, (x, y) => [(x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256]);
    const full = await (await enhancer(100)).process(frame);
    const plain = await (await enhancer(0)).process(frame);
    const mixed = await (await enhancer(80)).process(frame);
    for (let plane = 0; plane < 3; plane++) {
      const f = planeValues(full, plane);
      const p = planeValues(plain, plane);
      const want = f.map((v, i) => 0.8 * v + 0.2 * p[i]);
      expect(maxDifference(planeValues(mixed, plane), want)).toBeLessThanOrEqual(1);
    }
  });

  it.each([
    ['yuv420p', 301, 237],
    ['yuv422p', 257, 131],
    ['yuv444p10le', 99, 271],
  ] as [PipePixelFormat, number, number][])(
    'handles %s at an odd size %ix%i',
    async (pixFmt, width, height) => {
      const processor = await enhancer(100);
      const frame = makeFrame(width, height, smooth, pixFmt);
      const out = await processor.process(frame);
      expect(out).toMatchObject({ width: width * 2, height: height * 2, pixFmt });
      const layout = planeLayout(pixFmt, width * 2, height * 2);
      expect(out.data.length).toBe(
        layout[2].offset + layout[2].width * layout[2].height * layout[2].bytesPerSample,
      );
      for (let plane = 0; plane < 3; plane++) {
        const got = planeValues(out, plane);
        const want = standInUpscaled(frame, plane, REAL_ESRGAN_X2);
        expect(psnr(got, want), `plane ${plane}`).toBeGreaterThan(45);
      }
    },
  );

  it('carries the faces over, scaled with the frame', async () => {
    const processor = await enhancer(100);
    const frame = makeFrame(200, 150, smooth);
    // The detector's own 5 points too, kept where the landmarker's replaced them (face_debugger draws both).
    frame.faces = [{ ...squareFace(40, 30, 60), detectorLandmarks: [[50, 40]] }];
    const out = await processor.process(frame);
    const [face] = out.faces ?? [];
    expect(face.box).toEqual([80.5, 60.5, 200.5, 180.5]);
    expect(face.landmarks[0][0]).toBeCloseTo((frame.faces[0].landmarks[0][0] + 0.5) * 2 - 0.5, 9);
    expect(face.detectorLandmarks).toEqual([[100.5, 80.5]]);
    expect(frame.faces[0].box).toEqual([40, 30, 100, 90]);
  });

  // One model of each tiling and scale of FaceFusion 3.8.1's set (the oracle tests compare the whole
  // catalogue with FaceFusion's own); each on a frame that takes several tiles across and down.
  it.each([
    ['span_kendata_x4', { tile: 128, pad: 8, overlap: 4, scale: 4 }, 250, 130],
    ['tghq_face_x8', { tile: 128, pad: 8, overlap: 4, scale: 8 }, 120, 60],
    ['real_esrgan_x4', { tile: 256, pad: 16, overlap: 8, scale: 4 }, 230, 230],
    ['real_esrgan_x8_fp16', { tile: 256, pad: 16, overlap: 8, scale: 8 }, 230, 100],
    ['real_web_photo_x4', { tile: 64, pad: 4, overlap: 2, scale: 4 }, 130, 70],
    ['ultra_sharp_2_x4', { tile: 1024, pad: 64, overlap: 32, scale: 4 }, 1000, 60],
  ] as [FakeModelName, Tiling, number, number][])(
    '%s: tiles of %o, placed as FaceFusion places them',
    async (model, tiling, width, height) => {
      const run = vi.spyOn(sessionPrototype(), 'run');
      const processor = await enhancer(100, model);
      const { tile, pad, overlap, scale } = tiling;
      expect(processor.outputSize(width, height)).toEqual({ width: width * scale, height: height * scale });
      const frame = makeFrame(width, height, smooth);
      const out = await processor.process(frame);
      expect(out).toMatchObject({ width: width * scale, height: height * scale });
      // The tiles' centres cover the frame from `pad` pixels before it.
      const core = tile - 2 * overlap;
      const tiles = Math.ceil((width + pad) / core) * Math.ceil((height + pad) / core);
      expect(tiles).toBeGreaterThan(1);
      expect(run).toHaveBeenCalledTimes(tiles);
      for (const [feeds] of run.mock.calls) {
        for (const tensor of Object.values(feeds as Record<string, Tensor>))
          expect(tensor.dims).toEqual([1, 3, tile, tile]);
      }
      for (let plane = 0; plane < 3; plane++) {
        const got = planeValues(out, plane);
        const want = standInUpscaled(frame, plane, tiling);
        expect(maxDifference(got, want), `plane ${plane}`).toBeLessThanOrEqual(3);
      }
    },
  );

  it('rejects an unknown model', async () => {
    const options = await processorOptions(dir(), ['real_esrgan_x2'], {
      frameEnhancer: { model: 'waifu2x' },
    });
    await expect(new FrameEnhancerProcessor().load(options)).rejects.toThrow(
      /unknown frame enhancer model "waifu2x"/,
    );
  });
});
