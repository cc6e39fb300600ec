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

/**
 * FaceFusion's options of the shared face analysis (facefusion.md §2–5): which faces every face processor
 * works on, and through which mask it pastes. A processor's own options live in its folder.
 */
export type FaceAnalysisOptions = {
  detector: DetectorOptions;
  /** `--face-landmarker-model`: `none` keeps the detector's 5 points. */
  landmarker: 'none' | '2dfan4';
  /**
   * `--face-landmarker-score`: 68-point landmarks replace the 5 only above this score; 0 turns the
   * landmarker off, as in FaceFusion.
   */
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
};

export const DEFAULT_ANALYSIS_OPTIONS: FaceAnalysisOptions = {
  detector: { model: 'yolo_face', size: '640x640', minScore: 0.5 },
  landmarker: '2dfan4',
  landmarkerScore: 0.5,
  selector: {
    mode: 'reference',
    order: 'large-small',
    referenceDistance: 0.3,
    referenceFrame: 0,
    referencePosition: 0,
  },
  mask: { types: ['box'], blur: 0.3, padding: [0, 0, 0, 0] },
};

/** The groups of the face analysis options, read by every processor that analyses faces. */
export const ANALYSIS_GROUPS = Object.keys(DEFAULT_ANALYSIS_OPTIONS) as (keyof FaceAnalysisOptions)[];
