import { UserError } from '../../../core/errors.js';
import type { WarpTemplate } from '../../templates.js';

/**
 * How FaceFusion feeds each face swapper model (processors/modules/face_swapper/core.py,
 * create_static_model_set and prepare_source_embedding / normalize_crop_frame).
 */
export interface SwapperModel {
  name: string;
  /**
   * inswapper: source = (raw embedding · emap) / ‖raw embedding‖, emap being the model's last graph
   * initializer; output on 0–1. hyperswap: source = the L2-normalised embedding; output de-normalised
   * (·std + mean).
   */
  type: 'inswapper' | 'hyperswap';
  template: WarpTemplate;
  /** The model's square input and output side. */
  size: number;
  /** Target crop = (RGB/255 − mean) / std. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** `--face-swapper-pixel-boost` choices (face_swapper/choices.py), the first being the default. */
  pixelBoosts: readonly string[];
}

const INSWAPPER = {
  type: 'inswapper',
  template: 'arcface_128',
  size: 128,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  pixelBoosts: ['128x128', '256x256', '384x384', '512x512', '768x768', '1024x1024'],
} as const;

const HYPERSWAP = {
  type: 'hyperswap',
  template: 'arcface_128',
  size: 256,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  pixelBoosts: ['256x256', '512x512', '768x768', '1024x1024'],
} as const;

export const SWAPPER_MODELS: Record<string, SwapperModel> = {
  hyperswap_1a_256: { name: 'hyperswap_1a_256', ...HYPERSWAP },
  hyperswap_1b_256: { name: 'hyperswap_1b_256', ...HYPERSWAP },
  hyperswap_1c_256: { name: 'hyperswap_1c_256', ...HYPERSWAP },
  inswapper_128: { name: 'inswapper_128', ...INSWAPPER },
  inswapper_128_fp16: { name: 'inswapper_128_fp16', ...INSWAPPER },
};

export const SWAPPER_NAMES = Object.keys(SWAPPER_MODELS);

export function swapperModel(name: string): SwapperModel {
  const model = SWAPPER_MODELS[name];
  if (!model) {
    throw new UserError(`unknown face swapper model "${name}" (available: ${SWAPPER_NAMES.join(', ')})`);
  }
  return model;
}

/**
 * The side of the crop the swapper works on: `--face-swapper-pixel-boost` (one of the model's
 * choices, e.g. `512x512`), or the model's own size when absent.
 */
export function pixelBoostSize(model: SwapperModel, boost?: string): number {
  if (boost === undefined) return model.size;
  if (!model.pixelBoosts.includes(boost)) {
    throw new UserError(
      `face swapper ${model.name} takes pixel boosts ${model.pixelBoosts.join(', ')}, not "${boost}"`,
    );
  }
  return Number(boost.split('x')[0]);
}
