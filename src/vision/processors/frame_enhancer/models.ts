import { UserError } from '../../../core/errors.js';
import type { FrameEnhancerOptions } from './options.js';

/**
 * The frame enhancers (frame_enhancer/core.py, create_static_model_set): `size` (tile, pad, overlap)
 * and scale. A tile is `tile` pixels square and keeps its centre `tile − 2·overlap`; the frame is
 * surrounded by `pad` black pixels first.
 */
export interface FrameEnhancerModel {
  tile: number;
  pad: number;
  overlap: number;
  scale: number;
}

const TILE_128: Omit<FrameEnhancerModel, 'scale'> = { tile: 128, pad: 8, overlap: 4 };
const TILE_256: Omit<FrameEnhancerModel, 'scale'> = { tile: 256, pad: 16, overlap: 8 };

/**
 * Every upscaler takes RGB / 255 in tiles as `input` and gives 0–1 back; they differ only in tiling and scale.
 * The `_fp16` files hold half-precision weights behind the same float32 input and output.
 */
export const FRAME_ENHANCER_MODELS: Record<string, FrameEnhancerModel> = {
  clear_reality_x4: { ...TILE_128, scale: 4 },
  face_dat_x4: { ...TILE_128, scale: 4 },
  nomos8k_sc_x4: { ...TILE_128, scale: 4 },
  real_esrgan_x2: { ...TILE_256, scale: 2 },
  real_esrgan_x2_fp16: { ...TILE_256, scale: 2 },
  real_esrgan_x4: { ...TILE_256, scale: 4 },
  real_esrgan_x4_fp16: { ...TILE_256, scale: 4 },
  real_esrgan_x8: { ...TILE_256, scale: 8 },
  real_esrgan_x8_fp16: { ...TILE_256, scale: 8 },
  real_hatgan_x4: { ...TILE_256, scale: 4 },
  real_web_photo_x4: { tile: 64, pad: 4, overlap: 2, scale: 4 },
  realistic_rescaler_x4: { ...TILE_128, scale: 4 },
  remacri_x4: { ...TILE_128, scale: 4 },
  siax_x4: { ...TILE_128, scale: 4 },
  span_kendata_x4: { ...TILE_128, scale: 4 },
  swin2_sr_x4: { ...TILE_128, scale: 4 },
  tghq_face_x8: { ...TILE_128, scale: 8 },
  ultra_sharp_x4: { ...TILE_128, scale: 4 },
  ultra_sharp_2_x4: { tile: 1024, pad: 64, overlap: 32, scale: 4 },
};

export const FRAME_ENHANCER_NAMES = Object.keys(FRAME_ENHANCER_MODELS);

/** The upscaler's model spec, after checking the options (run before a job is queued, and on load). */
export function checkFrameEnhancer({ model, blend }: FrameEnhancerOptions): FrameEnhancerModel {
  const spec = Object.hasOwn(FRAME_ENHANCER_MODELS, model) ? FRAME_ENHANCER_MODELS[model] : undefined;
  if (!spec) {
    throw new UserError(
      `unknown frame enhancer model "${model}" (available: ${FRAME_ENHANCER_NAMES.join(', ')})`,
    );
  }
  if (!(blend >= 0 && blend <= 100)) {
    throw new UserError(`frame enhancer blend must be between 0 and 100, not ${blend}`);
  }
  return spec;
}
