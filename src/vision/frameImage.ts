import { type Plane, planeLayout } from '../media/pixelFormat.js';
import {
  type RgbToYuvCoefficients,
  rgbToYuvCoefficients,
  type YuvToRgbCoefficients,
  yuvToRgbCoefficients,
} from './colourMatrix.js';
import type { Point } from './detectors/detector.js';
import type { Frame } from './frame.js';
import { type Affine, invertAffine, sampledRegion, similarityTransform } from './geometry.js';
import { isSharedMask } from './masks.js';
import type { RgbImage } from './rgbImage.js';
import { templatePoints, type WarpTemplate } from './templates.js';
import { warpAffine } from './warp.js';

/*
 * The face pipeline's bridge between the frame's planar YUV and the RGB the models want: only what a
 * step needs is converted (a shrunk frame for the detector, a face crop, the pasted-back region).
 *
 * The matrices and range handling are colourMatrix.ts's; the chroma of a luma pixel is taken from the
 * chroma sample that covers it, and 10-bit samples are divided by 4 (yuvToRgb is frameRegionToRgb of
 * the whole frame). Interpolated reads use the chroma samples of the 4 luma taps with the luma
 * weights, which is exactly bilinear interpolation of yuvToRgb's output (up to its per-pixel clamping
 * and rounding) without converting the frame.
 */

export type Samples = Uint8Array | Uint16Array;

/**
 * A plane of the frame's data as samples: a view of it, or a copy where 10-bit data sits at an odd byte
 * offset (which cannot be viewed as 16-bit words).
 */
export function planeSamples(data: Buffer, plane: Plane): Samples {
  const count = plane.width * plane.height;
  const start = data.byteOffset + plane.offset;
  if (plane.bytesPerSample === 1) return new Uint8Array(data.buffer, start, count);
  if (start % 2 === 0) return new Uint16Array(data.buffer, start, count);
  return new Uint16Array(data.buffer.slice(start, start + count * 2));
}

interface Planes {
  y: Samples;
  u: Samples;
  v: Samples;
  width: number;
  height: number;
  chromaWidth: number;
  chromaHeight: number;
  /** 1 when chroma is halved along that axis. */
  xShift: number;
  yShift: number;
  /** Frame samples per 8-bit step: 1, or 4 for 10 bit. */
  depth: number;
  maxValue: number;
  /** Copies the planes back into the frame when they had to be copied out (unaligned 10-bit data). */
  commit(): void;
}

function framePlanes(frame: Frame): Planes {
  const { width, height, data } = frame;
  const layout = planeLayout(frame.pixFmt, width, height);
  const [yp, up, vp] = layout;
  const needed = vp.offset + vp.width * vp.height * vp.bytesPerSample;
  if (data.length < needed) {
    throw new RangeError(
      `frame ${frame.index} has ${data.length} bytes, ${frame.pixFmt} ${width}x${height} needs ${needed}`,
    );
  }
  const wide = yp.bytesPerSample === 2;
  const samples = layout.map((plane) => planeSamples(data, plane));
  const copied = wide && data.byteOffset % 2 !== 0;
  return {
    y: samples[0],
    u: samples[1],
    v: samples[2],
    width,
    height,
    chromaWidth: up.width,
    chromaHeight: up.height,
    xShift: up.width < width ? 1 : 0,
    yShift: up.height < height ? 1 : 0,
    depth: wide ? 4 : 1,
    maxValue: wide ? 1023 : 255,
    commit() {
      if (!copied) return;
      layout.forEach((plane, i) => {
        data.set(new Uint8Array(samples[i].buffer), plane.offset);
      });
    },
  };
}

/** Writes the RGB of one Y, U, V sample triple (the frame's depth) at out[o], out[o + 1], out[o + 2]. */
function putRgb(
  out: Uint8ClampedArray,
  o: number,
  y: number,
  u: number,
  v: number,
  k: YuvToRgbCoefficients,
): void {
  const luma = y * k.yMul + k.yAdd;
  const cb = u * k.cMul - 128;
  const cr = v * k.cMul - 128;
  out[o] = luma + k.rv * cr;
  out[o + 1] = luma - k.gu * cb - k.gv * cr;
  out[o + 2] = luma + k.bu * cb;
}

