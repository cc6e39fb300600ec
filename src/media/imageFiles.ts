import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { extname } from 'node:path';
import { resolveBinaries } from './binaries.js';
import { spawnTool } from './ffmpegProcess.js';

/** FaceFusion 3.8.1's image formats, by file extension (its `get_file_format`), with ffmpeg's muxer for each. */
const IMAGE_FORMATS: Readonly<Record<string, { format: string; codec: string }>> = {
  '.bmp': { format: 'bmp', codec: 'bmp' },
  '.jpg': { format: 'jpeg', codec: 'mjpeg' },
  '.jpeg': { format: 'jpeg', codec: 'mjpeg' },
  '.png': { format: 'png', codec: 'png' },
  '.tif': { format: 'tiff', codec: 'tiff' },
  '.tiff': { format: 'tiff', codec: 'tiff' },
  '.webp': { format: 'webp', codec: 'libwebp' },
};

export const IMAGE_EXTENSIONS = Object.keys(IMAGE_FORMATS);

/** The image format a path names by its extension (FaceFusion decides image or video the same way), if any. */
export function imageFormatOf(path: string): string | undefined {
  return IMAGE_FORMATS[extname(path).toLowerCase()]?.format;
}

/**
 * FaceFusion's `--output-image-quality` (0–100) as ffmpeg's `-q:v`: webp takes it as is, the others as a
 * compression level from 31 (quality 0) to 0 (quality 100). FaceFusion picks by the target's format, which
 * gives a webp output from a jpg target the compression scale; spotfuse picks by the output's.
 */
export function imageQualityArgs(format: string, quality: number): string[] {
  return ['-q:v', String(format === 'webp' ? quality : Math.round(31 - quality * 0.31))];
}

/** FaceFusion's `scale_resolution`: the size times `scale`, truncated, then rounded to even sides. */
export function scaledSize(width: number, height: number, scale: number): { width: number; height: number } {
  const even = (side: number) => Math.max(2, roundHalfEven(Math.trunc(side * scale) / 2) * 2);
  return { width: even(width), height: even(height) };
}

/**
 * The output size FaceFusion's `--output-video-scale` / `--output-image-scale` ask for: the target's size times
 * `scale`, as `scaledSize` rounds it; at scale 1 the target's own size, odd sides included (FaceFusion would round
 * them to even and resize; spotfuse's encoders take odd sides as they are).
 */
export function outputScaleSize(width: number, height: number, scale = 1): { width: number; height: number } {
  return scale === 1 ? { width, height } : scaledSize(width, height, scale);
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface ImageWrite {
  /** Packed RGB, `width` × `height`. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** The file's size, when not the picture's (resized with ffmpeg's bicubic scaler, as FaceFusion's `-s`). */
  size?: { width: number; height: number };
  /** FaceFusion's `--output-image-quality`, 0–100. */
  quality: number;
}

/** Writes a picture as the image `path` names by its extension; the file appears only when complete. */
export async function writeImage(path: string, image: ImageWrite): Promise<void> {
  const ext = extname(path).toLowerCase();
  const format = IMAGE_FORMATS[ext];
  if (!format) throw new RangeError(`not an image extension: ${path}`);
  const partial = `${path}.partial-${randomBytes(4).toString('hex')}${ext}`;
  const { size } = image;
  const resize = size && (size.width !== image.width || size.height !== image.height);
  const args = [
    ...['-nostdin', '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24'],
    ...['-s', `${image.width}x${image.height}`, '-i', 'pipe:0'],
    ...(resize ? ['-vf', `scale=${size.width}:${size.height}`] : []),
    ...['-frames:v', '1', '-c:v', format.codec, ...imageQualityArgs(format.format, image.quality)],
    ...['-f', 'image2', '-update', '1', '-y', partial],
  ];
  const tool = spawnTool(resolveBinaries().ffmpeg, args, { stdin: true, failure: `cannot write ${path}` });
  try {
    tool.stdin?.end(image.rgb);
    await tool.done;
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
