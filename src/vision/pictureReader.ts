import { loadImage, loadVideoFrame } from './image.js';
import type { RgbImage } from './rgbImage.js';

/** Where a chain's pictures come from as it loads: the source face images and the reference frame. */
export interface PictureReader {
  image(path: string): Promise<RgbImage>;
  videoFrame(path: string, index: number): Promise<RgbImage>;
}

/** Decodes each picture where it is asked for. */
export const decodePictures: PictureReader = { image: loadImage, videoFrame: loadVideoFrame };

/**
 * Decodes each picture once for all who ask: a chain's processor threads would otherwise each run the same
 * ffprobe and ffmpeg commands for the same pictures. A failure is everyone's, as each would have had it.
 */
export function sharedPictures(reader: PictureReader = decodePictures): PictureReader {
  const read = new Map<string, Promise<RgbImage>>();
  const once = (key: string, decode: () => Promise<RgbImage>) => {
    let picture = read.get(key);
    if (!picture) {
      picture = decode();
      read.set(key, picture);
    }
    return picture;
  };
  return {
    image: (path) => once(JSON.stringify([path]), () => reader.image(path)),
    videoFrame: (path, index) => once(JSON.stringify([path, index]), () => reader.videoFrame(path, index)),
  };
}
