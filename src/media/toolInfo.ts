import { resolveBinaries } from './binaries.js';
import { videoEncoders } from './encoders.js';
import { runTool } from './ffmpegProcess.js';

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

/** The lines of `ffmpeg -hwaccels` after its heading. */
export function parseHwaccels(output: string): string[] {
  const lines = output.split('\n').map((line) => line.trim());
  const start = lines.findIndex((line) => /^hardware acceleration methods:?$/i.test(line));
  return lines.slice(start + 1).filter(Boolean);
}

/** Which ffmpeg and ffprobe this process uses and what they can do; rejects when either does not run. */
export async function ffmpegInfo(): Promise<FfmpegInfo> {
  const { ffmpeg, ffprobe } = resolveBinaries();
  const [ffmpegVersion, ffprobeVersion, encoders, hwaccels] = await Promise.all([
    version(ffmpeg, 'ffmpeg'),
    version(ffprobe, 'ffprobe'),
    videoEncoders(),
    runTool(ffmpeg, ['-hide_banner', '-hwaccels'], { failure: 'cannot list the hwaccels of ffmpeg' }),
  ]);
  return {
    ffmpeg: ffmpegVersion,
    ffprobe: ffprobeVersion,
    encoders: [...encoders].sort(),
    hwaccels: parseHwaccels(hwaccels.toString()),
  };
}