/**
 * Bilinear interpolation of plane `p` between its samples a (top left), b (top right), c (bottom left)
 * and d (bottom right), at fx, fy (0–1) from a.
 */
export function bilinear(
  p: Samples,
  a: number,
  b: number,
  c: number,
  d: number,
  fx: number,
  fy: number,
): number {
  const t = p[a];
  const bt = p[c];
  const top = t + (p[b] - t) * fx;
  return top + (bt + (p[d] - bt) * fx - top) * fy;
}

/**
 * The whole frame shrunk (never enlarged) to fit `maxWidth`×`maxHeight`, aspect kept, in RGB: bilinear
 * with pixel-centre alignment, as cv2.resize (FaceFusion's detector input; an odd integer factor, such
 * as 1080p to 640x360, samples pixel centres). `scale` is frame pixels per image pixel on both axes:
 * multiply what is found in the image by it, as FaceFusion does with its detector ratio. `reuse`, when it
 * has the result's length, is overwritten and returned as the image's data instead of a new array.
 */
export function frameToRgbScaled(
  frame: Frame,
  maxWidth: number,
  maxHeight: number,
  reuse?: Uint8ClampedArray,
): { image: RgbImage; scale: number } {
  if (!(maxWidth >= 1 && maxHeight >= 1))
    throw new RangeError(`cannot shrink a frame to ${maxWidth}x${maxHeight}`);
  const p = framePlanes(frame);
  const { width, height } = p;
  const shrink = Math.min(1, maxWidth / width, maxHeight / height);
  const outWidth = Math.max(1, Math.min(width, Math.round(width * shrink)));
  const outHeight = Math.max(1, Math.min(height, Math.round(height * shrink)));
  const scale = 1 / shrink;
  // Per output column: left luma tap, its chroma taps, weight of the right tap.
  const col0 = new Int32Array(outWidth);
  const col1 = new Int32Array(outWidth);
  const ccol0 = new Int32Array(outWidth);
  const ccol1 = new Int32Array(outWidth);
  const colW = new Float64Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const sx = Math.min(Math.max((x + 0.5) * scale - 0.5, 0), width - 1);
    const x0 = Math.floor(sx);
    const x1 = Math.min(x0 + 1, width - 1);
    col0[x] = x0;
    col1[x] = x1;
    ccol0[x] = x0 >> p.xShift;
    ccol1[x] = x1 >> p.xShift;
    colW[x] = sx - x0;
  }
  const k = yuvToRgbCoefficients(frame.colour, p.depth);
  const { y: Y, u: U, v: V, chromaWidth } = p;
  // An odd integer factor (1080p to 640x360 is 3) puts every output pixel on a frame pixel's centre.
  const columnsExact = colW.every((w) => w === 0);
  const size = outWidth * outHeight * 3;
  const out = reuse?.length === size ? reuse : new Uint8ClampedArray(size);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.min(Math.max((y + 0.5) * scale - 0.5, 0), height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, height - 1);
    const fy = sy - y0;
    const r0 = y0 * width;
    const r1 = y1 * width;
    const c0 = (y0 >> p.yShift) * chromaWidth;
    const c1 = (y1 >> p.yShift) * chromaWidth;
    if (columnsExact && fy === 0) {
      for (let x = 0; x < outWidth; x++, o += 3) {
        const c = c0 + ccol0[x];
        putRgb(out, o, Y[r0 + col0[x]], U[c], V[c], k);
      }
      continue;
    }
    for (let x = 0; x < outWidth; x++, o += 3) {
      const a = col0[x];
      const b = col1[x];
      const ca = ccol0[x];
      const cb = ccol1[x];
      const fx = colW[x];
      putRgb(
        out,
        o,
        bilinear(Y, r0 + a, r0 + b, r1 + a, r1 + b, fx, fy),
        bilinear(U, c0 + ca, c0 + cb, c1 + ca, c1 + cb, fx, fy),
        bilinear(V, c0 + ca, c0 + cb, c1 + ca, c1 + cb, fx, fy),
        k,
      );
    }
  }
  return { image: { width: outWidth, height: outHeight, data: new Uint8Array(out.buffer) }, scale };
}

