import type { EnsureOptions } from '../models/download.js';
import type { ExecutionOptions, FaceOptions } from './faceOptions.js';

export interface ProcessorOptions {
  /** Source face images (`-s`), local paths. */
  sources: string[];
  /** The target video, for the reference face. */
  target: string;
  face: FaceOptions;
  execution: ExecutionOptions;
  models: EnsureOptions;
}
