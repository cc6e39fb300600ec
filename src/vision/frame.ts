import type { PipePixelFormat } from '../media/pixelFormat.js';
import type { VideoColour } from '../media/probe.js';
import type { DetectedFace, Point } from './detectors/detector.js';
import type { Embedding } from './recognizer.js';

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

export interface AnalysedFace extends DetectedFace {
  /** 68 points, when the landmarker ran; `landmarks` then holds the 5 derived from them if confident. */
  landmarks68?: Point[];
  /** Present when the selector needed it (reference mode). */
  embedding?: Embedding;
}
