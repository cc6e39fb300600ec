import type { FaceMaskArea } from './analysisOptions.js';
import type { Point } from './detectors/detector.js';
import { smoothModelMask } from './masks.js';

/** The 68-point landmarks that outline each area (FaceFusion's face_mask_area_set). */
export const AREA_LANDMARKS: Record<FaceMaskArea, readonly number[]> = {
  'upper-face': [0, 1, 2, 31, 32, 33, 34, 35, 14, 15, 16, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17],
  'lower-face': [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 35, 34, 33, 32, 31],
  mouth: [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67],
};

type IntPoint = readonly [x: number, y: number];

const cross = (o: IntPoint, a: IntPoint, b: IntPoint) =>
  (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);

/** The convex hull of integer points, without collinear points (Andrew's monotone chain). */
export function convexHull(points: readonly IntPoint[]): IntPoint[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const unique = sorted.filter((p, i) => i === 0 || p[0] !== sorted[i - 1][0] || p[1] !== sorted[i - 1][1]);
  if (unique.length < 3) return unique;
  const chain = (list: IntPoint[]) => {
    const hull: IntPoint[] = [];
    for (const p of list) {
      while (hull.length >= 2 && cross(hull[hull.length - 2], hull[hull.length - 1], p) <= 0) hull.pop();
      hull.push(p);
    }
    hull.pop();
    return hull;
  };
  return [...chain(unique), ...chain([...unique].reverse())];
}

/**
 * OpenCV's clipLine: the segment cut to the size×size image, endpoints moved along it in integer steps
 * (truncated); undefined when it misses the image.
 */
function clipLine(size: number, from: IntPoint, to: IntPoint): [IntPoint, IntPoint] | undefined {
  const last = size - 1;
  let [x1, y1] = from;
  let [x2, y2] = to;
  const code = (x: number, y: number) =>
    (x < 0 ? 1 : 0) + (x > last ? 2 : 0) + (y < 0 ? 4 : 0) + (y > last ? 8 : 0);
  let c1 = code(x1, y1);
  let c2 = code(x2, y2);
  if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
    if (c1 & 12) {
      const a = c1 < 8 ? 0 : last;
      x1 += Math.trunc(((a - y1) * (x2 - x1)) / (y2 - y1));
      y1 = a;
      c1 = (x1 < 0 ? 1 : 0) + (x1 > last ? 2 : 0);
    }
    if (c2 & 12) {
      const a = c2 < 8 ? 0 : last;
      x2 += Math.trunc(((a - y2) * (x2 - x1)) / (y2 - y1));
      y2 = a;
      c2 = (x2 < 0 ? 1 : 0) + (x2 > last ? 2 : 0);
    }
    if ((c1 & c2) === 0 && (c1 | c2) !== 0) {
      if (c1) {
        const a = c1 === 1 ? 0 : last;
        y1 += Math.trunc(((a - x1) * (y2 - y1)) / (x2 - x1));
        x1 = a;
        c1 = 0;
      }
      if (c2) {
        const a = c2 === 1 ? 0 : last;
        y2 += Math.trunc(((a - x2) * (y2 - y1)) / (x2 - x1));
        x2 = a;
        c2 = 0;
      }
    }
  }
  return (c1 | c2) === 0
    ? [
        [x1, y1],
        [x2, y2],
      ]
    : undefined;
}

/**
 * Sets the pixels of an 8-connected line as OpenCV's Line draws it: clipped to the image first, then
 * Bresenham from the left end.
 */
function drawLine(mask: Float32Array, size: number, from: IntPoint, to: IntPoint): void {
  const clipped = clipLine(size, from, to);
  if (!clipped) return;
  const [a, b] = clipped[1][0] < clipped[0][0] ? [clipped[1], clipped[0]] : clipped;
  const dx = b[0] - a[0];
  const dy = Math.abs(b[1] - a[1]);
  const ystep = b[1] < a[1] ? -1 : 1;
  const yMajor = dy > dx;
  const major = yMajor ? dy : dx;
  const minor = yMajor ? dx : dy;
  let [x, y] = a;
  let err = major - 2 * minor;
  for (let i = 0; i <= major; i++) {
    mask[y * size + x] = 1;
    const both = err < 0;
    err += both ? 2 * major - 2 * minor : -2 * minor;
    if (yMajor || both) y += ystep;
    if (!yMajor || both) x += 1;
  }
}

