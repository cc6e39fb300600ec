/**
 * The CPU cost, per frame, of what the face pipeline does around its models on a 1080p frame with one
 * face: the detector input (frame shrunk to 640x640 straight from YUV, then letterboxed into the tensor),
 * the aligned crops (256 arcface_128 for the swapper, 512 ffhq_512 for the enhancer), the box mask (cached)
 * and the paste-back of both crops into the frame's YUV. No model runs: this is what the CPU adds to the
 * GPU's time per frame. `node dist/bench/faceCpuMain.js` prints it.
 */
import { frameByteLength, planeLayout } from '../src/media/pixelFormat.js';
import type { Point } from '../src/vision/detectors/detector.js';
import { letterbox } from '../src/vision/detectors/letterbox.js';
import { alignFromFrame, frameToRgbScaled, pasteIntoFrame } from '../src/vision/frameImage.js';
import { boxMask } from '../src/vision/masks.js';
import type { Frame } from '../src/vision/processor.js';
import { yuvToRgb } from '../src/vision/yuvToRgb.js';

export interface FaceCpuStep {
  name: string;
  /** Median over the iterations. */
  medianMs: number;
}

export interface FaceCpuResult {
  iterations: number;
  width: number;
  height: number;
  steps: FaceCpuStep[];
  /** Median of the per-frame sum of the steps. */
  totalMs: number;
  /** A frame's time at 30 fps. */
  budgetMs: number;
  /** totalMs / budgetMs. */
  budgetShare: number;
  /** For scale: yuvToRgb of the whole frame, which this pipeline avoids (median). */
  fullFrameRgbMs: number;
}

const WIDTH = 1920;
const HEIGHT = 1080;
const BUDGET_MS = 1000 / 30;

/** A 1080p yuv420p (BT.709, limited range) frame of smooth gradients and texture. */
export function syntheticFrame(width = WIDTH, height = HEIGHT): Frame {
  const data = Buffer.alloc(frameByteLength('yuv420p', width, height));
  const [y, u, v] = planeLayout('yuv420p', width, height);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const value = 120 + 50 * Math.sin(col / 37) * Math.cos(row / 23) + 20 * Math.sin((col + row) / 5);
      data[y.offset + row * width + col] = Math.round(value);
    }
  }
  for (let row = 0; row < u.height; row++) {
    for (let col = 0; col < u.width; col++) {
      data[u.offset + row * u.width + col] = Math.round(128 + 20 * Math.sin(col / 40));
      data[v.offset + row * v.width + col] = Math.round(128 + 20 * Math.cos(row / 30));
    }
  }
  return { index: 0, width, height, pixFmt: 'yuv420p', colour: { space: 'bt709', range: 'tv' }, data };
}

/** The 5 landmarks of a frontal face about 300 px wide, centred in a 1080p frame, slightly tilted. */
export const FACE_LANDMARKS: Point[] = [
  [898, 470],
  [1022, 478],
  [958, 545],
  [908, 612],
  [1010, 618],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export async function benchFaceCpu(options: { iterations: number }): Promise<FaceCpuResult> {
  const frame = syntheticFrame();
  const spec = { channels: 'rgb' as const, mean: 127.5, std: 128 };
  const names = [
    'frameToRgbScaled 640x640',
    'letterbox to tensor',
    'align 256 arcface_128',
    'align 512 ffhq_512',
  ];
  names.push('box masks (cached)', 'paste 256', 'paste 512');
  const times: number[][] = names.map(() => []);
  const totals: number[] = [];
  const warmup = Math.min(10, Math.max(2, Math.floor(options.iterations / 5)));
  for (let i = 0; i < warmup + options.iterations; i++) {
    const t0 = now();
    const { image } = frameToRgbScaled(frame, 640, 640);
    const t1 = now();
    letterbox(image, { width: 640, height: 640 }, spec);
    const t2 = now();
    const swap = alignFromFrame(frame, FACE_LANDMARKS, 'arcface_128', 256);
    const t3 = now();
    const enhance = alignFromFrame(frame, FACE_LANDMARKS, 'ffhq_512', 512);
    const t4 = now();
    const mask256 = boxMask(256, 0.3, [0, 0, 0, 0]);
    const mask512 = boxMask(512, 0.3, [0, 0, 0, 0]);
    const t5 = now();
    pasteIntoFrame(frame, swap.crop, swap.matrix, mask256);
    const t6 = now();
    pasteIntoFrame(frame, enhance.crop, enhance.matrix, mask512);
    const t7 = now();
    if (i < warmup) continue;
    const marks = [t0, t1, t2, t3, t4, t5, t6, t7];
    for (let s = 0; s < names.length; s++) times[s].push(marks[s + 1] - marks[s]);
    totals.push(t7 - t0);
    // Let other work (and the GC) in between frames, as a worker's event loop would.
    if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const fullFrame: number[] = [];
  for (let i = 0; i < Math.min(10, options.iterations); i++) {
    const t0 = now();
    yuvToRgb(frame.data, frame.pixFmt, WIDTH, HEIGHT, frame.colour);
    fullFrame.push(now() - t0);
  }
  const totalMs = median(totals);
  return {
    iterations: options.iterations,
    width: WIDTH,
    height: HEIGHT,
    steps: names.map((name, s) => ({ name, medianMs: median(times[s]) })),
    totalMs,
    budgetMs: BUDGET_MS,
    budgetShare: totalMs / BUDGET_MS,
    fullFrameRgbMs: median(fullFrame),
  };
}
