import { type Affine, invertAffine } from './geometry.js';
import type { RgbImage } from './rgbImage.js';

/**
 * Samples `image` through `matrix` (image → output pixels) into a `width`×`height` RGB image:
 * bilinear, with the edge pixels repeated outside the image (cv2.warpAffine with BORDER_REPLICATE).
 */
export function warpAffine(image: RgbImage, matrix: Affine, width: number, height: number): RgbImage {
  const [a, b, c, d, e, f] = invertAffine(matrix);
  const { data } = image;
  const maxX = image.width - 1;
  const maxY = image.height - 1;
  const stride = image.width * 3;
  const out = new Uint8ClampedArray(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = Math.min(Math.max(a * x + b * y + c, 0), maxX);
      const sy = Math.min(Math.max(d * x + e * y + f, 0), maxY);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, maxX);
      const y1 = Math.min(y0 + 1, maxY);
      const fx = sx - x0;
      const fy = sy - y0;
      const p00 = y0 * stride + x0 * 3;
      const p01 = y0 * stride + x1 * 3;
      const p10 = y1 * stride + x0 * 3;
      const p11 = y1 * stride + x1 * 3;
      const o = (y * width + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = data[p00 + ch] + (data[p01 + ch] - data[p00 + ch]) * fx;
        const bottom = data[p10 + ch] + (data[p11 + ch] - data[p10 + ch]) * fx;
        out[o + ch] = top + (bottom - top) * fy;
      }
    }
  }
  return { width, height, data: new Uint8Array(out.buffer) };
}