/**
 * The rectangle (x, y, width, height) of the frame in RGB, clipped to the frame (the result may be
 * smaller, or empty). The chroma of a luma pixel is the chroma sample that covers it.
 */
export function frameRegionToRgb(
  frame: Frame,
  x: number,
  y: number,
  width: number,
  height: number,
): RgbImage {
  const p = framePlanes(frame);
  const left = Math.max(0, Math.floor(x));
  const top = Math.max(0, Math.floor(y));
  const right = Math.min(p.width, Math.ceil(x + width));
  const bottom = Math.min(p.height, Math.ceil(y + height));
  const outWidth = Math.max(0, right - left);
  const outHeight = Math.max(0, bottom - top);
  const k = yuvToRgbCoefficients(frame.colour, p.depth);
  const { y: Y, u: U, v: V, xShift } = p;
  const out = new Uint8ClampedArray(outWidth * outHeight * 3);
  let o = 0;
  for (let row = top; row < bottom; row++) {
    const r = row * p.width;
    const c = (row >> p.yShift) * p.chromaWidth;
    for (let col = left; col < right; col++, o += 3) {
      const ci = c + (col >> xShift);
      putRgb(out, o, Y[r + col], U[ci], V[ci], k);
    }
  }
  return { width: outWidth, height: outHeight, data: new Uint8Array(out.buffer) };
}

/**
 * warpAffine (warp.ts, cv2.warpAffine's bilinear sampling with edge pixels repeated) of the frame's RGB
 * through `matrix` (frame → output pixels), converting only the frame rectangle the output covers: the
 * landmarker's crop, sampled as FaceFusion samples it from its BGR frame.
 */
export function warpFrameRegion(frame: Frame, matrix: Affine, width: number, height: number): RgbImage {
  const { left, top, right, bottom } = sampledRegion(matrix, width, height, frame.width, frame.height);
  // Wholly outside the frame, every output pixel repeats the nearest edge pixel.
  const x = Math.min(left, frame.width - 1);
  const y = Math.min(top, frame.height - 1);
  const region = frameRegionToRgb(frame, x, y, Math.max(right - x, 1), Math.max(bottom - y, 1));
  const [a, b, c, d, e, f] = matrix;
  return warpAffine(region, [a, b, c + a * x + b * y, d, e, f + d * x + e * y], width, height);
}

/**
 * alignFace (alignment.ts) read straight from the frame: the similarity transform of the 5 landmarks
 * onto the template, then a bilinear warp with the edge pixels repeated (cv2.warpAffine,
 * BORDER_REPLICATE), sampling Y, U and V at the crop pixels only.
 */
export function alignFromFrame(
  frame: Frame,
  landmarks: readonly Point[],
  template: WarpTemplate,
  size: number,
): { crop: RgbImage; matrix: Affine } {
  const matrix = similarityTransform(landmarks, templatePoints(template, size));
  return { crop: warpFrame(frame, matrix, size, size), matrix };
}

