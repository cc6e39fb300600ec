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

export const FRAME_ENHANCER_MODELS: Record<string, FrameEnhancerModel> = {
  real_esrgan_x2: { tile: 256, pad: 16, overlap: 8, scale: 2 },
  span_kendata_x4: { tile: 128, pad: 8, overlap: 4, scale: 4 },
};

export const FRAME_ENHANCER_NAMES = Object.keys(FRAME_ENHANCER_MODELS);

/** The upscaler's model spec, after checking the options (run before a job is queued, and on load). */
export function checkFrameEnhancer({ model, blend }: FrameEnhancerOptions): FrameEnhancerModel {
  const spec = FRAME_ENHANCER_MODELS[model];
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
