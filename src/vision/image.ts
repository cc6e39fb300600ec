import { resolveBinaries } from '../media/binaries.js';
import { MediaError } from '../media/errors.js';
import { runTool } from '../media/ffmpegProcess.js';
import { decodeFrames } from '../media/frameDecoder.js';
import { inputName } from '../media/inputName.js';
import { probeImage, probeVideo } from '../media/probe.js';
import type { RgbImage } from './rgbImage.js';
import { yuvToRgb } from './yuvToRgb.js';

/**
 * The filter that turns a stored JPEG upright for each EXIF orientation (2–8). The ffmpeg this
 * project bundles does not apply EXIF orientation itself, so it is read with ffprobe and undone here.
 */
const ORIENTATION_FILTERS: Record<number, string> = {
  2: 'hflip',
  3: 'hflip,vflip',
  4: 'vflip',
  5: 'transpose=0',
  6: 'transpose=1',
  7: 'transpose=3',
  8: 'transpose=2',
};

async function exifOrientation(path: string): Promise<number> {
  const { ffprobe } = resolveBinaries();
  const args = ['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#1'];
  args.push('-show_entries', 'frame_tags=Orientation', '-of', 'csv=p=0', path);
  const out = await runTool(ffprobe, args, { failure: `cannot read image ${inputName(path)}` });
  return Number.parseInt(out.toString().trim(), 10) || 1;
}

/** Decodes a still image (jpg, png, …) to RGB, turned upright by its EXIF orientation. */
export async function loadImage(path: string): Promise<RgbImage> {
  const probed = await probeImage(path);
  const filter = ORIENTATION_FILTERS[await exifOrientation(path)];
  const turned = filter?.startsWith('transpose');
  const width = turned ? probed.height : probed.width;
  const height = turned ? probed.width : probed.height;
  const { ffmpeg } = resolveBinaries();
  const args = ['-nostdin', '-v', 'error', '-i', path, ...(filter ? ['-vf', filter] : [])];
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
