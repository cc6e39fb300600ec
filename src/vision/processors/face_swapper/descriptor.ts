import { defineProcessor } from '../descriptor.js';
import type { SwapperOptions } from './options.js';
import { pixelBoostSize, SWAPPER_MODELS, swapperFiles, swapperModel } from './swapperModels.js';

/** `face_swapper`: every selected face of the frame becomes the source face. */
export const faceSwapper = defineProcessor<'swapper', SwapperOptions>({
  name: 'face_swapper',
  analysesFaces: true,
  needsSourceFace: true,
  costMsPerFrame: 40,
  options: {
    key: 'swapper',
    defaults: { model: 'hyperswap_1a_256', weight: 0.5 },
    fields: {
      model: { flag: '--face-swapper-model <name>', description: 'face swapper model', kind: 'model' },
      pixelBoost: {
        flag: '--face-swapper-pixel-boost <WxH>',
        description: "crop size for the swapper (default: the model's own)",
        kind: 'size',
      },
      weight: {
        flag: '--face-swapper-weight <w>',
        description: "source identity against the target face's, 0 to 1 (embedding models)",
        kind: 'unit',
      },
    },
  },
  check: (options) => void pixelBoostSize(swapperModel(options.model), options.pixelBoost),
  models: (options) => {
    const model = SWAPPER_MODELS[options.model];
    return model ? swapperFiles(model) : [options.model];
  },
  create: async () => new (await import('./faceSwapper.js')).FaceSwapperProcessor(),
});
