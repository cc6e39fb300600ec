import { resolveBinaries } from './binaries.js';
import { runTool } from './ffmpegProcess.js';

let cached: Promise<Set<string>> | undefined;

/** Names of the video encoders this ffmpeg build has (`ffmpeg -encoders`), read once. */
export function videoEncoders(): Promise<Set<string>> {
  cached ??= runTool(resolveBinaries().ffmpeg, ['-hide_banner', '-encoders'], {
    failure: 'cannot list the encoders of ffmpeg',
  }).then((out) => {
    const names = out
      .toString()
      .split('\n')
      .map((line) => /^ V[.A-Z]{5} (\S+)/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined);
    return new Set(names);
  });
  return cached;
}

/** The x264/x265 presets `--output-video-preset` takes (FaceFusion's default: veryfast). */
export const ENCODER_PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const;
