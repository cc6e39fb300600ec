import { resolveBinaries } from '../media/binaries.js';
import { MediaError } from '../media/errors.js';
import { exifOrientation, IMAGE_INPUT_ARGS, swapsSides, uprightFilter } from '../media/exifOrientation.js';
import { runTool } from '../media/ffmpegProcess.js';
import { decodeFrames } from '../media/frameDecoder.js';
import { inputName } from '../media/inputName.js';
import { confinedInputArgs } from '../media/inputSafety.js';
import { ensureFile, probeImage, probeVideo } from '../media/probe.js';
import type { RgbImage } from './rgbImage.js';
import { yuvToRgb } from './yuvToRgb.js';

/** Decodes a still image (jpg, png, …) to RGB, turned upright by its EXIF orientation. */
export async function loadImage(path: string): Promise<RgbImage> {
  // The two reads side by side, once the path is known to be a regular file (a named pipe would hold the
  // second); when both fail, the probe's error is the one that says what is wrong.
  await ensureFile(path, 'image');
  const [probe, exif] = await Promise.allSettled([probeImage(path), exifOrientation(path)]);
  if (probe.status === 'rejected') throw probe.reason;
  if (exif.status === 'rejected') throw exif.reason;
  const [probed, orientation] = [probe.value, exif.value];
  const filter = await uprightFilter(orientation);
  const width = swapsSides(orientation) ? probed.height : probed.width;
  const height = swapsSides(orientation) ? probed.width : probed.height;
  const { ffmpeg } = resolveBinaries();
  // Only an EXIF-oriented image is kept from ffmpeg's own turning: spotfuse turns it, alike on every build.
  const args = [
    '-nostdin',
    '-v',
    'error',
    ...confinedInputArgs(path, 'image'),
    ...(orientation > 1 ? IMAGE_INPUT_ARGS : []),
    '-i',
    path,
    ...(filter ? ['-vf', filter] : []),
  ];
  args.push('-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  const data = await runTool(ffmpeg, args, { failure: `cannot decode image ${inputName(path)}` });
  if (data.length !== width * height * 3) {
    throw new MediaError(`cannot decode image ${inputName(path)}: unexpected size`);
  }
  return { width, height, data };
}

/** Frame `index` (0-based, presentation order) of a video, in RGB. */
export async function loadVideoFrame(path: string, index: number): Promise<RgbImage> {
  const probe = await probeVideo(path);
  const { frameCount, pipePixFmt, width, height, colour } = probe.video;
  if (!Number.isInteger(index) || index < 0 || index >= frameCount) {
    throw new MediaError(`frame ${index} is out of range: ${inputName(path)} has ${frameCount} frames`);
  }
  for await (const frame of decodeFrames({ input: path, probe, startFrame: index, endFrame: index + 1 })) {
    return yuvToRgb(frame, pipePixFmt, width, height, colour);
  }
  throw new MediaError(`cannot decode frame ${index} of ${inputName(path)}`);
}

/** A still image, or frame `frame` of a video (frame 0 when a video is given without one). */
export async function loadPicture(path: string, frame?: number): Promise<RgbImage> {
  if (frame === undefined) {
    try {
      return await loadImage(path);
    } catch (error) {
      if (!(error instanceof MediaError && error.message.startsWith('not an image'))) throw error;
    }
  }
  try {
    return await loadVideoFrame(path, frame ?? 0);
  } catch (error) {
    if (error instanceof MediaError && error.message.includes('(unrecognised format)')) {
      throw new MediaError(`not an image or a video: ${inputName(path)}`);
    }
    throw error;
  }
}
