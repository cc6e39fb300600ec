import { UserError } from '../../../core/errors.js';
import type { WarpTemplate } from '../../templates.js';
import type { EnhancerOptions } from './options.js';

/** The face enhancers (face_enhancer/core.py, create_static_model_set): template and square size. */
export const ENHANCER_MODELS: Record<string, { template: WarpTemplate; size: number }> = {
  codeformer: { template: 'ffhq_512', size: 512 },
  'gfpgan_1.4': { template: 'ffhq_512', size: 512 },
};

export const ENHANCER_NAMES = Object.keys(ENHANCER_MODELS);

/** The enhancer's model spec, after checking the options (run before a job is queued, and on load). */
export function checkFaceEnhancer({ model, blend, weight }: EnhancerOptions) {
  const spec = ENHANCER_MODELS[model];
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
