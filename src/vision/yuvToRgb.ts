import type { PipePixelFormat } from '../media/pixelFormat.js';
import { planeLayout } from '../media/pixelFormat.js';
import type { VideoColour } from '../media/probe.js';
import type { RgbImage } from './image.js';

/** Luma weights (Kr, Kb) of the matrices a decoder may tag a stream with. */
const MATRICES: Record<'bt601' | 'bt709' | 'bt2020', [number, number]> = {
  bt601: [0.299, 0.114],
  bt709: [0.2126, 0.0722],
  bt2020: [0.2627, 0.0593],
};

/** Untagged streams are treated as BT.601, as swscale does. */
function matrixOf(space: string | undefined): [number, number] {
  if (space === 'bt709') return MATRICES.bt709;
  if (space?.startsWith('bt2020')) return MATRICES.bt2020;
  return MATRICES.bt601;
}

/** One plane's samples on the 8-bit scale (10-bit samples are little-endian 16-bit words). */
function planeSamples(data: Uint8Array, offset: number, count: number, wide: boolean): ArrayLike<number> {
  if (!wide) return data.subarray(offset, offset + count);
  const start = data.byteOffset + offset;
  const words =
    start % 2 === 0
      ? new Uint16Array(data.buffer, start, count)
      : new Uint16Array(data.slice(offset, offset + count * 2).buffer);
  const scaled = new Float32Array(count);
  for (let i = 0; i < count; i++) scaled[i] = words[i] / 4;
  return scaled;
}

/**
 * Converts one tightly packed planar YUV frame (as the frame decoder yields it) to packed RGB, with
 * the stream's matrix and range. Chroma is taken from the nearest sample, which is plenty for
 * detection and alignment.
 */
export function yuvToRgb(
  data: Uint8Array,
  pixFmt: PipePixelFormat,
  width: number,
  height: number,
  colour: VideoColour,
): RgbImage {
  const [yPlane, uPlane, vPlane] = planeLayout(pixFmt, width, height);
  const wide = yPlane.bytesPerSample === 2;
  const y = planeSamples(data, yPlane.offset, yPlane.width * yPlane.height, wide);
  const u = planeSamples(data, uPlane.offset, uPlane.width * uPlane.height, wide);
  const v = planeSamples(data, vPlane.offset, vPlane.width * vPlane.height, wide);
  const [kr, kb] = matrixOf(colour.space);
  const kg = 1 - kr - kb;
  const full = colour.range === 'pc';
  const yScale = full ? 1 : 255 / 219;
  const yOffset = full ? 0 : 16;
  const cScale = full ? 1 : 255 / 224;
  const rv = 2 * (1 - kr) * cScale;
  const bu = 2 * (1 - kb) * cScale;
  const gu = ((2 * kb * (1 - kb)) / kg) * cScale;
  const gv = ((2 * kr * (1 - kr)) / kg) * cScale;
  const xShift = uPlane.width < width ? 1 : 0;
  const yShift = uPlane.height < height ? 1 : 0;
  const rgb = new Uint8ClampedArray(width * height * 3);
  for (let row = 0; row < height; row++) {
    const chromaRow = (row >> yShift) * uPlane.width;
    for (let col = 0; col < width; col++) {
      const i = row * width + col;
      const c = chromaRow + (col >> xShift);
      const luma = (y[i] - yOffset) * yScale;
      const cb = u[c] - 128;
      const cr = v[c] - 128;
      rgb[i * 3] = luma + rv * cr;
      rgb[i * 3 + 1] = luma - gu * cb - gv * cr;
      rgb[i * 3 + 2] = luma + bu * cb;
    }
  }
  return { width, height, data: new Uint8Array(rgb.buffer) };
}
