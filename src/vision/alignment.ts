import type { Point } from './detectors/detector.js';
import { type Affine, similarityTransform } from './geometry.js';
import type { RgbImage } from './rgbImage.js';
import { templatePoints, type WarpTemplate } from './templates.js';
import { warpAffine } from './warp.js';

export interface AlignedFace {
  crop: RgbImage;
  /** Image → crop pixels; invert it to paste the crop back. */
  matrix: Affine;
}

/** Warps the face with these 5 landmarks onto a model's template, as a `size`×`size` crop. */
export function alignFace(
  image: RgbImage,
  landmarks: readonly Point[],
  template: WarpTemplate,
  size: number,
): AlignedFace {
  const matrix = similarityTransform(landmarks, templatePoints(template, size));
  return { crop: warpAffine(image, matrix, size, size), matrix };
}
