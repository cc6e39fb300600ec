import type { RgbImage } from '../rgbImage.js';
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
 * pixel-centre alignment, as cv2.resize. `into` (3 × size's area values), when given, is overwritten
 * and returned as the tensor instead of a new one: a detector reuses it frame after frame.
 */
export function letterbox(
  image: RgbImage,
  size: Size,
  { channels, mean, std }: Pick<DetectorSpec, 'channels' | 'mean' | 'std'>,
  into?: Float32Array,
): Letterboxed {
  const scale = Math.min(1, size.width / image.width, size.height / image.height);
  const width = Math.max(1, Math.floor(image.width * scale));
  const height = Math.max(1, Math.floor(image.height * scale));
  const scaleX = image.width / width;
  const scaleY = image.height / height;
  const area = size.width * size.height;
  if (into && into.length !== 3 * area) throw new RangeError(`letterbox needs ${3 * area} values`);
  const tensor = into ?? new Float32Array(3 * area);
  // Plane index of the image's R, G and B in the tensor.
  const planes = channels === 'rgb' ? [0, area, 2 * area] : [2 * area, area, 0];
  // The black canvas around the image (a new tensor already holds it when black normalises to +0).
  const black = (0 - mean) / std;
  if (into || !Object.is(black, 0)) {
    for (const plane of planes) {
      for (let y = 0; y < height; y++) {
        tensor.fill(black, plane + y * size.width + width, plane + (y + 1) * size.width);
      }
      tensor.fill(black, plane + height * size.width, plane + area);
    }
  }
  const { data } = image;
  if (scale === 1) {
    // Already fits (the face analyser shrinks frames to the detector size first): every tap weight is
    // 0, so the bilinear sample is the pixel itself; copy and normalise, through a table of the 256
    // values (the same float32 values as the division gives).
    const norm = normTable(mean, std);
    const [r, g, b] = planes;
    for (let y = 0, i = 0; y < height; y++) {
      const row = y * size.width;
      for (let at = row; at < row + width; at++, i += 3) {
        tensor[r + at] = norm[data[i]];
        tensor[g + at] = norm[data[i + 1]];
        tensor[b + at] = norm[data[i + 2]];
      }
    }
    return { tensor, scaleX, scaleY };
  }
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

const normTables = new Map<string, Float32Array>();

/** (v − mean) / std as float32 for the 256 byte values. */
function normTable(mean: number, std: number): Float32Array {
  const key = `${mean}/${std}`;
  let table = normTables.get(key);
  if (!table) {
    table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v - mean) / std;
    normTables.set(key, table);
  }
  return table;
}
