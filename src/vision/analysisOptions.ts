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
export const FACE_MASK_TYPES = ['box', 'occlusion', 'area', 'region'] as const;
export type FaceMaskType = (typeof FACE_MASK_TYPES)[number];
/** `--face-mask-areas`: parts of the face outlined by its 68 landmarks (FaceFusion's face_mask_area_set). */
export const FACE_MASK_AREAS = ['upper-face', 'lower-face', 'mouth'] as const;
export type FaceMaskArea = (typeof FACE_MASK_AREAS)[number];
/** `--face-mask-regions`: the face parser's classes (FaceFusion's face_mask_region_set). */
export const FACE_MASK_REGIONS = [
  'skin',
  'left-eyebrow',
  'right-eyebrow',
  'left-eye',
  'right-eye',
  'glasses',
  'nose',
  'mouth',
  'upper-lip',
  'lower-lip',
] as const;
export type FaceMaskRegion = (typeof FACE_MASK_REGIONS)[number];
/** `--face-occluder-model`: the xseg occluders FaceFusion offers; `many` takes the minimum of all three. */
export const FACE_OCCLUDER_MODELS = ['xseg_1', 'xseg_2', 'xseg_3', 'many'] as const;
export type FaceOccluderModel = (typeof FACE_OCCLUDER_MODELS)[number];
/** `--face-parser-model`: the bisenet face parsers FaceFusion offers. */
export const FACE_PARSER_MODELS = ['bisenet_resnet_18', 'bisenet_resnet_34'] as const;
export type FaceParserModel = (typeof FACE_PARSER_MODELS)[number];
export const GENDERS = ['female', 'male'] as const;
export type Gender = (typeof GENDERS)[number];
export const RACES = ['white', 'black', 'latino', 'asian', 'indian', 'arabic'] as const;
export type Race = (typeof RACES)[number];

/**
 * FaceFusion's options of the shared face analysis (facefusion.md §2–5): which faces every face processor
 * works on, and through which mask it pastes. A processor's own options live in its folder.
 */
export type FaceAnalysisOptions = {
  detector: Required<DetectorOptions>;
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
    /** `--face-selector-gender`: only faces the classifier calls so; `auto` the source face's. */
    gender?: Gender | 'auto';
    /** `--face-selector-race`: only faces the classifier calls so; `auto` the source face's. */
    race?: Race | 'auto';
    /** `--face-selector-age-start`/`--face-selector-age-end`: faces whose age bracket meets [start, end). */
    ageStart?: number;
    ageEnd?: number;
  };
  mask: {
    types: FaceMaskType[];
    /** `--face-mask-blur`, 0–1. */
    blur: number;
    /** `--face-mask-padding` top, right, bottom, left in percent of the crop. */
    padding: [number, number, number, number];
    /** `--face-mask-areas`, for the `area` mask. */
    areas: FaceMaskArea[];
    /** `--face-mask-regions`, for the `region` mask. */
    regions: FaceMaskRegion[];
    /** `--face-parser-model`, for the `region` mask. */
    parser: FaceParserModel;
    /** `--face-occluder-model`, for the `occlusion` mask. */
    occluder: FaceOccluderModel;
  };
};

export const DEFAULT_ANALYSIS_OPTIONS: FaceAnalysisOptions = {
  detector: { model: 'yolo_face', size: '640x640', minScore: 0.5, angles: [0], margin: [0, 0, 0, 0] },
  landmarker: '2dfan4',
  landmarkerScore: 0.5,
  selector: {
    mode: 'reference',
    order: 'large-small',
    referenceDistance: 0.3,
    referenceFrame: 0,
    referencePosition: 0,
  },
  mask: {
    types: ['box'],
    blur: 0.3,
    padding: [0, 0, 0, 0],
    areas: [...FACE_MASK_AREAS],
    regions: [...FACE_MASK_REGIONS],
    parser: 'bisenet_resnet_34',
    occluder: 'xseg_1',
  },
};

/** The groups of the face analysis options, read by every processor that analyses faces. */
export const ANALYSIS_GROUPS = Object.keys(DEFAULT_ANALYSIS_OPTIONS) as (keyof FaceAnalysisOptions)[];
