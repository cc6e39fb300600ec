import type { FaceAnalysisOptions } from './analysisOptions.js';
import type { FaceAnalyser } from './faceAnalyser.js';
import type { Frame } from './frame.js';
import type { ProcessorOptions } from './processorOptions.js';

/**
 * A step of the processing chain, loaded once per worker and job; `Face` is the face options it reads.
 * Its descriptor (processors/<name>/descriptor.ts) says how it is configured, planned and created.
 */
export interface Processor<Face extends FaceAnalysisOptions = FaceAnalysisOptions> {
  readonly name: string;
  load(options: ProcessorOptions<Face>, shared: SharedModels): Promise<void>;
  /** The frame size this processor outputs for an input of this size (default: the same). */
  outputSize?(width: number, height: number): { width: number; height: number };
  /** May modify `frame.data` in place, or return a new frame (e.g. of another size). */
  process(frame: Frame): Promise<Frame> | Frame;
  dispose(): Promise<void>;
}

/** Models several processors use, loaded once per chain on first request. */
export interface SharedModels {
  faceAnalyser(): Promise<FaceAnalyser>;
}
