/*
 * FaceFusion's crop masks (face_masker.py): size×size Float32Array values, 0 (keep the frame) to 1 (take
 * the crop), row after row.
 */

/** `--face-mask-padding`: top, right, bottom, left, in percent of the crop. */
export type MaskPadding = readonly [top: number, right: number, bottom: number, left: number];

/** cvRound: to nearest, ties to even. */
function cvRound(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * cv2.getGaussianKernel as cv2.GaussianBlur builds it for float images with ksize (0, 0):
 * ksize = cvRound(σ·8 + 1) | 1, weights exp(−x²/2σ²) normalised to sum 1. Returns the half kernel
 * [centre, centre±1, …].
 */
function gaussianHalfKernel(sigma: number): Float64Array {
  const ksize = cvRound(sigma * 8 + 1) | 1;
  const radius = (ksize - 1) / 2;
  const half = new Float64Array(radius + 1);
  const scale = -0.5 / (sigma * sigma);
  let sum = 0;
  for (let i = 0; i <= radius; i++) {
    half[i] = Math.exp(scale * i * i);
    sum += i === 0 ? half[i] : 2 * half[i];
  }
  for (let i = 0; i <= radius; i++) half[i] /= sum;
  return half;
}

/** cv2's BORDER_REFLECT_101 index (gfedcb|abcdefgh|gfedcba), for any distance outside. */
function reflect101(index: number, length: number): number {
  if (length === 1) return 0;
  let i = index;
  while (i < 0 || i >= length) i = i < 0 ? -i : 2 * length - i - 2;
  return i;
}

/**
 * Blurs each row of `src` (width×height) with the half kernel and writes the result transposed into
 * `dst` (height×width), so that two calls blur both axes and restore the layout.
 */
function blurRowsTransposed(
  src: Float32Array,
  width: number,
  height: number,
  half: Float64Array,
  dst: Float32Array,
): void {
  const radius = half.length - 1;
  const line = new Float64Array(width + 2 * radius);
  const edge = new Int32Array(2 * radius);
  for (let i = 0; i < radius; i++) {
    edge[i] = reflect101(i - radius, width);
    edge[radius + i] = reflect101(width + i, width);
  }
  for (let row = 0; row < height; row++) {
    const base = row * width;
    for (let i = 0; i < radius; i++) {
      line[i] = src[base + edge[i]];
      line[radius + width + i] = src[base + edge[radius + i]];
    }
    for (let x = 0; x < width; x++) line[radius + x] = src[base + x];
    for (let x = 0; x < width; x++) {
      const centre = radius + x;
      let acc = half[0] * line[centre];
      for (let t = 1; t <= radius; t++) acc += half[t] * (line[centre - t] + line[centre + t]);
      dst[x * height + row] = acc;
    }
  }
}

/** cv2.GaussianBlur(image, (0, 0), sigma) of a width×height float image (BORDER_REFLECT_101). */
export function gaussianBlur(data: Float32Array, width: number, height: number, sigma: number): Float32Array {
  if (data.length !== width * height) throw new RangeError(`${data.length} values for ${width}x${height}`);
  if (!(sigma > 0)) return Float32Array.from(data);
  const half = gaussianHalfKernel(sigma);
  const transposed = new Float32Array(data.length);
  const out = new Float32Array(data.length);
  blurRowsTransposed(data, width, height, half, transposed);
  blurRowsTransposed(transposed, height, width, half, out);
  return out;
}

/** A 1-D profile (0 on the zeroed border, 1 inside) blurred like the rows of the box mask. */
function blurredProfile(
  size: number,
  start: number,
  end: number,
  half: Float64Array | undefined,
): Float32Array {
  const profile = new Float32Array(size);
  for (let i = Math.max(0, start); i < Math.min(size, end); i++) profile[i] = 1;
  if (!half) return profile;
  const out = new Float32Array(size);
  blurRowsTransposed(profile, size, 1, half, out);
  return out;
}

const boxMasks = new Map<string, Float32Array>();
const shared = new WeakSet<Float32Array>();

/**
 * Whether `mask` is one of the cached masks this module hands out (the same array every time, never
 * modified), which paste-back may keep derived copies of.
 */
export function isSharedMask(mask: Float32Array): boolean {
  return shared.has(mask);
}

/**
 * FaceFusion's box mask (create_box_mask) for a size×size crop: blur_amount = int(size·0.5·blur), a
 * border of max(blur_amount // 2, 1) or the padding (int(size·percent/100)), whichever is larger,
 * set to 0, then cv2.GaussianBlur with σ = blur_amount·0.25 when blur_amount > 0. The box is the
 * product of a row and a column profile, so it is blurred as two 1-D profiles (same values, O(size)).
 * Cached per (size, blur, padding): the returned array is shared, do not modify it.
 */
export function boxMask(size: number, blur: number, padding: MaskPadding = [0, 0, 0, 0]): Float32Array {
  const key = `${size}:${blur}:${padding.join(',')}`;
  const cached = boxMasks.get(key);
  if (cached) return cached;
  const blurAmount = Math.trunc(size * 0.5 * blur);
  const blurArea = Math.max(Math.floor(blurAmount / 2), 1);
  const border = (percent: number) => Math.max(blurArea, Math.trunc((size * percent) / 100));
  const [top, right, bottom, left] = padding;
  const half = blurAmount > 0 ? gaussianHalfKernel(blurAmount * 0.25) : undefined;
  const rows = blurredProfile(size, border(top), size - border(bottom), half);
  const cols = blurredProfile(size, border(left), size - border(right), half);
  const mask = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const r = rows[y];
    const base = y * size;
    for (let x = 0; x < size; x++) mask[base + x] = r * cols[x];
  }
  boxMasks.set(key, mask);
  shared.add(mask);
  return mask;
}

