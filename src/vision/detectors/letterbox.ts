import type { RgbImage } from '../image.js';
import type { DetectorSpec, Size } from './detector.js';

export interface Letterboxed {
  tensor: Float32Array;
  /** Image pixels per tensor pixel, per axis. */
  scaleX: number;
  scaleY: number;
}

/**
 * FaceFusion's detector input: the image shrunk (never enlarged) to fit `size`, aspect kept,
 * pasted at the top left of a black canvas, then normalised into NCHW float32. Bilinear with
 * pixel-centre alignment, as cv2.resize.
 */
export function letterbox(
  image: RgbImage,
  size: Size,
  { channels, mean, std }: Pick<DetectorSpec, 'channels' | 'mean' | 'std'>,
): Letterboxed {
  const scale = Math.min(1, size.width / image.width, size.height / image.height);
  const width = Math.max(1, Math.floor(image.width * scale));
  const height = Math.max(1, Math.floor(image.height * scale));
  const scaleX = image.width / width;
  const scaleY = image.height / height;
  const area = size.width * size.height;
  const tensor = new Float32Array(3 * area).fill((0 - mean) / std);
  // Plane index of the image's R, G and B in the tensor.
  const planes = channels === 'rgb' ? [0, area, 2 * area] : [2 * area, area, 0];
  const { data } = image;
  const stride = image.width * 3;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max((y + 0.5) * scaleY - 0.5, 0), image.height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(Math.max((x + 0.5) * scaleX - 0.5, 0), image.width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const fx = sx - x0;
      const a = y0 * stride + x0 * 3;
      const b = y0 * stride + x1 * 3;
      const c = y1 * stride + x0 * 3;
      const d = y1 * stride + x1 * 3;
      const at = y * size.width + x;
      for (let ch = 0; ch < 3; ch++) {
        const top = data[a + ch] + (data[b + ch] - data[a + ch]) * fx;
        const bottom = data[c + ch] + (data[d + ch] - data[c + ch]) * fx;
        tensor[planes[ch] + at] = (top + (bottom - top) * fy - mean) / std;
      }
    }
  }
  return { tensor, scaleX, scaleY };
}
