import { resolveBinaries } from './binaries.js';
import { videoEncoders } from './encoders.js';
import { runTool } from './ffmpegProcess.js';
import { hwaccels } from './hwaccel.js';

/** Encoders worth naming in a report: software x264/x265 and the hardware ones of each vendor. */
export const NOTABLE_ENCODERS = [
  'libx264',
  'libx265',
  'libsvtav1',
  'libvpx-vp9',
  'ffv1',
  'prores_ks',
  'h264_nvenc',
  'hevc_nvenc',
  'av1_nvenc',
  'h264_vaapi',
  'hevc_vaapi',
  'h264_qsv',
  'hevc_qsv',
] as const;

export interface ToolInfo {
  path: string;
  /** The word after "<tool> version " on the first line of `-version` (a release or a git build). */
  version: string;
}

export interface FfmpegInfo {
  ffmpeg: ToolInfo;
  ffprobe: ToolInfo;
  /** Every video encoder of this build. */
  encoders: string[];
  /** `ffmpeg -hwaccels`: the decoders' hardware methods compiled in (cuda, vaapi, …). */
  hwaccels: string[];
}

async function version(path: string, tool: string): Promise<ToolInfo> {
  const out = await runTool(path, ['-hide_banner', '-version'], { failure: `cannot run ${tool} (${path})` });
  const line = out.toString().split('\n')[0] ?? '';
  const version = line
    .replace(new RegExp(`^${tool} version `), '')
    .trim()
    .split(/\s+/)[0];
  return { path, version: version ?? '' };
}

/** Which ffmpeg and ffprobe this process uses and what they can do; rejects when either does not run. */
export async function ffmpegInfo(): Promise<FfmpegInfo> {
  const { ffmpeg, ffprobe } = resolveBinaries();
  const [ffmpegVersion, ffprobeVersion, encoders, methods] = await Promise.all([
    version(ffmpeg, 'ffmpeg'),
    version(ffprobe, 'ffprobe'),
    videoEncoders(),
    hwaccels(),
  ]);
  return {
    ffmpeg: ffmpegVersion,
    ffprobe: ffprobeVersion,
    encoders: [...encoders].sort(),
    hwaccels: methods,
  };
}