const scaledMasks = new WeakMap<Float32Array, Map<number, Float32Array>>();

/**
 * `mask` times `factor`, value by value. For a shared mask the result is shared too (cached per factor, do
 * not modify it), so paste-back keeps its padded copy instead of redoing it per face; otherwise it is
 * written to `into` (or a new array) and returned.
 */
export function scaledMask(mask: Float32Array, factor: number, into?: Float32Array): Float32Array {
  const cached = shared.has(mask) ? scaledMasks.get(mask)?.get(factor) : undefined;
  if (cached) return cached;
  const out = into?.length === mask.length && !shared.has(mask) ? into : new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] * factor;
  if (shared.has(mask)) {
    let byFactor = scaledMasks.get(mask);
    if (!byFactor) {
      byFactor = new Map();
      scaledMasks.set(mask, byFactor);
    }
    byFactor.set(factor, out);
    shared.add(out);
  }
  return out;
}

/** Masks combined as FaceFusion does: elementwise minimum, clipped to 0–1. */
export function combineMasks(masks: Float32Array[]): Float32Array {
  if (masks.length === 0) throw new RangeError('no mask to combine');
  const length = masks[0].length;
  for (const mask of masks) {
    if (mask.length !== length) throw new RangeError('masks of different sizes');
  }
  const out = Float32Array.from(masks[0]);
  for (let m = 1; m < masks.length; m++) {
    const mask = masks[m];
    for (let i = 0; i < length; i++) if (mask[i] < out[i]) out[i] = mask[i];
  }
  for (let i = 0; i < length; i++) {
    const v = out[i];
    out[i] = v < 0 ? 0 : Math.min(v, 1);
  }
  return out;
}

/**
 * The smoothing FaceFusion gives a model's mask (occlusion, region, area) once resized to the crop:
 * (GaussianBlur(clip(mask, 0, 1), σ 5).clip(0.5, 1) − 0.5)·2, so the soft edge moves inside the
 * masked area. Returns a new size×size array.
 */
export function smoothModelMask(mask: Float32Array, size: number): Float32Array {
  if (mask.length !== size * size)
    throw new RangeError(`mask has ${mask.length} values, expected ${size * size}`);
  const clipped = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i];
    clipped[i] = v < 0 ? 0 : Math.min(v, 1);
  }
  const out = gaussianBlur(clipped, size, size, 5);
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    out[i] = ((v < 0.5 ? 0.5 : Math.min(v, 1)) - 0.5) * 2;
  }
  return out;
}
