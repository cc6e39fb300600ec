import { type Affine, applyAffine, invertAffine, rotationMatrixAndSize } from '../geometry.js';
import type { RgbImage } from '../rgbImage.js';
import type { DetectedFace, Point } from './detector.js';

/**
 * FaceFusion's picture for one detector angle (face_detector.detect_faces_by_angle): `image` turned by
 * `degrees` (a multiple of 90) through create_rotation_matrix_and_size's matrix, as cv2.warpAffine samples
 * it: every sample lands on a whole pixel, and where one falls past the edge (that matrix turns about the
 * picture's centre, half a pixel off its middle pixel) it is black. `back` maps the turned picture's
 * pixels to `image`'s.
 */
export function turnImage(image: RgbImage, degrees: number): { image: RgbImage; back: Affine } {
  const turned = rotationMatrixAndSize(degrees, image.width, image.height);
  const back = invertAffine(turned.matrix);
  const [a, b, c, d, e, f] = back;
  const { width, height } = turned;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = Math.round(a * x + b * y + c);
      const sy = Math.round(d * x + e * y + f);
      if (sx < 0 || sy < 0 || sx >= image.width || sy >= image.height) continue;
      const from = (sy * image.width + sx) * 3;
      const to = (y * width + x) * 3;
      data[to] = image.data[from];
      data[to + 1] = image.data[from + 1];
      data[to + 2] = image.data[from + 2];
    }
  }
  return { image: { width, height, data }, back };
}

/** A face found in a turned picture, in the picture's own pixels: its box is the box around the turned corners. */
export function faceThrough(face: DetectedFace, matrix: Affine): DetectedFace {
  const [x1, y1, x2, y2] = face.box;
  const corners = (
    [
      [x1, y1],
      [x2, y1],
      [x2, y2],
      [x1, y2],
    ] as Point[]
  ).map((corner) => applyAffine(matrix, corner));
  const xs = corners.map(([x]) => x);
  const ys = corners.map(([, y]) => y);
  return {
    box: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
    score: face.score,
    landmarks: face.landmarks.map((point) => applyAffine(matrix, point)),
  };
}
