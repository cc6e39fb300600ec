import { planeLayout } from '../media/pixelFormat.js';
import type { VideoColour } from '../media/probe.js';
import { rgbToYuvCoefficients } from './colourMatrix.js';
import type { Frame } from './frame.js';
import type { RgbImage } from './rgbImage.js';
import { yuvToRgb } from './yuvToRgb.js';

/** Full range, so that a picture's round trip through YUV keeps every value. */
const PICTURE_COLOUR: VideoColour = { range: 'pc', space: 'bt709' };

/**
 * A still picture as a frame the processors take: full-range 10-bit 4:4:4, whose round trip to RGB is exact
 * to well under one step, so an image target loses nothing to the processors' YUV pixel path.
 */
export function rgbToFrame(image: RgbImage): Frame {
  const { width, height } = image;
  const planes = planeLayout('yuv444p10le', width, height);
  const data = Buffer.alloc(planes[2].offset + width * height * 2);
  // 10-bit: four times the 8-bit scale.
  const k = rgbToYuvCoefficients(PICTURE_COLOUR, 4);
  const put = (plane: number, i: number, v: number) =>
    data.writeUInt16LE(Math.min(1023, Math.max(0, Math.round(v))), planes[plane].offset + i * 2);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = image.data.subarray(i * 3, i * 3 + 3);
    const luma = k.kr * r + k.kg * g + k.kb * b;
    put(0, i, luma * k.yMul + k.yAdd);
    put(1, i, (b - luma) * k.uMul + k.cAdd);
    put(2, i, (r - luma) * k.vMul + k.cAdd);
  }
  return { index: 0, width, height, pixFmt: 'yuv444p10le', colour: PICTURE_COLOUR, data };
}

/** A processed frame back as a picture. */
export function frameToRgb(frame: Frame): RgbImage {
  return yuvToRgb(frame.data, frame.pixFmt, frame.width, frame.height, frame.colour);
}