/** Samples the frame through `matrix` (frame → output pixels) into a width×height RGB image. */
function warpFrame(frame: Frame, matrix: Affine, outWidth: number, outHeight: number): RgbImage {
  const p = framePlanes(frame);
  const [a, b, c, d, e, f] = invertAffine(matrix);
  const { width, height, xShift, yShift, chromaWidth } = p;
  const maxX = width - 1;
  const maxY = height - 1;
  const { yMul, yAdd, cMul, rv, gu, gv, bu } = yuvToRgbCoefficients(frame.colour, p.depth);
  const { y: Y, u: U, v: V } = p;
  const out = new Uint8ClampedArray(outWidth * outHeight * 3);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    let px = b * y + c;
    let py = e * y + f;
    for (let x = 0; x < outWidth; x++, px += a, py += d, o += 3) {
      const sx = px < 0 ? 0 : Math.min(px, maxX);
      const sy = py < 0 ? 0 : Math.min(py, maxY);
      const x0 = sx | 0;
      const y0 = sy | 0;
      const x1 = x0 < maxX ? x0 + 1 : maxX;
      const y1 = y0 < maxY ? y0 + 1 : maxY;
      const fx = sx - x0;
      const fy = sy - y0;
      const r0 = y0 * width;
      const r1 = y1 * width;
      const c0 = (y0 >> yShift) * chromaWidth;
      const c1 = (y1 >> yShift) * chromaWidth;
      const ca = x0 >> xShift;
      const cb = x1 >> xShift;
      // putRgb written out: reading its coefficients per pixel costs this hot loop 2–5 %.
      const luma = bilinear(Y, r0 + x0, r0 + x1, r1 + x0, r1 + x1, fx, fy) * yMul + yAdd;
      const cbv = bilinear(U, c0 + ca, c0 + cb, c1 + ca, c1 + cb, fx, fy) * cMul - 128;
      const crv = bilinear(V, c0 + ca, c0 + cb, c1 + ca, c1 + cb, fx, fy) * cMul - 128;
      out[o] = luma + rv * crv;
      out[o + 1] = luma - gu * cbv - gv * crv;
      out[o + 2] = luma + bu * cbv;
    }
  }
  return { width: outWidth, height: outHeight, data: new Uint8Array(out.buffer) };
}

/** Scratch planes for paste-back, reused between calls with crops of the same size. */
const scratch = new Map<string, { y: Float32Array; u: Float32Array; v: Float32Array; mask: Float32Array }>();
/** Padded copies of the shared (cached, never modified) masks of masks.ts. */
const paddedShared = new WeakMap<Float32Array, { w: number; h: number; padded: Float32Array }>();

function scratchFor(stride: number, rows: number) {
  const key = `${stride}x${rows}`;
  let buffers = scratch.get(key);
  if (!buffers) {
    const n = stride * rows;
    buffers = {
      y: new Float32Array(n),
      u: new Float32Array(n),
      v: new Float32Array(n),
      mask: new Float32Array(n),
    };
    scratch.set(key, buffers);
  }
  return buffers;
}

/*
 * The padded grids paste-back samples: the crop (w×h) sits at (1, 1) of a (w+3)×(h+3) grid, so that the
 * bilinear taps of any point in [−1, w]×[−1, h] stay inside it. The crop's border repeats its edge
 * (BORDER_REPLICATE); the mask's is 0 (the constant border cv2.warpAffine gives the mask).
 */

/** The mask clipped to 0–1 with a zero border. */
function padMask(mask: Float32Array, w: number, h: number, out: Float32Array): Float32Array {
  const stride = w + 3;
  out.fill(0, 0, stride);
  for (let row = 0; row < h; row++) {
    const base = (row + 1) * stride;
    out[base] = 0;
    let m = row * w;
    for (let o = base + 1; o <= base + w; o++, m++) {
      const v = mask[m];
      out[o] = v > 0 ? Math.min(v, 1) : 0;
    }
    out[base + w + 1] = 0;
    out[base + w + 2] = 0;
  }
  out.fill(0, (h + 1) * stride, (h + 3) * stride);
  return out;
}

/** The crop converted to the frame's Y, U and V sample values (`maxValue` at most), edges repeated. */
function padCrop(
  crop: RgbImage,
  k: RgbToYuvCoefficients,
  maxValue: number,
  out: { y: Float32Array; u: Float32Array; v: Float32Array },
) {
  const w = crop.width;
  const h = crop.height;
  const stride = w + 3;
  const { y: py, u: pu, v: pv } = out;
  const { kr, kg, kb, yMul, yAdd, uMul, vMul, cAdd } = k;
  const src = crop.data;
  for (let row = 0; row < h; row++) {
    let i = row * w * 3;
    const base = (row + 1) * stride;
    for (let o = base + 1; o <= base + w; o++, i += 3) {
      const r = src[i];
      const g = src[i + 1];
      const b = src[i + 2];
      const luma = kr * r + kg * g + kb * b;
      // In range by construction, except full-range chroma, which spans 0.5–255.5.
      py[o] = luma * yMul + yAdd;
      pu[o] = Math.min((b - luma) * uMul + cAdd, maxValue);
      pv[o] = Math.min((r - luma) * vMul + cAdd, maxValue);
    }
    for (const plane of [py, pu, pv]) {
      plane[base] = plane[base + 1];
      plane[base + w + 1] = plane[base + w];
      plane[base + w + 2] = plane[base + w];
    }
  }
  for (const plane of [py, pu, pv]) {
    plane.copyWithin(0, stride, 2 * stride);
    plane.copyWithin((h + 1) * stride, h * stride, (h + 1) * stride);
    plane.copyWithin((h + 2) * stride, h * stride, (h + 1) * stride);
  }
}

