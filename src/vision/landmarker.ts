import { type EnsureOptions, ensureModel } from '../models/download.js';
import type { DetectedFace, Point } from './detectors/detector.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { type Affine, applyAffine, invertAffine, multiplyAffine, rotationMatrixAndSize } from './geometry.js';
import { optimizeContrast } from './landmarkerContrast.js';
import { type InferenceSession, openSession, runSession } from './onnx.js';
import type { RgbImage } from './rgbImage.js';
import { warpAffine } from './warp.js';

/** 2dfan4's input side; its heatmaps are a quarter of it. */
export const LANDMARKER_SIZE = 256;
const HEATMAP_SIZE = 64;
const POINTS = 68;
/** The face box's longer side fills this much of the crop. */
const FACE_SIDE = 195;

export interface Landmarks68 {
  /** The 68 iBUG points in image pixels. */
  points: Point[];
  /** Confidence 0–1: the mean of the heatmap peaks, stretched from [0, 0.9] as FaceFusion does. */
  score: number;
}

/**
 * Image → crop matrix of FaceFusion's landmarker crop (detect_with_2dfan4): scaled so the box's longer side
 * is 195 px (sides under 1 px count as 1), box centre moved to the crop centre, then turned by the face's
 * `angle` (counter-clockwise, about the crop's centre) so that a face lying on its side stands upright.
 * FaceFusion turns the crop in a second warp; one warp through the product samples the same points, except
 * that FaceFusion's turn leaves one black row or column at the crop's edge (its centre is half a pixel off).
 */
export function landmarkerMatrix(box: DetectedFace['box'], angle = 0): Affine {
  const scale = FACE_SIDE / Math.max(box[2] - box[0], box[3] - box[1], 1);
  const tx = (LANDMARKER_SIZE - (box[0] + box[2]) * scale) / 2;
  const ty = (LANDMARKER_SIZE - (box[1] + box[3]) * scale) / 2;
  const crop: Affine = [scale, 0, tx, 0, scale, ty];
  if (angle === 0) return crop;
  return multiplyAffine(rotationMatrixAndSize(angle, LANDMARKER_SIZE, LANDMARKER_SIZE).matrix, crop);
}

/**
 * FaceFusion's 68 → 5 (`convert_to_face_landmark_5`): the centres of the two eye contours (36–41,
 * 42–47), the nose tip (30) and the mouth corners (48, 54).
 */
export function landmarks68to5(points: readonly Point[]): Point[] {
  const mean = (from: number, to: number): Point => {
    let x = 0;
    let y = 0;
    for (let i = from; i < to; i++) {
      x += points[i][0];
      y += points[i][1];
    }
    return [x / (to - from), y / (to - from)];
  };
  return [mean(36, 42), mean(42, 48), [...points[30]], [...points[48]], [...points[54]]];
}

/**
 * 2dfan4's outputs to image points: the landmark output holds (x, y, ·) per point on the 64×64
 * heatmap grid, scaled ×4 to crop pixels and taken back through `matrix` (image → crop); the heatmaps
 * [68, 64, 64] give the score. The two outputs are told apart by size, whatever their order.
 */
export function decodeLandmarks(outputs: Float32Array[], matrix: Affine): Landmarks68 {
  const coords = outputs.find((output) => output.length === POINTS * 3);
  const heatmaps = outputs.find((output) => output.length === POINTS * HEATMAP_SIZE * HEATMAP_SIZE);
  if (!coords || !heatmaps) {
    throw new Error(
      `2dfan4: expected outputs of ${POINTS}×3 and ${POINTS}×${HEATMAP_SIZE}×${HEATMAP_SIZE} values, the model gave ${outputs.map((o) => o.length).join(', ')}`,
    );
  }
  const inverse = invertAffine(matrix);
  const toCrop = LANDMARKER_SIZE / HEATMAP_SIZE;
  const points: Point[] = [];
  for (let i = 0; i < POINTS; i++) {
    points.push(applyAffine(inverse, [coords[i * 3] * toCrop, coords[i * 3 + 1] * toCrop]));
  }
  const area = HEATMAP_SIZE * HEATMAP_SIZE;
  let peaks = 0;
  for (let i = 0; i < POINTS; i++) {
    let peak = Number.NEGATIVE_INFINITY;
    for (let j = i * area; j < (i + 1) * area; j++) if (heatmaps[j] > peak) peak = heatmaps[j];
    peaks += peak;
  }
  const score = Math.min(Math.max(peaks / POINTS / 0.9, 0), 1);
  return { points, score };
}

/**
 * FaceFusion's `2dfan4` landmarker, fed as FaceFusion feeds it: the crop in BGR order after its contrast step
 * (OpenCV's Lab and back, with CLAHE on the lightness of nearly black faces). Outside the image the crop
 * repeats the edge pixels where FaceFusion's is black, which only matters for faces cut off by the frame edge.
 */
export class FaceLandmarker {
  constructor(
    readonly name: string,
    private readonly session: InferenceSession,
  ) {}

  /** The 68 points of the face in `box` of `image`, its crop turned by the face's `angle`. */
  detect(image: RgbImage, box: DetectedFace['box'], angle = 0): Promise<Landmarks68> {
    const matrix = landmarkerMatrix(box, angle);
    return this.detectCrop(warpAffine(image, matrix, LANDMARKER_SIZE, LANDMARKER_SIZE), matrix);
  }

  /**
   * The 68 points from a 256×256 crop already sampled through `matrix` (from `landmarkerMatrix`),
   * e.g. straight from a video frame's planes; points come back in the matrix's source pixels.
   */
  async detectCrop(crop: RgbImage, matrix: Affine): Promise<Landmarks68> {
    const area = LANDMARKER_SIZE * LANDMARKER_SIZE;
    if (crop.width !== LANDMARKER_SIZE || crop.height !== LANDMARKER_SIZE) {
      throw new RangeError(`landmarker crop must be ${LANDMARKER_SIZE}x${LANDMARKER_SIZE}`);
    }
    const bgr = new Uint8Array(3 * area);
    for (let i = 0; i < 3 * area; i += 3) {
      bgr[i] = crop.data[i + 2];
      bgr[i + 1] = crop.data[i + 1];
      bgr[i + 2] = crop.data[i];
    }
    optimizeContrast({ width: LANDMARKER_SIZE, height: LANDMARKER_SIZE, data: bgr });
    const input = new Float32Array(3 * area);
    for (let i = 0; i < area; i++) {
      for (let ch = 0; ch < 3; ch++) input[ch * area + i] = bgr[i * 3 + ch] / 255;
    }
    const outputs = await runSession(this.session, input, [1, 3, LANDMARKER_SIZE, LANDMARKER_SIZE]);
    return decodeLandmarks(outputs, matrix);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** The model manager's name for FaceFusion's default landmarker. */
export const LANDMARKER_MODEL = '2dfan4';

/** Fetches (if needed) and opens 2dfan4. */
export async function loadFaceLandmarker(
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<FaceLandmarker> {
  const path = await ensureModel(LANDMARKER_MODEL, models);
  return new FaceLandmarker(LANDMARKER_MODEL, await openSession(path, LANDMARKER_MODEL, execution));
}
