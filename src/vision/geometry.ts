import type { Point } from './detectors/detector.js';

/** A 2×3 affine matrix [a, b, c, d, e, f]: x' = a·x + b·y + c, y' = d·x + e·y + f. */
export type Affine = [number, number, number, number, number, number];

/**
 * The similarity transform (rotation, uniform scale, translation: 4 degrees of freedom) that maps
 * `from` onto `to` with the least squared error, in closed form (Umeyama without reflection). With
 * five landmarks this is what FaceFusion's RANSAC estimate settles on, all points being inliers.
 */
export function similarityTransform(from: readonly Point[], to: readonly Point[]): Affine {
  const n = from.length;
  let fx = 0;
  let fy = 0;
  let tx = 0;
  let ty = 0;
  for (let i = 0; i < n; i++) {
    fx += from[i][0] / n;
    fy += from[i][1] / n;
    tx += to[i][0] / n;
    ty += to[i][1] / n;
  }
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const px = from[i][0] - fx;
    const py = from[i][1] - fy;
    const qx = to[i][0] - tx;
    const qy = to[i][1] - ty;
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (norm === 0) throw new RangeError('similarity transform of coincident points');
  const a = dot / norm;
  const b = cross / norm;
  return [a, -b, tx - a * fx + b * fy, b, a, ty - b * fx - a * fy];
}

export function invertAffine([a, b, c, d, e, f]: Affine): Affine {
  const det = a * e - b * d;
  if (det === 0) throw new RangeError('affine matrix is not invertible');
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}

/** The affine map that applies `second` after `first`. */
export function multiplyAffine(second: Affine, first: Affine): Affine {
  const [a, b, c, d, e, f] = second;
  const [p, q, r, s, t, u] = first;
  return [a * p + b * s, a * q + b * t, a * r + b * u + c, d * p + e * s, d * q + e * t, d * r + e * u + f];
}

export function applyAffine([a, b, c, d, e, f]: Affine, [x, y]: Point): Point {
  return [a * x + b * y + c, d * x + e * y + f];
}

/**
 * The frame pixels that a `width`×`height` output sampled through `matrix` (frame → output pixels) reads:
 * the rectangle under its corners, a pixel wider on each side for the bilinear taps, clipped to the frame
 * (right and bottom exclusive; empty when the output lies outside the frame).
 */
export function sampledRegion(
  matrix: Affine,
  width: number,
  height: number,
  frameWidth: number,
  frameHeight: number,
): { left: number; top: number; right: number; bottom: number } {
  const inverse = invertAffine(matrix);
  const corners = [
    applyAffine(inverse, [0, 0]),
    applyAffine(inverse, [width, 0]),
    applyAffine(inverse, [0, height]),
    applyAffine(inverse, [width, height]),
  ];
  return {
    left: Math.max(0, Math.floor(Math.min(...corners.map(([x]) => x))) - 1),
    top: Math.max(0, Math.floor(Math.min(...corners.map(([, y]) => y))) - 1),
    right: Math.min(frameWidth, Math.ceil(Math.max(...corners.map(([x]) => x))) + 2),
    bottom: Math.min(frameHeight, Math.ceil(Math.max(...corners.map(([, y]) => y))) + 2),
  };
}

/**
 * FaceFusion's create_rotation_matrix_and_size (cv2.getRotationMatrix2D about the centre, then moved so
 * that the turned picture fits whole): the matrix that turns a `width`×`height` picture by `degrees`
 * counter-clockwise, and the turned picture's size (truncated to whole pixels, as there).
 */
export function rotationMatrixAndSize(
  degrees: number,
  width: number,
  height: number,
): { matrix: Affine; width: number; height: number } {
  const radians = (degrees * Math.PI) / 180;
  const cos = Math.cos(radians);
  const sin = Math.sin(radians);
  const cx = width / 2;
  const cy = height / 2;
  const turnedWidth = Math.abs(cos) * width + Math.abs(sin) * height;
  const turnedHeight = Math.abs(sin) * width + Math.abs(cos) * height;
  const matrix: Affine = [
    cos,
    sin,
    (1 - cos) * cx - sin * cy + (turnedWidth - width) / 2,
    -sin,
    cos,
    sin * cx + (1 - cos) * cy + (turnedHeight - height) / 2,
  ];
  return { matrix, width: Math.trunc(turnedWidth), height: Math.trunc(turnedHeight) };
}
