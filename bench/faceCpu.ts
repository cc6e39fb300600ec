/**
 * The CPU cost, per frame, of what the face pipeline does around its models on a 1080p frame with one
 * face, with FaceFusion's defaults: the detector input (frame shrunk to 640x640 straight from YUV, then
 * letterboxed into yolo_face's tensor), the face analysis's crops (2dfan4's 256 crop with its contrast
 * step, the recognizer's arcface_112_v2 crop at 112), the swapper's crop (hyperswap_1a_256: arcface_128
 * at 256) with its cached box mask and paste-back, and the enhancer's (gfpgan_1.4: ffhq_512 at 512) with
 * its box mask scaled by the blend (80 %) and paste-back. No model runs, and the models' own tensor packing is
 * not counted: this is what the CPU adds to the GPU's time per frame, step by step and summed per chain
 * of processors, against a frame's time at 30 fps. `npm run bench -- --only face-cpu` prints it.
 */
import { frameByteLength, planeLayout } from '../src/media/pixelFormat.js';
import type { Point } from '../src/vision/detectors/detector.js';
import { letterbox } from '../src/vision/detectors/letterbox.js';
import { yoloFace } from '../src/vision/detectors/yoloFace.js';
import type { Frame } from '../src/vision/frame.js';
import {
  alignFromFrame,
  frameToRgbScaled,
  pasteIntoFrame,
  warpFrameRegion,
} from '../src/vision/frameImage.js';
import { LANDMARKER_SIZE, landmarkerMatrix } from '../src/vision/landmarker.js';
import { optimizeContrast } from '../src/vision/landmarkerContrast.js';
import { boxMask } from '../src/vision/masks.js';
import { yuvToRgb } from '../src/vision/yuvToRgb.js';

export interface FaceCpuStep {
  name: string;
  /** Median over the iterations. */
  medianMs: number;
}

export interface FaceCpuChain {
  name: string;
  /** Names of the steps it runs, in order. */
  steps: string[];
  /** Median over the iterations of the per-frame sum of its steps. */
  medianMs: number;
  /** medianMs / budgetMs. */
  budgetShare: number;
}

export interface FaceCpuResult {
  iterations: number;
  width: number;
  height: number;
  steps: FaceCpuStep[];
  chains: FaceCpuChain[];
  /** A frame's time at 30 fps. */
  budgetMs: number;
  /** For scale: yuvToRgb of the whole frame, which this pipeline avoids (median). */
  fullFrameRgbMs: number;
}

const WIDTH = 1920;
const HEIGHT = 1080;
const BUDGET_MS = 1000 / 30;
/** FaceFusion's default `--face-mask-blur` and `--face-enhancer-blend`. */
const MASK_BLUR = 0.3;
const ENHANCER_BLEND = 0.8;

