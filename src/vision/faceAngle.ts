import type { FaceDetectorAngle, Point } from './detectors/detector.js';

/**
 * FaceFusion's estimate_face_angle: the direction from the jaw's first point to its last (points 0 and
 * 16 of 68), to the nearest of 0, 90, 180 and 270 degrees (0: upright; image y grows downwards; halfway
 * goes to the smaller, as numpy's argmin does).
 */
export function faceAngle(landmarks68: readonly Point[]): FaceDetectorAngle {
  const [x1, y1] = landmarks68[0];
  const [x2, y2] = landmarks68[16];
  const degrees = ((((Math.atan2(y2 - y1, x2 - x1) * 180) / Math.PI) % 360) + 360) % 360;
  return Math.abs((Math.ceil(degrees / 90 - 0.5) * 90) % 360) as FaceDetectorAngle;
}
