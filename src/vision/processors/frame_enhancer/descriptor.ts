import { defineProcessor } from '../descriptor.js';
import { checkFrameEnhancer } from './models.js';
import type { FrameEnhancerOptions } from './options.js';

/** `frame_enhancer`: the whole frame upscaled (Real-ESRGAN, SPAN, UltraSharp, …: ×2, ×4 or ×8) and blended with the resized original. */
export const frameEnhancer = defineProcessor<'frameEnhancer', FrameEnhancerOptions>({
  name: 'frame_enhancer',
  analysesFaces: false,
  needsSourceFace: false,
  costMsPerFrame: 250,
  options: {
    key: 'frameEnhancer',
    defaults: { model: 'real_esrgan_x2', blend: 80 },
    fields: {
      model: {
        flag: '--frame-enhancer-model <name>',
        description: 'frame enhancer (upscaler) model',
        kind: 'model',
      },
      blend: {
        flag: '--frame-enhancer-blend <0-100>',
        description: 'share of the enhanced frame',
        kind: 'percent',
      },
    },
  },
  check: (options) => void checkFrameEnhancer(options),
  models: (options) => [options.model],
  create: async () => new (await import('./frameEnhancer.js')).FrameEnhancerProcessor(),
});
