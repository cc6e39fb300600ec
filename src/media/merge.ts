import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import type { AudioOptions } from '../core/types.js';
import { audioEncodeArgs, audioEncoderProblem } from './audioOptions.js';
import { resolveBinaries } from './binaries.js';
import { containerProblem } from './containers.js';
import { MediaError } from './errors.js';
import { spawnTool } from './ffmpegProcess.js';
import { confinedInputArgs } from './inputSafety.js';
import type { StoredProbe } from './probe.js';

export interface MergeSegment {
  path: string;
  /** Time from this segment's first frame to the next segment's first frame (or the video's end). */
  durationMicros: number;
}

export interface MergeOptions {
  /** Segments in order; their durations telescope, so each starts exactly where the source frame did. */
  segments: MergeSegment[];
  /** The original video (local path or URL): its audio streams are muxed in; read as one self-contained file. */
  source: string;
  probe: StoredProbe;
  outputPath: string;
  /** FaceFusion's output audio options: the audio is then re-encoded; absent: copied where the container allows. */
  audio?: AudioOptions;
  /**
   * A trimmed or resampled (`--output-video-fps`) job's first frame (stream ticks): the audio is cut to the
   * segments' span from that frame on, and the output starts at 0 (as FaceFusion's output).
   */
  trimStartPts?: number;
  /** The video's MP4 time scale, ticks per second; default the source's. */
  timescale?: number;
  signal?: AbortSignal;
}

interface Container {
  muxer: string;
  /** Audio codecs the muxer stores as they are; null accepts everything. */
  audio: Set<string> | null;
  /** What any other audio becomes. */
  audioEncoder: string;
  mp4Family: boolean;
}

const MP4_AUDIO = new Set(['aac', 'mp3', 'ac3', 'eac3', 'alac']);
const MOV_AUDIO = new Set([...MP4_AUDIO, 'pcm_s16le', 'pcm_s16be', 'pcm_s24le', 'pcm_s24be', 'pcm_f32le']);

const CONTAINERS: Record<string, Container> = {
  '.mp4': { muxer: 'mp4', audio: MP4_AUDIO, audioEncoder: 'aac', mp4Family: true },
  '.m4v': { muxer: 'mp4', audio: MP4_AUDIO, audioEncoder: 'aac', mp4Family: true },
  '.mov': { muxer: 'mov', audio: MOV_AUDIO, audioEncoder: 'aac', mp4Family: true },
  '.mkv': { muxer: 'matroska', audio: null, audioEncoder: 'aac', mp4Family: false },
  '.webm': { muxer: 'webm', audio: new Set(['opus', 'vorbis']), audioEncoder: 'libopus', mp4Family: false },
};

/** Why `outputPath` cannot hold a video from `videoEncoder` with `audio`, or undefined when it can. */
export function outputFormatProblem(
  outputPath: string,
  videoEncoder: string,
  audio?: AudioOptions,
): string | undefined {
  const ext = extname(outputPath).toLowerCase();
  if (!CONTAINERS[ext]) return `output must end in ${Object.keys(CONTAINERS).join(', ')}: ${outputPath}`;
  return containerProblem(ext, videoEncoder) ?? audioEncoderProblem(audio, ext, CONTAINERS[ext].audio);
}

/**
 * Concatenates encoded segments without re-encoding and muxes the source's audio, so that the
 * output has the source's frame count, frame timestamps and audio. The output appears at
 * `outputPath` only when complete.
 */
export async function mergeSegments(options: MergeOptions): Promise<void> {
  const { segments, probe, outputPath, signal } = options;
  const container = CONTAINERS[extname(outputPath).toLowerCase()];
  if (!container) {
    throw new MediaError(
      `unsupported output format: ${outputPath} (use ${Object.keys(CONTAINERS).join(', ')})`,
    );
  }
  if (segments.length === 0) throw new MediaError(`nothing to merge into ${outputPath}`);

  const listDir = await mkdtemp(join(tmpdir(), 'spotfuse-merge-'));
  const listPath = join(listDir, 'segments.ffconcat');
  const partialPath = `${outputPath}.partial-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(listPath, concatList(segments));
    const trimmed = options.trimStartPts !== undefined;
    const args = [
      '-nostdin',
      '-v',
      'error',
      ...(trimmed ? [] : videoOffsetArgs(probe)),
      '-f',
      'concat',
      '-safe',
      '0',
      '-i',
      listPath,
      ...confinedInputArgs(options.source, 'video'),
      ...(options.trimStartPts === undefined ? [] : audioCutArgs(probe, options.trimStartPts, segments)),
      '-i',
      options.source,
      '-map',
      '0:v:0',
      '-map',
      '1:a?',
      '-map_metadata',
      '1',
      '-c:v',
      'copy',
      ...(options.audio
        ? audioEncodeArgs(options.audio, probe.audio.length, container.audioEncoder)
        : audioArgs(probe, container, trimmed)),
      ...(container.mp4Family
        ? [
            '-video_track_timescale',
            String(options.timescale ?? probe.video.timeBase.den),
            '-movflags',
            '+faststart',
          ]
        : []),
      '-f',
      container.muxer,
      '-y',
      partialPath,
    ];
    const { ffmpeg } = resolveBinaries();
    await spawnTool(ffmpeg, args, { signal, failure: `cannot merge ${outputPath}` }).done;
    await rename(partialPath, outputPath);
  } catch (error) {
    await rm(partialPath, { force: true });
    throw error;
  } finally {
    await rm(listDir, { recursive: true, force: true });
  }
}

/** An ffconcat script; `duration` places each segment's successor exactly. */
function concatList(segments: MergeSegment[]): string {
  const lines = ['ffconcat version 1.0'];
  for (const segment of segments) {
    lines.push(
      `file ${quote(resolve(segment.path))}`,
      `duration ${(segment.durationMicros / 1e6).toFixed(6)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** ffconcat quoting: single quotes, and a literal quote closes, escapes and reopens them. */
function quote(path: string): string {
  return `'${path.replace(/'/g, "'\\''")}'`;
}

/**
 * The segments start at 0, the source's first frame may not: shift the video by the first frame's
 * time after the file start (which ffmpeg subtracts from the source too), keeping the audio in sync.
 */
function videoOffsetArgs(probe: StoredProbe): string[] {
  const { firstFramePts, timeBase } = probe.video;
  const offset = (firstFramePts * timeBase.num) / timeBase.den - probe.startTimeSeconds;
  return Math.abs(offset) >= 1e-6 ? ['-itsoffset', offset.toFixed(6)] : [];
}

/**
 * Reads the source from the trimmed first frame's time after the file start, for as long as the segments
 * last: ffmpeg starts what it reads there at 0, as the segments start.
 */
function audioCutArgs(probe: StoredProbe, trimStartPts: number, segments: MergeSegment[]): string[] {
  const { timeBase } = probe.video;
  const from = (trimStartPts * timeBase.num) / timeBase.den - probe.startTimeSeconds;
  const micros = segments.reduce((sum, segment) => sum + segment.durationMicros, 0);
  return ['-ss', Math.max(0, from).toFixed(6), '-t', (micros / 1e6).toFixed(6)];
}

/** Copied where the container allows; a cut (`trimmed`) is re-encoded, as copied audio cuts only between packets. */
function audioArgs(probe: StoredProbe, container: Container, trimmed: boolean): string[] {
  return probe.audio.flatMap((stream, i) =>
    !trimmed && (container.audio === null || container.audio.has(stream.codec))
      ? [`-c:a:${i}`, 'copy']
      : [`-c:a:${i}`, container.audioEncoder],
  );
}
