import { FAN_68_5_MODEL } from '../../fan68.js';
import { defineProcessor } from '../descriptor.js';
import { checkDebuggerItems, type DebuggerOptions, FACE_DEBUGGER_ITEMS, needsFan68 } from './options.js';

/** `face_debugger`: each selected face's box, landmarks and mask outline drawn onto the frame. */
export const faceDebugger = defineProcessor<'debugger', DebuggerOptions>({
  name: 'face_debugger',
  analysesFaces: true,
  needsSourceFace: false,
  costMsPerFrame: 10,
  options: {
    key: 'debugger',
    defaults: { items: ['face-landmark-5/68', 'face-mask'] },
    fields: {
      items: {
        flag: '--face-debugger-items <items...>',
        description: `what to draw on each face: ${FACE_DEBUGGER_ITEMS.join(', ')}`,
        kind: 'names',
      },
    },
  },
  check: (options) => void checkDebuggerItems(options),
  models: (options) => (needsFan68(options.items) ? [FAN_68_5_MODEL] : []),
  create: async () => new (await import('./faceDebugger.js')).FaceDebuggerProcessor(),
});