const ONE = 65536;
/** `>> 16` of a 16.16 fixed-point value (arithmetic: towards −∞). */
const fixedToInt = (value: number) => Math.floor(value / ONE);

/**
 * cv2.fillConvexPoly(mask, hull, 1.0) with 8-connected edges: the outline drawn as lines, then each row
 * filled between the two edges walked down from the top vertex in 16.16 fixed point, the fill's spans
 * rounded as OpenCV rounds them (and its last row left to the outline, as OpenCV's loop ends there).
 */
export function fillConvexPolygon(mask: Float32Array, size: number, hull: readonly IntPoint[]): void {
  const count = hull.length;
  if (count === 0) return;
  let previous = hull[count - 1];
  for (const p of hull) {
    drawLine(mask, size, previous, p);
    previous = p;
  }
  let top = 0;
  let ymax = hull[0][1];
  for (let i = 0; i < count; i++) {
    if (hull[i][1] < hull[top][1]) top = i;
    ymax = Math.max(ymax, hull[i][1]);
  }
  const xs = hull.map(([x]) => x);
  if (count < 3 || Math.max(...xs) < 0 || ymax < 0 || Math.min(...xs) >= size || hull[top][1] >= size) return;
  ymax = Math.min(ymax, size - 1);
  const edges = [
    { idx: top, step: 1, x: -ONE, dx: 0, ye: hull[top][1] },
    { idx: top, step: count - 1, x: -ONE, dx: 0, ye: hull[top][1] },
  ];
  let budget = count;
  for (let y = hull[top][1]; y <= ymax; y++) {
    for (const edge of edges) {
      if (y < edge.ye) continue;
      let from = edge.idx;
      let idx = (from + edge.step) % count;
      while (budget-- > 0) {
        const ty = hull[idx][1];
        if (ty > y) {
          const xs0 = hull[from][0] * ONE;
          const xe = hull[idx][0] * ONE;
          edge.ye = ty;
          edge.dx = Math.trunc(((xe - xs0) * 2 + (ty - y)) / (2 * (ty - y)));
          edge.x = xs0;
          edge.idx = idx;
          break;
        }
        from = idx;
        idx = (idx + edge.step) % count;
      }
    }
    if (budget < 0) break;
    if (y >= 0) {
      const [left, right] = edges[0].x > edges[1].x ? [edges[1], edges[0]] : [edges[0], edges[1]];
      const x1 = Math.max(fixedToInt(left.x + ONE / 2), 0);
      const x2 = Math.min(fixedToInt(right.x + ONE / 2), size - 1);
      for (let x = x1; x <= x2; x++) mask[y * size + x] = 1;
    }
    edges[0].x += edges[0].dx;
    edges[1].x += edges[1].dx;
  }
}

/**
 * FaceFusion's area mask (face_masker.create_area_mask) of a size×size crop: the convex hull of the
 * chosen areas' landmarks (68 points in crop pixels, truncated to integers) filled with 1, then smoothed
 * like the model masks (σ 5 blur, clip to 0.5–1, rescaled to 0–1).
 */
export function areaMask(
  size: number,
  landmarks68: readonly Point[],
  areas: readonly FaceMaskArea[],
): Float32Array {
  const points = areas.flatMap((area) =>
    AREA_LANDMARKS[area].map((i): IntPoint => [Math.trunc(landmarks68[i][0]), Math.trunc(landmarks68[i][1])]),
  );
  const mask = new Float32Array(size * size);
  fillConvexPolygon(mask, size, convexHull(points));
  return smoothModelMask(mask, size);
}
