import type { AudioOptions } from '../core/types.js';

/** FaceFusion 3.8.1's `--output-audio-encoder` choices, with the codec each writes. */
export const AUDIO_ENCODERS: Readonly<Record<string, string>> = {
  flac: 'flac',
  aac: 'aac',
  libmp3lame: 'mp3',
  libopus: 'opus',
  libvorbis: 'vorbis',
  pcm_s16le: 'pcm_s16le',
  pcm_s32le: 'pcm_s32le',
};

/** FaceFusion's `--output-audio-quality` when it is not given. */
export const DEFAULT_AUDIO_QUALITY = 80;

/** numpy.interp over [0, 100], then rounded to `digits` decimals. */
function interpolate(quality: number, from: number, to: number, digits: number): number {
  const value = from + ((to - from) * quality) / 100;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * FaceFusion's `--output-audio-quality` (0–100) as the encoder's own setting for output audio stream
 * `stream`: aac `-q:a` 0.1–2.0, mp3 `-q:a` 9–0, opus `-b:a` 64k–256k, vorbis `-q:a` −1–10; flac and PCM
 * are lossless and take none.
 */
export function audioQualityArgs(encoder: string, quality: number, stream: number): string[] {
  if (encoder === 'aac') return [`-q:a:${stream}`, String(interpolate(quality, 0.1, 2, 1))];
  if (encoder === 'libmp3lame') return [`-q:a:${stream}`, String(interpolate(quality, 9, 0, 0))];
  if (encoder === 'libopus') return [`-b:a:${stream}`, `${interpolate(quality, 64, 256, 0)}k`];
  if (encoder === 'libvorbis') return [`-q:a:${stream}`, String(interpolate(quality, -1, 10, 1))];
  return [];
}

/**
 * The output's audio, re-encoded as the options ask: every stream with `encoder` (default: the container's
 * own, `fallbackEncoder`) at FaceFusion's quality, at `volume` percent.
 */
export function audioEncodeArgs(audio: AudioOptions, streams: number, fallbackEncoder: string): string[] {
  const encoder = audio.encoder ?? fallbackEncoder;
  const quality = audio.quality ?? DEFAULT_AUDIO_QUALITY;
  return [
    ...Array.from({ length: streams }, (_, i) => [
      `-c:a:${i}`,
      encoder,
      ...audioQualityArgs(encoder, quality, i),
    ]).flat(),
    ...(audio.volume === undefined || audio.volume === 100
      ? []
      : ['-filter:a', `volume=${audio.volume / 100}`]),
  ];
}

/** Why a container that stores `accepted` codecs (null: any) cannot hold the audio asked for, or undefined. */
export function audioEncoderProblem(
  audio: AudioOptions | undefined,
  extension: string,
  accepted: ReadonlySet<string> | null,
): string | undefined {
  if (audio?.encoder === undefined) return undefined;
  const codec = AUDIO_ENCODERS[audio.encoder];
  if (!codec)
    return `unknown --output-audio-encoder "${audio.encoder}" (use ${Object.keys(AUDIO_ENCODERS).join(', ')})`;
  if (accepted && !accepted.has(codec))
    return `${extension} cannot hold ${codec} audio (--output-audio-encoder ${audio.encoder}): use ${Object.entries(
      AUDIO_ENCODERS,
    )
      .filter(([, c]) => accepted.has(c))
      .map(([name]) => name)
      .join(', ')}, or another container`;
  return undefined;
}
