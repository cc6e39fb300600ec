import { UserError } from '../../../core/errors.js';
import type { WarpTemplate } from '../../templates.js';
import type { EnhancerOptions } from './options.js';

/**
 * The face enhancers (face_enhancer/core.py, create_static_model_set): template and square size. All take
 * the same input (NCHW RGB on [−1, 1], named `input`) and give the same output; codeformer also takes a
 * `weight`, which the processor finds among the model's inputs.
 */
export const ENHANCER_MODELS: Record<string, { template: WarpTemplate; size: number }> = {
  codeformer: { template: 'ffhq_512', size: 512 },
  'gfpgan_1.2': { template: 'ffhq_512', size: 512 },
  'gfpgan_1.3': { template: 'ffhq_512', size: 512 },
  'gfpgan_1.4': { template: 'ffhq_512', size: 512 },
  gpen_bfr_256: { template: 'arcface_128', size: 256 },
  gpen_bfr_512: { template: 'ffhq_512', size: 512 },
  gpen_bfr_1024: { template: 'ffhq_512', size: 1024 },
  gpen_bfr_2048: { template: 'ffhq_512', size: 2048 },
  restoreformer_plus_plus: { template: 'ffhq_512', size: 512 },
};

export const ENHANCER_NAMES = Object.keys(ENHANCER_MODELS);

/** The enhancer's model spec, after checking the options (run before a job is queued, and on load). */
export function checkFaceEnhancer({ model, blend, weight }: EnhancerOptions) {
  const spec = Object.hasOwn(ENHANCER_MODELS, model) ? ENHANCER_MODELS[model] : undefined;
  if (!spec) {
    throw new UserError(`unknown face enhancer model "${model}" (available: ${ENHANCER_NAMES.join(', ')})`);
  }
  if (!(blend >= 0 && blend <= 100)) {
    throw new UserError(`face enhancer blend must be between 0 and 100, not ${blend}`);
  }
  if (!(weight >= 0 && weight <= 1)) {
    throw new UserError(`face enhancer weight must be between 0 and 1, not ${weight}`);
  }
  return spec;
}
