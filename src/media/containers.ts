/**
 * Which container holds what an encoder makes: the segments' container (chosen from the encoder, so
 * that concat can copy them into the output) and which output containers can hold the result.
 * Checked with Debian's ffmpeg 5.1 and the bundled 2018 build (a 3-frame encode into each muxer).
 */

type Codec = 'H.264' | 'HEVC' | 'AV1' | 'VP9' | 'VP8' | 'MPEG-4' | 'ProRes' | 'FFV1';

const CODECS: [RegExp, Codec][] = [
  [/^(libx264(rgb)?|libopenh264|h264_\w+)$/, 'H.264'],
  [/^(libx265|hevc_\w+)$/, 'HEVC'],
  [/^(libaom-av1|libsvtav1|librav1e|av1_\w+)$/, 'AV1'],
  [/^(libvpx-vp9|vp9_\w+)$/, 'VP9'],
  [/^(libvpx|vp8_\w+)$/, 'VP8'],
  [/^(mpeg4|libxvid)$/, 'MPEG-4'],
  [/^prores(_ks|_aw|_videotoolbox)?$/, 'ProRes'],
  [/^ffv1$/, 'FFV1'],
];

/** The codec an encoder makes, for the encoders whose containers are known; undefined for others. */
export function codecOf(encoder: string): Codec | undefined {
  return CODECS.find(([pattern]) => pattern.test(encoder))?.[1];
}

export interface SegmentContainer {
  muxer: 'mp4' | 'mov' | 'matroska';
  extension: '.mp4' | '.mov' | '.mkv';
}

const MP4: SegmentContainer = { muxer: 'mp4', extension: '.mp4' };
const MOV: SegmentContainer = { muxer: 'mov', extension: '.mov' };
const MATROSKA: SegmentContainer = { muxer: 'matroska', extension: '.mkv' };

/**
 * The container a segment from this encoder is written in: MP4 for the codecs it holds (timestamps to
 * the microsecond), QuickTime for ProRes, Matroska (which holds any codec) for FFV1, VP8 and encoders
 * not listed here.
 */
export function segmentContainer(encoder: string): SegmentContainer {
  const codec = codecOf(encoder);
  if (codec === 'ProRes') return MOV;
  if (codec && OUTPUTS['.mp4'].has(codec)) return MP4;
  return MATROSKA;
}

/** The codecs each output container holds, of those `codecOf` knows. */
const OUTPUTS: Record<string, Set<Codec>> = {
  '.mp4': new Set(['H.264', 'HEVC', 'AV1', 'VP9', 'MPEG-4']),
  '.m4v': new Set(['H.264', 'HEVC', 'AV1', 'VP9', 'MPEG-4']),
  '.mov': new Set(['H.264', 'HEVC', 'MPEG-4', 'ProRes', 'FFV1']),
  '.mkv': new Set(['H.264', 'HEVC', 'AV1', 'VP9', 'VP8', 'MPEG-4', 'ProRes', 'FFV1']),
  '.webm': new Set(['AV1', 'VP9', 'VP8']),
};

/**
 * Why an output with this extension (e.g. `.mp4`) cannot hold what `encoder` makes, or undefined when
 * it can or when spotfuse does not know the encoder (ffmpeg then decides, except that WebM takes only
 * VP8, VP9 and AV1).
 */
export function containerProblem(extension: string, encoder: string): string | undefined {
  const holds = OUTPUTS[extension];
  if (!holds) return undefined;
  const codec = codecOf(encoder);
  if (codec ? holds.has(codec) : extension !== '.webm') return undefined;
  if (extension === '.webm') {
    return `a .webm output needs a VP8, VP9 or AV1 encoder (--output-video-encoder libvpx-vp9), not ${encoder}`;
  }
  const fits = Object.keys(OUTPUTS).filter((ext) => codec && OUTPUTS[ext].has(codec));
  return `a ${extension} output cannot hold ${codec} video from ${encoder}: use ${fits.join(' or ')}`;
}