/**
 * The range [from, to] of x (integers, within [lo, hi]) where u = u0 + du·x and v = v0 + dv·x both lie in
 * [−1, w]×[−1, h]: outside it the mask samples only its zero border. Empty when from > to.
 */
function span(u0: number, du: number, v0: number, dv: number, w: number, h: number, lo: number, hi: number) {
  let from = lo;
  let to = hi;
  for (const [c0, dc, limit] of [
    [u0, du, w],
    [v0, dv, h],
  ]) {
    if (Math.abs(dc) < 1e-12) {
      if (c0 < -1 || c0 > limit) return [lo, lo - 1];
      continue;
    }
    const x0 = (-1 - c0) / dc;
    const x1 = (limit - c0) / dc;
    from = Math.max(from, Math.floor(Math.min(x0, x1)));
    to = Math.min(to, Math.ceil(Math.max(x0, x1)));
  }
  return [from, to];
}

/** OpenCV's cvRound: to the nearest integer, ties to even. */
export function roundHalfEven(value: number): number {
  const rounded = Math.round(value);
  return rounded - value === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/**
 * FaceFusion's paste_back straight into the frame's YUV: every frame sample inside the bounding box of
 * the crop's corners mapped back into the frame (rounded, clipped to the frame) samples the crop
 * (bilinear, edges repeated) and the mask (bilinear, zero outside the crop, clipped to 0–1) at its
 * position, and becomes frame·(1−m) + crop·m rounded, with the crop converted by the frame's matrix and
 * range. Y is blended at full resolution, U and V at the chroma samples' positions (the centre of the
 * luma pixels each covers). Samples outside the box, and those the mask leaves at 0, are left untouched.
 *
 * @param matrix frame → crop pixels, as alignFromFrame returns it.
 * @param mask crop.width×crop.height values, 0–1.
 */
export function pasteIntoFrame(frame: Frame, crop: RgbImage, matrix: Affine, mask: Float32Array): void {
  const w = crop.width;
  const h = crop.height;
  if (mask.length !== w * h)
    throw new RangeError(`mask has ${mask.length} values, the crop ${w}x${h} pixels`);
  if (crop.data.length !== w * h * 3) throw new RangeError('crop data does not match its size');
  const p = framePlanes(frame);
  const { width, height, xShift, yShift, chromaWidth, chromaHeight } = p;
  const [ia, ib, ic, id, ie, iff] = invertAffine(matrix);
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const [cx, cy] of [
    [0, 0],
    [w, 0],
    [w, h],
    [0, h],
  ]) {
    const fx = ia * cx + ib * cy + ic;
    const fy = id * cx + ie * cy + iff;
    minX = Math.min(minX, fx);
    maxX = Math.max(maxX, fx);
    minY = Math.min(minY, fy);
    maxY = Math.max(maxY, fy);
  }
  // FaceFusion maps the corners as integers (cv2.transform of an int array rounds them), so its box is
  // the rounded corners: up to a pixel smaller than floor/ceil on each side, pixels it leaves untouched.
  const x1 = Math.min(Math.max(roundHalfEven(minX), 0), width);
  const y1 = Math.min(Math.max(roundHalfEven(minY), 0), height);
  const x2 = Math.min(Math.max(roundHalfEven(maxX), 0), width);
  const y2 = Math.min(Math.max(roundHalfEven(maxY), 0), height);
  if (x2 <= x1 || y2 <= y1) return;

  const stride = w + 3;
  const buffers = scratchFor(stride, h + 3);
  let padded: Float32Array;
  if (isSharedMask(mask)) {
    let cached = paddedShared.get(mask);
    if (cached?.w !== w || cached.h !== h) {
      cached = { w, h, padded: padMask(mask, w, h, new Float32Array(stride * (h + 3))) };
      paddedShared.set(mask, cached);
    }
    padded = cached.padded;
  } else {
    padded = padMask(mask, w, h, buffers.mask);
  }
  padCrop(crop, rgbToYuvCoefficients(frame.colour, p.depth), p.maxValue, buffers);
  const [a, b, c, d, e, f] = matrix;
  blend([p.y], [buffers.y], width, x1, y1, x2 - 1, y2 - 1, [a, b, c, d, e, f], w, h, padded);
  // Chroma samples whose luma pixels meet the box. Sample (i, j) sits at luma (step·i + (step−1)/2, …).
  const step = 1 << xShift;
  const rowStep = 1 << yShift;
  const ox = (step - 1) / 2;
  const oy = (rowStep - 1) / 2;
  const chromaMatrix: Affine = [
    a * step,
    b * rowStep,
    a * ox + b * oy + c,
    d * step,
    e * rowStep,
    d * ox + e * oy + f,
  ];
  const cx2 = Math.min((x2 - 1) >> xShift, chromaWidth - 1);
  const cy2 = Math.min((y2 - 1) >> yShift, chromaHeight - 1);
  blend(
    [p.u, p.v],
    [buffers.u, buffers.v],
    chromaWidth,
    x1 >> xShift,
    y1 >> yShift,
    cx2,
    cy2,
    chromaMatrix,
    w,
    h,
    padded,
  );
  p.commit();
}

