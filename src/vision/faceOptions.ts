import type { DetectorOptions } from './detectors/detector.js';

export type FaceSelectorMode = 'reference' | 'one' | 'many';
export const FACE_SELECTOR_ORDERS = [
  'left-right',
  'right-left',
  'top-bottom',
  'bottom-top',
  'small-large',
  'large-small',
  'best-worst',
  'worst-best',
] as const;
export type FaceSelectorOrder = (typeof FACE_SELECTOR_ORDERS)[number];
export type FaceMaskType = 'box' | 'occlusion';

/** FaceFusion's face options with its defaults (facefusion.md §2–5); part of the job spec. */
export interface FaceOptions {
  detector: DetectorOptions;
  /** `--face-landmarker-model`: `none` keeps the detector's 5 points. */
  landmarker: 'none' | '2dfan4';
  /** `--face-landmarker-score`: 68-point landmarks replace the 5 only above this score. */
  landmarkerScore: number;
  selector: {
    mode: FaceSelectorMode;
    order: FaceSelectorOrder;
    /** `--reference-face-distance`: (1 − cos) / 2 below this matches. */
    referenceDistance: number;
    /** `--reference-frame-number`: the target frame the reference face is taken from. */
    referenceFrame: number;
    /** `--reference-face-position`: which face of that frame, in selector order. */
    referencePosition: number;
  };
  mask: {
    types: FaceMaskType[];
    /** `--face-mask-blur`, 0–1. */
    blur: number;
    /** `--face-mask-padding` top, right, bottom, left in percent of the crop. */
    padding: [number, number, number, number];
  };
  swapper: {
    model: string;
    /** `--face-swapper-pixel-boost`, e.g. `512x512`; the model's native size when absent. */
    pixelBoost?: string;
  };
  enhancer: {
    model: string;
    /** `--face-enhancer-blend`, 0–100. */
    blend: number;
    /** `--face-enhancer-weight`, 0–1 (codeformer). */
    weight: number;
  };
  frameEnhancer: {
    model: string;
    /** `--frame-enhancer-blend`, 0–100. */
    blend: number;
  };
}

export const DEFAULT_FACE_OPTIONS: FaceOptions = {
  detector: { model: 'yolo_face', size: '640x640', minScore: 0.5 },
  landmarker: 'none',
  landmarkerScore: 0.5,
  selector: {
    mode: 'reference',
    order: 'large-small',
    referenceDistance: 0.3,
    referenceFrame: 0,
    referencePosition: 0,
  },
  mask: { types: ['box'], blur: 0.3, padding: [0, 0, 0, 0] },
  swapper: { model: 'hyperswap_1a_256' },
  enhancer: { model: 'gfpgan_1.4', blend: 80, weight: 0.5 },
  frameEnhancer: { model: 'real_esrgan_x2', blend: 80 },
};

export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'tensorrt', 'webgpu'];

/** Where a worker runs its models: a property of the worker's machine, not of the job. */
export interface ExecutionOptions {
  provider: ExecutionProvider;
  /** `--execution-thread-count`: onnxruntime intra-op threads per session (0 = its default). */
  threads: number;
}

export const DEFAULT_EXECUTION: ExecutionOptions = { provider: 'cpu', threads: 0 };
