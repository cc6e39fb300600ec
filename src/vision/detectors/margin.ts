import type { RgbImage } from '../rgbImage.js';
import type { DetectedFace, FaceDetectorMargin, Size } from './detector.js';

export interface MarginPixels {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/**
 * FaceFusion's prepare_margin: each side's percentage mapped onto 0–0.5 of the frame's height (top, bottom)
 * or width (right, left), in whole pixels rounded down.
 */
export function marginPixels(margin: FaceDetectorMargin, width: number, height: number): MarginPixels {
  const [top, right, bottom, left] = margin.map((percent) => 0.005 * percent);
  return {
    top: Math.trunc(height * top),
    right: Math.trunc(width * right),
    bottom: Math.trunc(height * bottom),
    left: Math.trunc(width * left),
  };
}

/**
 * The box a frame is shrunk into before its margin is added, so that frame and margin together fit `size`
 * (upright), as FaceFusion shrinks the frame with its margin: one resize, not two.
 */
export function sizeInsideMargin(size: Size, margin: FaceDetectorMargin): Size {
  const [top, right, bottom, left] = margin;
  return {
    width: (size.width * 200) / (200 + left + right),
    height: (size.height * 200) / (200 + top + bottom),
  };
}

/** Whether the margin adds anything. */
export const hasMargin = (margin: FaceDetectorMargin | undefined): margin is FaceDetectorMargin =>
  margin?.some((percent) => percent > 0) ?? false;

/** `image` with black rows and columns added around it (numpy.pad's zeros), and how many on each side. */
export function withMargin(
  image: RgbImage,
  margin: FaceDetectorMargin,
): { image: RgbImage; pixels: MarginPixels } {
  const pixels = marginPixels(margin, image.width, image.height);
  const width = image.width + pixels.left + pixels.right;
  const height = image.height + pixels.top + pixels.bottom;
  const data = new Uint8Array(width * height * 3);
  const row = image.width * 3;
  for (let y = 0; y < image.height; y++) {
    data.set(image.data.subarray(y * row, (y + 1) * row), ((y + pixels.top) * width + pixels.left) * 3);
  }
  return { image: { width, height, data }, pixels };
}

/** A face found in the picture with the margin around it, in the picture's own pixels. */
export function faceInsideMargin(face: DetectedFace, { left, top }: MarginPixels): DetectedFace {
  const [x1, y1, x2, y2] = face.box;
  return {
    box: [x1 - left, y1 - top, x2 - left, y2 - top],
    score: face.score,
    landmarks: face.landmarks.map(([x, y]) => [x - left, y - top]),
  };
}
