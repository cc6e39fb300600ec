import type { PipePixelFormat } from '../media/pixelFormat.js';
import type { VideoColour } from '../media/probe.js';
import { frameRegionToRgb } from './frameImage.js';
import type { RgbImage } from './rgbImage.js';

/**
 * Converts one tightly packed planar YUV frame (as the frame decoder yields it) to packed RGB, with
 * the stream's matrix and range (colourMatrix.ts). Chroma is taken from the nearest sample, which is
 * plenty for detection and alignment. The same pixels as frameRegionToRgb of the whole frame.
 */
export function yuvToRgb(
  data: Uint8Array,
  pixFmt: PipePixelFormat,
  width: number,
  height: number,
  colour: VideoColour,
): RgbImage {
  const frame = {
    index: 0,
    width,
    height,
    pixFmt,
    colour,
    data: Buffer.from(data.buffer, data.byteOffset, data.length),
  };
  return frameRegionToRgb(frame, 0, 0, width, height);
}
