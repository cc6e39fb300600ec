import { defineProcessor } from '../descriptor.js';

/** `passthrough`: every frame unchanged, for engine tests and benchmarks; no options, no models. */
export const passthrough = defineProcessor({
  name: 'passthrough',
  analysesFaces: false,
  needsSourceFace: false,
  costMsPerFrame: 2,
  create: async () => new (await import('./passthrough.js')).PassthroughProcessor(),
});
