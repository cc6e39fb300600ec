import { UserError } from '../../../core/errors.js';
import type { WarpTemplate } from '../../templates.js';

/**
 * How FaceFusion prepares each family's `source` input (face_swapper/core.py, prepare_source_embedding
 * and prepare_source_frame):
 * - inswapper: (raw embedding · emap) / ‖raw embedding‖, emap being the model's last graph initializer;
 * - hyperswap: the L2-normalised embedding;
 * - ghost: the raw embedding through the `converter` model, not normalised;
 * - hififace, simswap: the raw embedding through the `converter` model, L2-normalised;
 * - blendswap, uniface: the source image's face itself, aligned to `source.template` at `source.size`,
 *   RGB / 255.
 */
export type SwapperType =
  | 'blendswap'
  | 'ghost'
  | 'hififace'
  | 'hyperswap'
  | 'inswapper'
  | 'simswap'
  | 'uniface';

/**
 * How FaceFusion feeds each face swapper model (processors/modules/face_swapper/core.py,
 * create_static_model_set and prepare_crop_frame / normalize_crop_frame).
 */
export interface SwapperModel {
  name: string;
  type: SwapperType;
  template: WarpTemplate;
  /** The model's square input and output side. */
  size: number;
  /** Target crop = (RGB/255 − mean) / std. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** `--face-swapper-pixel-boost` choices (face_swapper/choices.py), the first being the default. */
  pixelBoosts: readonly string[];
  /** The embedding converter model (FaceFusion's `embedding_converter`), for ghost, hififace and simswap. */
  converter?: string;
  /** The source face crop, for the models that take the source image (blendswap, uniface). */
  source?: { template: WarpTemplate; size: number };
}

/** Whether the model's output is de-normalised (·std + mean) before it is clipped to 0–1. */
export function denormalisesOutput(model: SwapperModel): boolean {
  return ['ghost', 'hififace', 'hyperswap', 'uniface'].includes(model.type);
}

/** Whether the model takes an embedding, which `--face-swapper-weight` moves towards the target face's. */
export function takesEmbedding(model: SwapperModel): boolean {
  return model.source === undefined;
}

const BOOSTS_256 = ['256x256', '512x512', '768x768', '1024x1024'];
const HALF = [0.5, 0.5, 0.5] as const;
const NONE = { mean: [0, 0, 0], std: [1, 1, 1] } as const;

const INSWAPPER = {
  type: 'inswapper',
  template: 'arcface_128',
  size: 128,
  ...NONE,
  pixelBoosts: ['128x128', '256x256', '384x384', '512x512', '768x768', '1024x1024'],
} as const;

const HYPERSWAP = {
  type: 'hyperswap',
  template: 'arcface_128',
  size: 256,
  mean: HALF,
  std: HALF,
  pixelBoosts: BOOSTS_256,
} as const;

const GHOST = {
  type: 'ghost',
  template: 'arcface_112_v1',
  size: 256,
  mean: HALF,
  std: HALF,
  pixelBoosts: BOOSTS_256,
  converter: 'crossface_ghost',
} as const;

export const SWAPPER_MODELS: Record<string, SwapperModel> = {
  blendswap_256: {
    name: 'blendswap_256',
    type: 'blendswap',
    template: 'ffhq_512',
    size: 256,
    ...NONE,
    pixelBoosts: ['256x256', '384x384', '512x512', '768x768', '1024x1024'],
    source: { template: 'arcface_112_v2', size: 112 },
  },
  ghost_1_256: { name: 'ghost_1_256', ...GHOST },
  ghost_2_256: { name: 'ghost_2_256', ...GHOST },
  ghost_3_256: { name: 'ghost_3_256', ...GHOST },
  hififace_unofficial_256: {
    name: 'hififace_unofficial_256',
    type: 'hififace',
    template: 'mtcnn_512',
    size: 256,
    mean: HALF,
    std: HALF,
    pixelBoosts: BOOSTS_256,
    converter: 'crossface_hififace',
  },
  hyperswap_1a_256: { name: 'hyperswap_1a_256', ...HYPERSWAP },
  hyperswap_1b_256: { name: 'hyperswap_1b_256', ...HYPERSWAP },
  hyperswap_1c_256: { name: 'hyperswap_1c_256', ...HYPERSWAP },
  inswapper_128: { name: 'inswapper_128', ...INSWAPPER },
  inswapper_128_fp16: { name: 'inswapper_128_fp16', ...INSWAPPER },
  simswap_256: {
    name: 'simswap_256',
    type: 'simswap',
    template: 'arcface_112_v1',
    size: 256,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    pixelBoosts: BOOSTS_256,
    converter: 'crossface_simswap',
  },
  simswap_unofficial_512: {
    name: 'simswap_unofficial_512',
    type: 'simswap',
    template: 'arcface_112_v1',
    size: 512,
    ...NONE,
    pixelBoosts: ['512x512', '768x768', '1024x1024'],
    converter: 'crossface_simswap',
  },
  uniface_256: {
    name: 'uniface_256',
    type: 'uniface',
    template: 'ffhq_512',
    size: 256,
    mean: HALF,
    std: HALF,
    pixelBoosts: BOOSTS_256,
    source: { template: 'ffhq_512', size: 256 },
  },
};

export const SWAPPER_NAMES = Object.keys(SWAPPER_MODELS);

export function swapperModel(name: string): SwapperModel {
  const model = SWAPPER_MODELS[name];
  if (!model) {
    throw new UserError(`unknown face swapper model "${name}" (available: ${SWAPPER_NAMES.join(', ')})`);
  }
  return model;
}

/** The model files a swapper opens: the model, and its embedding converter where it has one. */
export function swapperFiles(model: SwapperModel): string[] {
  return model.converter ? [model.name, model.converter] : [model.name];
}

/**
 * The side of the crop the swapper works on: `--face-swapper-pixel-boost` (one of the model's
 * choices, e.g. `512x512`), or the model's own size when absent. The crop is cut into (side / size)²
 * tiles, so a side that is not a whole multiple of the model's size is refused: FaceFusion lists
 * 384x384 for blendswap_256 but fails on it (its tiles cannot be cut).
 */
export function pixelBoostSize(model: SwapperModel, boost?: string): number {
  if (boost === undefined) return model.size;
  if (!model.pixelBoosts.includes(boost)) {
    throw new UserError(
      `face swapper ${model.name} takes pixel boosts ${model.pixelBoosts.join(', ')}, not "${boost}"`,
    );
  }
  const side = Number(boost.split('x')[0]);
  if (side % model.size !== 0) {
    throw new UserError(
      `face swapper ${model.name} cannot use pixel boost ${boost}: it is not a whole multiple of the ` +
        `model's ${model.size}x${model.size} (FaceFusion lists it but fails on it)`,
    );
  }
  return side;
}
