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

/** One axis of cv2.resize's 8-bit bilinear path: source indices and 11-bit fixed-point weights. */
function fixedAxis(from: number, to: number, zeroAtEdges: boolean) {
  const lo = new Int32Array(to);
  const hi = new Int32Array(to);
  const a = new Int32Array(to);
  const b = new Int32Array(to);
  const scale = from / to;
  for (let i = 0; i < to; i++) {
    const s = Math.fround((i + 0.5) * scale - 0.5);
    const base = Math.floor(s);
    let w = Math.fround(s - base);
    const edge = base < 0 || base >= from - 1;
    if (edge && zeroAtEdges) w = 0;
    lo[i] = Math.min(Math.max(base, 0), from - 1);
    hi[i] = Math.min(Math.max(base + 1, 0), from - 1);
    a[i] = roundHalfEven(Math.fround(Math.fround(1 - w) * 2048));
    b[i] = roundHalfEven(Math.fround(w * 2048));
  }
  return { lo, hi, a, b };
}

function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * cv2.resize(INTER_LINEAR) of a packed 8-bit image, bit for bit as OpenCV's vectorised path computes it:
 * weights in 11-bit fixed point (computed in float32, the row weights of edge rows left as they fall),
 * the horizontal sums shifted down 4 bits before the vertical step's high-half multiplies, then rounded.
 * A face parser's classes flip on one step of input, so its resize must match OpenCV's exactly.
 */
export function resizeBilinearBytes(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  channels: number,
  dstWidth: number,
  dstHeight: number,
  out: Uint8Array,
): void {
  const xs = fixedAxis(srcWidth, dstWidth, true);
  const ys = fixedAxis(srcHeight, dstHeight, false);
  const rowLength = dstWidth * channels;
  const rows = new Int32Array(srcHeight * rowLength);
  for (let y = 0; y < srcHeight; y++) {
    const source = y * srcWidth * channels;
    const target = y * rowLength;
    for (let x = 0; x < dstWidth; x++) {
      const left = source + xs.lo[x] * channels;
      const right = source + xs.hi[x] * channels;
      for (let c = 0; c < channels; c++) {
        rows[target + x * channels + c] = src[left + c] * xs.a[x] + src[right + c] * xs.b[x];
      }
    }
  }
  for (let y = 0; y < dstHeight; y++) {
    const top = ys.lo[y] * rowLength;
    const bottom = ys.hi[y] * rowLength;
    const a = ys.a[y];
    const b = ys.b[y];
    const target = y * rowLength;
    for (let i = 0; i < rowLength; i++) {
      const sum =
        Math.floor(((rows[top + i] >> 4) * a) / 65536) + Math.floor(((rows[bottom + i] >> 4) * b) / 65536);
      const v = (sum + 2) >> 2;
      out[target + i] = Math.min(Math.max(v, 0), 255);
    }
  }
}