/**
 * bilinear for the padded float grids (`stride` values a row) at fx, fy past cell i: a function of its
 * own so that each stays monomorphic in V8 (one shared with the frame planes made paste-back and the
 * crops ~10 % slower).
 */
function gridBilinear(g: Float32Array, i: number, stride: number, fx: number, fy: number): number {
  const t = g[i];
  const b = g[i + stride];
  const top = t + (g[i + 1] - t) * fx;
  return top + (b + (g[i + stride + 1] - b) * fx - top) * fy;
}

/**
 * Blends `planes` (of `planeWidth` samples a row) over [x1, x2]×[y1, y2] (inclusive): sample (x, y)
 * reads the padded mask and its padded crop plane in `sources` at matrix·(x, y). The planes share
 * positions and mask (Y alone, or U and V together).
 */
function blend(
  planes: readonly Samples[],
  sources: readonly Float32Array[],
  planeWidth: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  [a, b, c, d, e, f]: Affine,
  w: number,
  h: number,
  mask: Float32Array,
): void {
  const stride = w + 3;
  const [plane0, plane1] = planes;
  const [source0, source1] = sources;
  for (let y = y1; y <= y2; y++) {
    const u0 = b * y + c;
    const v0 = e * y + f;
    const [from, to] = span(u0, a, v0, d, w, h, x1, x2);
    const rowBase = y * planeWidth;
    // Shifted into the padded grid, where [−1, w] becomes [0, w + 1].
    let u = u0 + a * from + 1;
    let v = v0 + d * from + 1;
    for (let x = from; x <= to; x++, u += a, v += d) {
      const pu = u <= 0 ? 0 : Math.min(u, w + 1);
      const pv = v <= 0 ? 0 : Math.min(v, h + 1);
      const ix = pu | 0;
      const iy = pv | 0;
      const fx = pu - ix;
      const fy = pv - iy;
      const i = iy * stride + ix;
      const m = gridBilinear(mask, i, stride, fx, fy);
      if (m <= 0) continue;
      const at = rowBase + x;
      let value = gridBilinear(source0, i, stride, fx, fy);
      let old = plane0[at];
      plane0[at] = (old + (value - old) * m + 0.5) | 0;
      if (plane1 === undefined || source1 === undefined) continue;
      value = gridBilinear(source1, i, stride, fx, fy);
      old = plane1[at];
      plane1[at] = (old + (value - old) * m + 0.5) | 0;
    }
  }
}
