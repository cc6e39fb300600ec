import type { DetectedFace } from './detector.js';

function iou(a: DetectedFace['box'], b: DetectedFace['box']): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** Greedy non-maximum suppression, as cv2.dnn.NMSBoxes: keeps the best, drops overlaps above `threshold`. */
export function nonMaximumSuppression(faces: DetectedFace[], threshold: number): DetectedFace[] {
  const kept: DetectedFace[] = [];
  for (const face of [...faces].sort((a, b) => b.score - a.score)) {
    if (kept.every((other) => iou(face.box, other.box) <= threshold)) kept.push(face);
  }
  return kept;
}

/**
 * FaceFusion's get_nms_threshold: 0.4 with one detector angle, lower the more angles are searched (0.3, 0.2,
 * 0.1 for 2, 3, 4): one face found at two angles gives boxes that overlap less than two finds at one angle.
 */
export function nmsThreshold(angleCount: number): number {
  return ({ 2: 0.3, 3: 0.2, 4: 0.1 } as Record<number, number>)[angleCount] ?? 0.4;
}
