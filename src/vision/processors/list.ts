import { faceDebugger } from './face_debugger/descriptor.js';
import { faceEnhancer } from './face_enhancer/descriptor.js';
import { faceSwapper } from './face_swapper/descriptor.js';
import { frameEnhancer } from './frame_enhancer/descriptor.js';
import { passthrough } from './passthrough/descriptor.js';

/**
 * Every processor spotfuse has, in the order their options are listed (`--help`, API schema). Adding a
 * processor is its folder (descriptor.ts + implementation) and one entry here: flags, API fields, option
 * groups, models and planning cost all follow from the descriptors.
 */
export const PROCESSORS = [faceSwapper, faceEnhancer, frameEnhancer, faceDebugger, passthrough] as const;
