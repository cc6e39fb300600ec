/** One axis of a bilinear resize: for each output index, the two source indices and the second's weight. */
export interface ResizeAxis {
  lo: Int32Array;
  hi: Int32Array;
  weight: Float32Array;
}

/**
 * cv2.resize's INTER_LINEAR sampling along one axis: pixel centres aligned (src = (dst + ½)·scale − ½),
 * edge samples repeated. `offset` shifts the output window: output index i is destination pixel
 * `offset + i` of the full `to`-sized image. `scale` (source pixels per output pixel) defaults to
 * from / to; give it when the sizes are rounded (a subsampled chroma plane of an odd-sized frame).
 */
export function resizeAxis(from: number, to: number, count = to, offset = 0, scale = from / to): ResizeAxis {
  const lo = new Int32Array(count);
  const hi = new Int32Array(count);
  const weight = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const s = (offset + i + 0.5) * scale - 0.5;
    const base = Math.floor(s);
    if (base < 0) {
      lo[i] = 0;
      hi[i] = 0;
    } else if (base >= from - 1) {
      lo[i] = from - 1;
      hi[i] = from - 1;
    } else {
      lo[i] = base;
      hi[i] = base + 1;
      weight[i] = s - base;
    }
  }
  return { lo, hi, weight };
}

/**
 * Bilinear resize of a packed `channels`-channel image (cv2.resize, INTER_LINEAR). Integer outputs
 * (Uint8Array) are rounded; float outputs keep the exact value.
 */
export function resizeBilinear(
  src: ArrayLike<number>,
  srcWidth: number,
  srcHeight: number,
  channels: number,
  dstWidth: number,
  dstHeight: number,
  out: Uint8Array | Float32Array,
): void {
  const xs = resizeAxis(srcWidth, dstWidth);
  const ys = resizeAxis(srcHeight, dstHeight);
  const round = !(out instanceof Float32Array);
  const stride = srcWidth * channels;
  for (let y = 0; y < dstHeight; y++) {
    const top = ys.lo[y] * stride;
    const bottom = ys.hi[y] * stride;
    const fy = ys.weight[y];
    for (let x = 0; x < dstWidth; x++) {
      const left = xs.lo[x] * channels;
      const right = xs.hi[x] * channels;
      const fx = xs.weight[x];
      const o = (y * dstWidth + x) * channels;
      for (let c = 0; c < channels; c++) {
        const t = src[top + left + c] + (src[top + right + c] - src[top + left + c]) * fx;
        const b = src[bottom + left + c] + (src[bottom + right + c] - src[bottom + left + c]) * fx;
        const v = t + (b - t) * fy;
        out[o + c] = round ? Math.round(v) : v;
      }
    }
  }
}
