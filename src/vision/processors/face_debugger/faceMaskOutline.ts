import { type Affine, sampledRegion } from '../../geometry.js';

/** The frame pixels a crop mask covers, as a binary picture placed at (x, y) in the frame. */
export interface MaskRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  /** 1 where the mask, carried back into the frame, is above 100/255. */
  inside: Uint8Array;
}

/**
 * FaceFusion's debugger mask in frame pixels: the `size`-square crop mask as bytes (×255, truncated),
 * warped back into the frame (bilinear, zero outside the crop; `matrix` is frame → crop) and
 * thresholded above 100. Only the frame rectangle under the crop is computed; undefined when it lies
 * outside the frame.
 */
export function faceMaskOutline(
  mask: Float32Array,
  size: number,
  matrix: Affine,
  frameWidth: number,
  frameHeight: number,
): MaskRegion | undefined {
  const { left: x, top: y, right, bottom } = sampledRegion(matrix, size, size, frameWidth, frameHeight);
  if (right <= x || bottom <= y) return undefined;
  const width = right - x;
  const height = bottom - y;
  const byte = (u: number, v: number) =>
    u < 0 || v < 0 || u >= size || v >= size
      ? 0
      : Math.trunc(Math.min(Math.max(mask[v * size + u], 0), 1) * 255);
  const inside = new Uint8Array(width * height);
  const [a, b, c, d, e, f] = matrix;
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const u = a * (x + col) + b * (y + row) + c;
      const v = d * (x + col) + e * (y + row) + f;
      const u0 = Math.floor(u);
      const v0 = Math.floor(v);
      const fu = u - u0;
      const fv = v - v0;
      const top = byte(u0, v0) + (byte(u0 + 1, v0) - byte(u0, v0)) * fu;
      const low = byte(u0, v0 + 1) + (byte(u0 + 1, v0 + 1) - byte(u0, v0 + 1)) * fu;
      if (Math.round(top + (low - top) * fv) > 100) inside[row * width + col] = 1;
    }
  }
  return { x, y, width, height, inside };
}
