import type { PipePixelFormat } from '../media/pixelFormat.js';
import type { VideoColour } from '../media/probe.js';
import type { EnsureOptions } from '../models/download.js';
import type { AnalysedFace } from './faceAnalyser.js';
import type { ExecutionOptions, FaceOptions } from './faceOptions.js';

/** One decoded frame in the source's own planar YUV layout (never full-frame RGB unless a processor asks). */
export interface Frame {
  index: number;
  width: number;
  height: number;
  pixFmt: PipePixelFormat;
  /** Matrix and range, to convert the face regions to RGB and back. */
  colour: VideoColour;
  data: Buffer;
  /**
   * The faces found in this frame, computed once by the first face processor and shared by the next
   * ones (their coordinates follow the frame if a processor rescales it).
   */
  faces?: AnalysedFace[];
}

export interface ProcessorOptions {
  /** Source face images (`-s`), local paths. */
  sources: string[];
  /** The target video, for the reference face. */
  target: string;
  face: FaceOptions;
  execution: ExecutionOptions;
  models: EnsureOptions;
}

/** A step of the processing chain, loaded once per worker and job. Adding one touches one folder. */
export interface Processor {
  readonly name: string;
  load(options: ProcessorOptions, shared: SharedModels): Promise<void>;
  /** The frame size this processor outputs for an input of this size (default: the same). */
  outputSize?(width: number, height: number): { width: number; height: number };
  /** May modify `frame.data` in place, or return a new frame (e.g. of another size). */
  process(frame: Frame): Promise<Frame> | Frame;
  dispose(): Promise<void>;
}

/** Models several processors use, loaded once per chain on first request. */
export interface SharedModels {
  faceAnalyser(): Promise<import('./faceAnalyser.js').FaceAnalyser>;
}
