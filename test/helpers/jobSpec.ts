import type { JobSpec } from '../../src/core/types.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';

/** A job spec for store and lease tests: no model, 10-frame checkpoints. */
export const passthroughSpec: JobSpec = {
  input: '/in.mp4',
  sources: [],
  output: '/out.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 10,
};
