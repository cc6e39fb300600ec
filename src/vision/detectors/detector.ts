import type { RgbImage } from '../rgbImage.js';

export type Point = [x: number, y: number];

/** The angles FaceFusion's `--face-detector-angles` offers, in degrees counter-clockwise. */
export const FACE_DETECTOR_ANGLES = [0, 90, 180, 270] as const;
export type FaceDetectorAngle = (typeof FACE_DETECTOR_ANGLES)[number];

/** `--face-detector-margin`: top, right, bottom and left, each 0–100 (100: half the frame's side). */
export type FaceDetectorMargin = readonly [top: number, right: number, bottom: number, left: number];

export interface DetectorOptions {
  /** FaceFusion's name (`--face-detector-model`). */
  model: string;
  /** `--face-detector-size`, e.g. `640x640`. */
  size: string;
  /** `--face-detector-score`, 0–1. */
  minScore: number;
  /**
   * `--face-detector-angles`: the frame is searched turned by each of these, and what is found at every
   * angle goes through one NMS (FaceFusion's get_many_faces). Absent: 0 alone.
   */
  angles?: readonly FaceDetectorAngle[];
  /**
   * `--face-detector-margin`: black added around the frame (after its turn, at every angle) before it is
   * shrunk to the detector's size, so that a face cut off by the frame edge is seen with room around it.
   * Absent: none.
   */
  margin?: FaceDetectorMargin;
}

export interface DetectedFace {
  /** Corners [x1, y1, x2, y2] in image pixels; may reach past the image edge. */
  box: [number, number, number, number];
  score: number;
  /** Left eye, right eye (as seen in the image), nose tip, left and right mouth corner. */
  landmarks: Point[];
}

export interface Size {
  width: number;
  height: number;
}

export interface FaceDetector {
  readonly name: string;
  /** Faces above the score threshold at every angle after NMS, best first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
  dispose(): Promise<void>;
}

/**
 * What differs between detector models: the input they expect and how their outputs decode. A new
 * model (yolo_face, retinaface) is one file exporting one of these, listed in the registry.
 */
export interface DetectorSpec {
  /** FaceFusion's name for `--face-detector-model`. */
  name: string;
  /** The model manager's entry. */
  model: string;
  /** The `--face-detector-size` values FaceFusion offers for it. */
  sizes: readonly string[];
  /**
   * Channel order of the input planes. FaceFusion feeds every detector its BGR frame as it is (OpenCV's
   * order), whatever the model was trained on; spotfuse feeds the same so that it finds the same faces.
   */
  channels: 'rgb' | 'bgr';
  /** Input = (pixel − mean) / std, on the 0–255 scale. */
  mean: number;
  std: number;
  /** Decodes the raw outputs (in the model's output order) into faces in input-tensor pixels. */
  decode(outputs: Float32Array[], size: Size, minScore: number): DetectedFace[];
}
