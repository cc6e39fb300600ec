import { roundHalfEven } from './frameImage.js';

/**
 * OpenCV's CLAHE on one 8-bit plane (cv2.createCLAHE(clipLimit, (tiles, tiles)).apply, imgproc/src/clahe.cpp),
 * value for value: a histogram per tile (the plane mirrored past its bottom and right edges, BORDER_REFLECT_101,
 * when the tiles do not divide it), each clipped at max(⌊clipLimit·tileArea/256⌋, 1) with the excess spread
 * evenly and its remainder one by one at even steps from 0, the cumulative histogram as the tile's lookup table,
 * and each pixel bilinearly between the four nearest tiles' tables in float, rounded halves to even.
 */
export function clahe(
  plane: Uint8Array,
  width: number,
  height: number,
  clipLimit: number,
  tiles = 8,
): Uint8Array {
  const padded = width % tiles !== 0 || height % tiles !== 0;
  const tileWidth = padded ? Math.floor((width + tiles - (width % tiles)) / tiles) : width / tiles;
  const tileHeight = padded ? Math.floor((height + tiles - (height % tiles)) / tiles) : height / tiles;
  const tileArea = tileWidth * tileHeight;
  const limit = clipLimit > 0 ? Math.max(Math.trunc((clipLimit * tileArea) / 256), 1) : 0;
  const lutScale = Math.fround(255 / tileArea);
  const luts = new Uint8Array(tiles * tiles * 256);
  const histogram = new Int32Array(256);
  for (let ty = 0; ty < tiles; ty++) {
    for (let tx = 0; tx < tiles; tx++) {
      histogram.fill(0);
      for (let y = ty * tileHeight; y < (ty + 1) * tileHeight; y++) {
        const row = reflect101(y, height) * width;
        for (let x = tx * tileWidth; x < (tx + 1) * tileWidth; x++)
          histogram[plane[row + reflect101(x, width)]]++;
      }
      if (limit > 0) clip(histogram, limit);
      const lut = (ty * tiles + tx) * 256;
      let sum = 0;
      for (let i = 0; i < 256; i++) {
        sum += histogram[i];
        luts[lut + i] = Math.min(255, roundHalfEven(Math.fround(sum * lutScale)));
      }
    }
  }
  return interpolate(plane, width, height, luts, tiles, tileWidth, tileHeight);
}

/** Clips every bin at `limit`, then spreads the excess: the same share to all, the remainder one by one. */
function clip(histogram: Int32Array, limit: number): void {
  let clipped = 0;
  for (let i = 0; i < 256; i++) {
    if (histogram[i] > limit) {
      clipped += histogram[i] - limit;
      histogram[i] = limit;
    }
  }
  const batch = Math.trunc(clipped / 256);
  let residual = clipped - batch * 256;
  for (let i = 0; i < 256; i++) histogram[i] += batch;
  if (residual > 0) {
    const step = Math.max(Math.trunc(256 / residual), 1);
    for (let i = 0; i < 256 && residual > 0; i += step, residual--) histogram[i]++;
  }
}

function interpolate(
  plane: Uint8Array,
  width: number,
  height: number,
  luts: Uint8Array,
  tiles: number,
  tileWidth: number,
  tileHeight: number,
): Uint8Array {
  const f = Math.fround;
  const out = new Uint8Array(width * height);
  const invWidth = f(1 / tileWidth);
  const invHeight = f(1 / tileHeight);
  const left = new Int32Array(width);
  const right = new Int32Array(width);
  const xWeight = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const txf = f(f(x * invWidth) - 0.5);
    const tx = Math.floor(txf);
    xWeight[x] = txf - tx;
    left[x] = Math.max(tx, 0) * 256;
    right[x] = Math.min(tx + 1, tiles - 1) * 256;
  }
  for (let y = 0; y < height; y++) {
    const tyf = f(f(y * invHeight) - 0.5);
    const ty = Math.floor(tyf);
    const ya = f(tyf - ty);
    const ya1 = f(1 - ya);
    const upper = Math.max(ty, 0) * tiles * 256;
    const lower = Math.min(ty + 1, tiles - 1) * tiles * 256;
    for (let x = 0; x < width; x++) {
      const value = plane[y * width + x];
      const xa = xWeight[x];
      const xa1 = f(1 - xa);
      const a = left[x] + value;
      const b = right[x] + value;
      const top = f(f(luts[upper + a] * xa1) + f(luts[upper + b] * xa));
      const bottom = f(f(luts[lower + a] * xa1) + f(luts[lower + b] * xa));
      out[y * width + x] = Math.min(255, roundHalfEven(f(f(top * ya1) + f(bottom * ya))));
    }
  }
  return out;
}

/** BORDER_REFLECT_101's index past the end (gfedcb|abcdefgh|gfedcba). */
function reflect101(at: number, size: number): number {
  if (size === 1) return 0;
  return at < size ? at : 2 * size - 2 - at;
}
