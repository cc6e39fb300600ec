import { defineProcessor } from '../descriptor.js';
import { checkFaceEnhancer } from './models.js';
import type { EnhancerOptions } from './options.js';

/** `face_enhancer`: every selected face restored (GFPGAN, CodeFormer, GPEN, RestoreFormer++) and blended back. */
export const faceEnhancer = defineProcessor<'enhancer', EnhancerOptions>({
  name: 'face_enhancer',
  analysesFaces: true,
  needsSourceFace: false,
  costMsPerFrame: 60,
  options: {
    key: 'enhancer',
    defaults: { model: 'gfpgan_1.4', blend: 80, weight: 0.5 },
    fields: {
      model: { flag: '--face-enhancer-model <name>', description: 'face enhancer model', kind: 'model' },
      blend: {
        flag: '--face-enhancer-blend <0-100>',
        description: 'share of the enhanced face',
        kind: 'percent',
      },
      weight: {
        flag: '--face-enhancer-weight <w>',
        description: 'codeformer fidelity weight, 0 to 1',
        kind: 'unit',
      },
    },
  },
  check: (options) => void checkFaceEnhancer(options),
  models: (options) => [options.model],
  create: async () => new (await import('./faceEnhancer.js')).FaceEnhancerProcessor(),
});
