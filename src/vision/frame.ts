import type { PipePixelFormat } from '../media/pixelFormat.js';
import type { VideoColour } from '../media/probe.js';
import type { FaceClass } from './classifier.js';
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
  /**
   * 68 points, when the landmarker ran (`landmarks` then holds the 5 derived from them if confident), or
   * fan_68_5's estimate from the 5 when the landmarker is off and a mask needs them.
   */
  landmarks68?: Point[];
  /** The detector's own 5 points, kept when the landmarker's replaced them in `landmarks` (the debugger draws both). */
  detectorLandmarks?: Point[];
  /** Gender, age and race, when the selector's filters needed them. */
  classification?: FaceClass;
  /** Present when the selector needed it (reference mode). */
  embedding?: Embedding;
}
