import { MediaError } from './errors.js';
import { inputName } from './inputName.js';

/**
 * What ffmpeg and ffprobe may do with an input someone else gave us: read that one file, through the
 * one protocol its location needs, with a demuxer that never opens other files or URLs. Playlists
 * (HLS, DASH), concat scripts and image sequences name other files or URLs, which ffmpeg would fetch
 * even while probing: their demuxers are never let run, so nothing they name is ever opened.
 */

/**
 * Demuxers of self-contained video files (ffmpeg names, any one of a demuxer's names matches):
 * mp4/mov/m4v/3gp, mkv/webm, avi, MPEG-TS and -PS, flv, wmv, ogv, mxf, animated gif, ivf, y4m, nut,
 * and raw H.264/HEVC/MPEG-4 streams (refused later for their lack of timestamps, with a clear line).
 * None opens anything but its own input (mov's external data references stay off, ffmpeg's default).
 */
const VIDEO_DEMUXERS = [
  'mov',
  'matroska',
  'avi',
  'mpegts',
  'mpeg',
  'flv',
  'asf',
  'ogg',
  'mxf',
  'gif',
  'ivf',
  'yuv4mpegpipe',
  'nut',
  'h264',
  'hevc',
  'm4v',
];

/** Demuxers of one still raster image: by extension (image2) or by content (`<codec>_pipe`). */
const IMAGE_DEMUXERS = [
  'image2',
  'png_pipe',
  'jpeg_pipe',
  'jpegls_pipe',
  'webp_pipe',
  'bmp_pipe',
  'tiff_pipe',
  'gif',
  'gif_pipe',
  'j2k_pipe',
  'pam_pipe',
  'pbm_pipe',
  'pgm_pipe',
  'ppm_pipe',
  'qoi_pipe',
];

/** Raster image decoders; not SVG, whose renderer (librsvg) may load the files an image names. */
const IMAGE_DECODERS = [
  'mjpeg',
  'png',
  'apng',
  'webp',
  'bmp',
  'tiff',
  'gif',
  'jpegls',
  'jpeg2000',
  'libopenjpeg',
  'pam',
  'pbm',
  'pgm',
  'ppm',
  'qoi',
];

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * The protocols ffmpeg needs to read `input` and nothing else: `file` for a path or `file:` URL,
 * `http` or `https` (over `tls` and `tcp`) for a presigned URL of that scheme.
 */
export function inputProtocols(input: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? SCHEME.exec(input)?.[1].toLowerCase() : 'file';
  if (scheme === 'file') return 'file';
  if (scheme === 'http') return 'http,tcp';
  if (scheme === 'https') return 'https,tls,tcp';
  throw new MediaError(`cannot read ${inputName(input)}: only local files and http(s) URLs are read`);
}

/**
 * Input options (before `-i`) that confine ffmpeg or ffprobe to reading `input` as one self-contained
 * video file or still image. Both ffmpeg 4.x and 5.x+ know them.
 */
export function confinedInputArgs(input: string, kind: 'video' | 'image'): string[] {
  const args = ['-protocol_whitelist', inputProtocols(input)];
  if (kind === 'video') return [...args, '-format_whitelist', VIDEO_DEMUXERS.join(',')];
  return [
    ...args,
    '-format_whitelist',
    IMAGE_DEMUXERS.join(','),
    '-codec_whitelist',
    IMAGE_DECODERS.join(','),
  ];
}

/**
 * The demuxer that ffmpeg recognised but refused because it is not on the whitelist, read from the
 * log line ffmpeg writes then (`[hls @ 0x…] Format not on whitelist '…'`; `hls,applehttp` in 4.x).
 */
export function refusedDemuxer(stderr: string): string | undefined {
  return /^\[([^\]\s@]+) @ (?:0x)?[0-9a-f]+\] Format not on whitelist/im.exec(stderr)?.[1];
}

/** `frame%04d.png`: a printf-style frame number, how ffmpeg's image2 demuxer names an image sequence. */
export function looksLikeImageSequence(path: string): boolean {
  return /%0?\d*d/.test(path.split(/[\\/]/).pop() ?? '');
}

export const SELF_CONTAINED =
  'spotfuse reads one self-contained video file, not playlists, concat scripts or image sequences';

/** Why a video input whose demuxer was refused is not read: one line naming what it is. */
export function refusedVideoMessage(input: string, demuxer: string): string {
  const name = inputName(input);
  const names = demuxer.split(',');
  const kind = names.includes('hls')
    ? 'an HLS playlist'
    : names.includes('dash') || names.includes('webm_dash_manifest')
      ? 'a DASH manifest'
      : names.includes('concat')
        ? 'a concat script'
        : undefined;
  if (kind) return `not a video: ${name} (${kind}; ${SELF_CONTAINED})`;
  if (names.includes('image2') && looksLikeImageSequence(input))
    return `not a video: ${name} (an image sequence; ${SELF_CONTAINED})`;
  if (names.some((n) => n === 'image2' || n === 'image2pipe' || n.endsWith('_pipe')))
    return `not a video: ${name} (a still image)`;
  return `not a video: ${name} (unsupported container "${names[0]}"; use mp4, mov, mkv, webm, avi or another self-contained video file)`;
}
