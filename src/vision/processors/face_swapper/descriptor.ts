import { defineProcessor } from '../descriptor.js';
import type { SwapperOptions } from './options.js';
import { pixelBoostSize, swapperModel } from './swapperModels.js';

/** `face_swapper`: every selected face of the frame becomes the source face. */
export const faceSwapper = defineProcessor<'swapper', SwapperOptions>({
  name: 'face_swapper',
  analysesFaces: true,
  needsSourceFace: true,
  costMsPerFrame: 40,
  options: {
    key: 'swapper',
    defaults: { model: 'hyperswap_1a_256' },
    fields: {
      model: { flag: '--face-swapper-model <name>', description: 'face swapper model', kind: 'model' },
      pixelBoost: {
        flag: '--face-swapper-pixel-boost <WxH>',
        description: "crop size for the swapper (default: the model's own)",
        kind: 'size',
      },
    },
  },
  check: (options) => void pixelBoostSize(swapperModel(options.model), options.pixelBoost),
  models: (options) => [options.model],
  create: async () => new (await import('./faceSwapper.js')).FaceSwapperProcessor(),
});
