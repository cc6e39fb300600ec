import { writeFile } from 'node:fs/promises';
import { expect } from 'vitest';
import type { Frame } from '../../src/vision/frame.js';
import { frameToRgb } from '../../src/vision/rgbFrame.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { ffmpeg } from '../fixtures/videos.js';

/**
 * The pictures the pixel oracle tests feed both engines, and how their outputs are compared. A picture goes
 * into spotfuse's chain as an image target does (rgbToFrame), so what is compared is the processing itself.
 */

/**
 * ±2 per channel: FaceFusion's image code runs on Debian's numpy/OpenCV here, and truncates where spotfuse
 * rounds. A few values may differ by more, never more than WORST: OpenCV's warps put their samples on a
 * 1/32-pixel grid, which shows on the stand-ins' steep edges (the occluder is a hard threshold, gfpgan's
 * stand-in a colour negative that doubles the texture's contrast).
 */
export const TOLERANCE = 2;
/** Share of channel values allowed beyond ±TOLERANCE. */
export const OUTLIERS = 0.001;
const WORST = 6;
/** Writes the picture as `<base>.png` (through `<base>.rgb`) and returns the PNG's path. */
export async function writePng(image: RgbImage, base: string): Promise<string> {
  const raw = `${base}.rgb`;
  await writeFile(raw, image.data);
  const png = `${base}.png`;
  const size = `${image.width}x${image.height}`;
  await ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', size, '-i', raw, '-frames:v', '1', '-y', png]);
  return png;
}

/**
 * A dark picture (texture under 16) with textured bright squares where the stand-in detectors see faces: the
 * brightest channel stays ≥ 240, the others vary, so warps, masks and blends show in every channel. The
 * texture changes by at most about 12 levels a pixel, as faces do: OpenCV's warps place their samples on a
 * 1/32-pixel grid, so steeper textures differ by more than ±2 from exact sampling.
 */
export function texturedSquares(
  width: number,
  height: number,
  squares: { x: number; y: number; size?: number; seed: number }[],
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      data.set([(x * 7) % 17, (y * 5) % 13, ((x + y) * 3) % 11], (y * width + x) * 3);
  }
  for (const { x, y, size = 96, seed } of squares) {
    for (let row = y; row < y + size; row++) {
      for (let col = x; col < x + size; col++) {
        const u = col - x;
        const v = row - y;
        const wave = (a: number) =>
          Math.round(127 + 120 * Math.sin((u * (a + seed)) / 60 + (v * (a + 2 * seed)) / 80));
        data.set([244 + ((u + v + seed) % 12), wave(1), wave(3)], (row * width + col) * 3);
      }
    }
  }
  return { width, height, data };
}

/**
 * spotfuse's output frame against FaceFusion's picture: the same size, within ±TOLERANCE for all but OUTLIERS
 * of the channel values and never beyond WORST; and FaceFusion must have changed more than 1000 values of
 * `target` (its output the same size as the target) or changed its size.
 */
export function expectLikeFaceFusion(frame: Frame, theirs: RgbImage, target: RgbImage): void {
  const ours = frameToRgb(frame);
  expect([ours.width, ours.height]).toEqual([theirs.width, theirs.height]);
  const resized = theirs.width !== target.width || theirs.height !== target.height;
  let worst = 0;
  let worstAt = 0;
  let beyond = 0;
  let changed = 0;
  for (let i = 0; i < ours.data.length; i++) {
    const difference = Math.abs(ours.data[i] - theirs.data[i]);
    if (difference > worst) [worst, worstAt] = [difference, i];
    if (difference > TOLERANCE) beyond++;
    if (!resized && theirs.data[i] !== target.data[i]) changed++;
  }
  const pixel = Math.floor(worstAt / 3);
  const where = `(${pixel % ours.width}, ${Math.floor(pixel / ours.width)}) channel ${worstAt % 3}`;
  if (!resized) expect(changed, 'FaceFusion changed the picture').toBeGreaterThan(1000);
  expect(beyond / ours.data.length, `share of values beyond ±${TOLERANCE}`).toBeLessThanOrEqual(OUTLIERS);
  expect(
    worst,
    `worst at ${where}: ${ours.data[worstAt]} vs FaceFusion ${theirs.data[worstAt]}`,
  ).toBeLessThanOrEqual(WORST);
}