/** A 1080p yuv420p (BT.709, limited range) frame of smooth gradients and texture. */
function syntheticFrame(width = WIDTH, height = HEIGHT): Frame {
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
const FACE_LANDMARKS: Point[] = [
  [898, 470],
  [1022, 478],
  [958, 545],
  [908, 612],
  [1010, 618],
];

/** The detector's box around that face. */
const FACE_BOX: [number, number, number, number] = [850, 390, 1070, 690];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

type Part = 'detector input' | 'face analysis' | 'face_swapper' | 'face_enhancer';

interface Step {
  name: string;
  part: Part;
  run: () => void;
}

/** The steps of one frame, in the order the face_swapper → face_enhancer pipeline runs them. */
function frameSteps(frame: Frame): Step[] {
  const size = { width: 640, height: 640 };
  let image = frameToRgbScaled(frame, size.width, size.height).image;
  let swap = alignFromFrame(frame, FACE_LANDMARKS, 'arcface_128', 256);
  let enhance = alignFromFrame(frame, FACE_LANDMARKS, 'ffhq_512', 512);
  let swapMask = boxMask(256, MASK_BLUR);
  const landmarkerAt = landmarkerMatrix(FACE_BOX);
  let landmarkerCrop = warpFrameRegion(frame, landmarkerAt, LANDMARKER_SIZE, LANDMARKER_SIZE);
  const enhanceMask = new Float32Array(512 * 512);
  return [
    {
      name: 'frameToRgbScaled 640x640',
      part: 'detector input',
      run: () => (image = frameToRgbScaled(frame, size.width, size.height).image),
    },
    { name: 'letterbox to tensor', part: 'detector input', run: () => letterbox(image, size, yoloFace) },
    {
      name: 'landmarker crop 256 (2dfan4)',
      part: 'face analysis',
      run: () => (landmarkerCrop = warpFrameRegion(frame, landmarkerAt, LANDMARKER_SIZE, LANDMARKER_SIZE)),
    },
    {
      // On the landmarker's own copy of the crop (in BGR there), as it runs: through Lab and back.
      name: 'landmarker contrast step',
      part: 'face analysis',
      run: () => optimizeContrast({ ...landmarkerCrop, data: Uint8Array.from(landmarkerCrop.data) }),
    },
    {
      name: 'recognizer crop 112 (arcface_112_v2)',
      part: 'face analysis',
      run: () => alignFromFrame(frame, FACE_LANDMARKS, 'arcface_112_v2', 112),
    },
    {
      name: 'align 256 arcface_128',
      part: 'face_swapper',
      run: () => (swap = alignFromFrame(frame, FACE_LANDMARKS, 'arcface_128', 256)),
    },
    { name: 'box mask 256 (cached)', part: 'face_swapper', run: () => (swapMask = boxMask(256, MASK_BLUR)) },
    {
      name: 'paste 256',
      part: 'face_swapper',
      run: () => pasteIntoFrame(frame, swap.crop, swap.matrix, swapMask),
    },
    {
      name: 'align 512 ffhq_512',
      part: 'face_enhancer',
      run: () => (enhance = alignFromFrame(frame, FACE_LANDMARKS, 'ffhq_512', 512)),
    },
    {
      name: 'box mask 512 × blend',
      part: 'face_enhancer',
      run: () => {
        const box = boxMask(512, MASK_BLUR);
        for (let i = 0; i < box.length; i++) enhanceMask[i] = box[i] * ENHANCER_BLEND;
      },
    },
    {
      name: 'paste 512',
      part: 'face_enhancer',
      run: () => pasteIntoFrame(frame, enhance.crop, enhance.matrix, enhanceMask),
    },
  ];
}

/** The processor chains (with FaceFusion's default models), as the parts of a frame each runs. */
const CHAINS: { name: string; parts: Part[] }[] = [
  { name: 'face_swapper (hyperswap_1a_256)', parts: ['detector input', 'face analysis', 'face_swapper'] },
  {
    name: 'face_swapper + face_enhancer (gfpgan_1.4)',
    parts: ['detector input', 'face analysis', 'face_swapper', 'face_enhancer'],
  },
];

export async function benchFaceCpu(options: { iterations: number }): Promise<FaceCpuResult> {
  const frame = syntheticFrame();
  const steps = frameSteps(frame);
  const times: number[][] = steps.map(() => []);
  const warmup = Math.min(10, Math.max(2, Math.floor(options.iterations / 5)));
  for (let i = 0; i < warmup + options.iterations; i++) {
    for (let s = 0; s < steps.length; s++) {
      const t0 = now();
      steps[s].run();
      if (i >= warmup) times[s].push(now() - t0);
    }
    // Let other work (and the GC) in between frames, as a worker's event loop would.
    if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const chains = CHAINS.map(({ name, parts }) => {
    const included = steps.filter((step) => parts.includes(step.part));
    const perFrame = times[0].map((_, i) =>
      included.reduce((sum, step) => sum + times[steps.indexOf(step)][i], 0),
    );
    const medianMs = median(perFrame);
    return { name, steps: included.map((step) => step.name), medianMs, budgetShare: medianMs / BUDGET_MS };
  });
  const fullFrame: number[] = [];
  for (let i = 0; i < Math.min(10, options.iterations); i++) {
    const t0 = now();
    yuvToRgb(frame.data, frame.pixFmt, WIDTH, HEIGHT, frame.colour);
    fullFrame.push(now() - t0);
  }
  return {
    iterations: options.iterations,
    width: WIDTH,
    height: HEIGHT,
    steps: steps.map(({ name }, s) => ({ name, medianMs: median(times[s]) })),
    chains,
    budgetMs: BUDGET_MS,
    fullFrameRgbMs: median(fullFrame),
  };
}

/** The result as the lines of a table: ms and share of the 30 fps frame budget, per step and chain. */
export function faceCpuTable(result: FaceCpuResult): string[] {
  const pad = (text: string) => text.padEnd(44);
  const row = (name: string, ms: number) =>
    `  ${pad(name)}${ms.toFixed(2).padStart(7)}  ${((ms / result.budgetMs) * 100).toFixed(1).padStart(5)} %`;
  return [
    `face CPU work per ${result.width}x${result.height} yuv420p frame, one face, no model inference, ` +
      `median of ${result.iterations}:`,
    `  ${pad('step')}     ms  of ${result.budgetMs.toFixed(1)} ms (30 fps)`,
    ...result.steps.map((step) => row(step.name, step.medianMs)),
    '  chain (median of the per-frame sum of its steps)',
    ...result.chains.map((chain) => row(chain.name, chain.medianMs)),
    `  (for scale: yuvToRgb of the whole frame, which the pipeline avoids, ${result.fullFrameRgbMs.toFixed(2)} ms)`,
  ];
}
