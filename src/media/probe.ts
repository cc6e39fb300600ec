import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { spawnTool, stderrLines } from './ffmpegProcess.js';
import { inputName } from './inputName.js';
import {
  confinedInputArgs,
  looksLikeImageSequence,
  refusedDemuxer,
  refusedVideoMessage,
  SELF_CONTAINED,
} from './inputSafety.js';
import { type PipePixelFormat, pipeFormatFor } from './pixelFormat.js';

export interface Rational {
  num: number;
  den: number;
}

export interface VideoColour {
  range?: string;
  space?: string;
  primaries?: string;
  transfer?: string;
}

export interface VideoProbe {
  formatName: string;
  durationSeconds: number;
  /** Format-level start time (0 if absent); ffmpeg adds it to an input `-ss`. */
  startTimeSeconds: number;
  sizeBytes: number;
  video: {
    streamIndex: number;
    codec: string;
    /** Display size: what the decoder outputs with autorotate on. */
    width: number;
    height: number;
    /** Clockwise rotation applied for display. */
    rotation: 0 | 90 | 180 | 270;
    sourcePixFmt: string;
    pipePixFmt: PipePixelFormat;
    timeBase: Rational;
    fps: number;
    /** ffprobe's r_frame_rate, the rate FaceFusion reads; absent in probes stored before it was kept. */
    nominalFps?: number;
    /** Colour of the frames as they come out of the decoder pipe. */
    colour: VideoColour;
    frameCount: number;
    /** Timestamp of the first frame in timeBase ticks; kept when `framePts` is stored apart. */
    firstFramePts: number;
    /** Presentation timestamp of every frame, in timeBase ticks, ascending. */
    framePts: number[];
    lastFrameDurationTicks: number;
  };
  audio: { streamIndex: number; codec: string; channels: number; sampleRate: number }[];
}

/**
 * A VideoProbe as a job keeps it and a claim carries it: without the per-frame timestamps, which are
 * stored apart and handed out a task's range at a time.
 */
export type StoredProbe = Omit<VideoProbe, 'video'> & { video: Omit<VideoProbe['video'], 'framePts'> };

/** A probe split into what a job stores with it and its per-frame timestamps. */
export function splitProbe(probe: VideoProbe): { probe: StoredProbe; framePts: number[] } {
  const { framePts, ...video } = probe.video;
  return { probe: { ...probe, video }, framePts };
}

interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  time_base?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  start_pts?: number;
  duration_ts?: number;
  duration?: string;
  nb_frames?: string;
  channels?: number;
  sample_rate?: string;
  color_range?: string;
  color_space?: string;
  color_primaries?: string;
  color_transfer?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string; start_time?: string; size?: string };
}

interface Packet {
  pts: number;
  duration?: number;
}

const isUrl = (input: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(input);

/** Rejects, saying why, unless `path` is a URL or a regular file. */
export async function ensureFile(path: string, kind: 'video' | 'image'): Promise<void> {
  if (isUrl(path)) return;
  let file: Awaited<ReturnType<typeof stat>>;
  try {
    file = await stat(path);
  } catch {
    if (kind === 'video' && looksLikeImageSequence(path))
      throw new MediaError(`not a video: ${path} (an image sequence; ${SELF_CONTAINED})`);
    throw new MediaError(`input not found: ${path}`);
  }
  // A named pipe or a device would keep ffprobe waiting for data forever.
  if (!file.isFile()) throw new MediaError(`not a ${kind}: ${path} (not a regular file)`);
}

// ffprobe's last word when no demuxer recognises the data; other lines say more.
const UNRECOGNISED = /invalid data found when processing input/i;

/**
 * Format and streams, read only as one self-contained file of `kind` (see inputSafety): a demuxer that
 * would open other files or URLs is refused before it reads anything, and `refused` says why.
 */
async function readContainer(
  path: string,
  kind: 'video' | 'image',
  failure: (reason: string, unrecognised: boolean) => MediaError,
  refused: (demuxer: string) => MediaError,
): Promise<FfprobeOutput> {
  const { ffprobe } = resolveBinaries();
  const args = ['-v', 'error', ...confinedInputArgs(path, kind)];
  args.push('-show_format', '-show_streams', '-of', 'json', path);
  const tool = spawnTool(ffprobe, args, { stdout: true, failure: `cannot read ${inputName(path)}` });
  const chunks: Buffer[] = [];
  for await (const chunk of tool.stdout!) chunks.push(chunk as Buffer);
  try {
    await tool.done;
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    const demuxer = refusedDemuxer(tool.stderrTail());
    if (demuxer !== undefined) throw refused(demuxer);
    const lines = stderrLines(tool.stderrTail());
    const specific = lines.filter((line) => !UNRECOGNISED.test(line)).at(-1);
    throw failure(specific ?? lines.at(-1) ?? 'ffprobe failed', specific === undefined);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as FfprobeOutput;
}

/** How many probes a process remembers (the latest ones). */
const REMEMBERED = 8;
const remembered = new Map<string, Promise<unknown>>();

/**
 * `probe`'s answer for a local file, remembered while the file stays as it was (inode, size, mtime and
 * ctime): a run's submit, its reference frame and its source face each probed the same files again. Every
 * caller gets its own copy; failures are not remembered.
 */
async function rememberedProbe<T>(kind: string, path: string, probe: () => Promise<T>): Promise<T> {
  const file = isUrl(path) ? undefined : await stat(path).catch(() => undefined);
  if (!file?.isFile()) return probe();
  const key = JSON.stringify([kind, resolve(path), file.ino, file.size, file.mtimeMs, file.ctimeMs]);
  let answer = remembered.get(key) as Promise<T> | undefined;
  if (!answer) {
    answer = probe();
    remembered.set(key, answer);
    answer.catch(() => remembered.delete(key));
    if (remembered.size > REMEMBERED) remembered.delete(remembered.keys().next().value!);
  }
  return structuredClone(await answer);
}

/** Streams, timing, rotation and colour of a video, plus the timestamp of every frame. */
export function probeVideo(path: string): Promise<VideoProbe> {
  return rememberedProbe('video', path, () => readVideo(path));
}

async function readVideo(path: string): Promise<VideoProbe> {
  await ensureFile(path, 'video');
  const name = inputName(path);
  const container = await readContainer(
    path,
    'video',
    (reason, unrecognised) =>
      unrecognised
        ? new MediaError(`not a video: ${name} (unrecognised format)`)
        : new MediaError(`cannot read video ${name}: ${reason}`),
    (demuxer) => new MediaError(refusedVideoMessage(path, demuxer)),
  );
  const streams = container.streams ?? [];
  const stream = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!stream?.width || !stream.height) throw new MediaError(`not a video: ${name} (no video stream)`);

  const timeBase = parseRational(stream.time_base) ?? { num: 1, den: 90000 };
  const { packets, totalPackets, warning } = await readPackets(path, stream.index);
  if (packets.length === 0) {
    throw new MediaError(
      `cannot read video ${name}: ${warning ?? 'the video stream has no readable frames'}`,
    );
  }
  checkComplete(name, stream, timeBase, packets, totalPackets, warning);

  const framePts = packets.map((p) => p.pts).sort((a, b) => a - b);
  const format = container.format ?? {};
  const durationSeconds = Number(format.duration ?? stream.duration ?? 0) || 0;
  const fps = frameRate(stream, framePts.length, durationSeconds);
  const nominal = parseRational(stream.r_frame_rate);
  const rotation = rotationOf(stream);
  const sourcePixFmt = stream.pix_fmt ?? 'unknown';
  const pipePixFmt = pipeFormatFor(sourcePixFmt);
  const swap = rotation === 90 || rotation === 270;

  return {
    formatName: format.format_name ?? 'unknown',
    durationSeconds,
    startTimeSeconds: Number(format.start_time ?? 0) || 0,
    sizeBytes: Number(format.size ?? 0) || 0,
    video: {
      streamIndex: stream.index,
      codec: stream.codec_name ?? 'unknown',
      width: swap ? stream.height : stream.width,
      height: swap ? stream.width : stream.height,
      rotation,
      sourcePixFmt,
      pipePixFmt,
      timeBase,
      fps,
      ...(nominal ? { nominalFps: nominal.num / nominal.den } : {}),
      colour: pipeColour(stream, sourcePixFmt),
      frameCount: framePts.length,
      firstFramePts: framePts[0],
      framePts,
      lastFrameDurationTicks: lastFrameDuration(stream, packets, framePts, timeBase, fps),
    },
    audio: streams
      .filter((s) => s.codec_type === 'audio')
      .map((s) => ({
        streamIndex: s.index,
        codec: s.codec_name ?? 'unknown',
        channels: s.channels ?? 0,
        sampleRate: Number(s.sample_rate ?? 0),
      })),
  };
}

/** Size and codec of a still image (e.g. the source face). */
export function probeImage(path: string): Promise<{ width: number; height: number; codec: string }> {
  return rememberedProbe('image', path, () => readImage(path));
}

async function readImage(path: string): Promise<{ width: number; height: number; codec: string }> {
  await ensureFile(path, 'image');
  const notAnImage = () => new MediaError(`not an image: ${inputName(path)}`);
  const container = await readContainer(path, 'image', notAnImage, notAnImage);
  const stream = container.streams?.find((s) => s.codec_type === 'video');
  const animated = container.format?.format_name === 'gif';
  if (!stream?.width || !stream.height || !(isImageFormat(container) || animated)) throw notAnImage();
  return { width: stream.width, height: stream.height, codec: stream.codec_name ?? 'unknown' };
}

/** Image demuxers are named `<codec>_pipe`, or image2 when chosen by file extension. */
function isImageFormat(container: FfprobeOutput): boolean {
  return /(_pipe|^image2)$/.test(container.format?.format_name ?? '');
}

/**
 * Lists the stream's packets without decoding them, so that this stays fast on hours of video.
 * Packets flagged discard (e.g. cut by an MP4 edit list) are never output by the decoder.
 */
async function readPackets(
  path: string,
  streamIndex: number,
): Promise<{ packets: Packet[]; totalPackets: number; warning?: string }> {
  const { ffprobe } = resolveBinaries();
  const args = [
    '-v',
    'error',
    ...confinedInputArgs(path, 'video'),
    '-select_streams',
    String(streamIndex),
    '-show_entries',
    'packet=pts,dts,duration,flags',
    '-of',
    'compact=p=0',
    path,
  ];
  const tool = spawnTool(ffprobe, args, { stdout: true, failure: `cannot read video ${inputName(path)}` });
  const packets: Packet[] = [];
  let totalPackets = 0;
  let missingTimestamps = false;
  let rest = '';
  const parseLine = (line: string) => {
    if (!line) return;
    const fields = new Map(line.split('|').map((field) => field.split('=') as [string, string]));
    totalPackets++;
    if (fields.get('flags')?.includes('D')) return;
    const pts = Number(fields.get('pts') !== 'N/A' ? fields.get('pts') : fields.get('dts'));
    if (!Number.isFinite(pts)) {
      missingTimestamps = true;
      return;
    }
    const duration = Number(fields.get('duration'));
    packets.push({ pts, duration: Number.isFinite(duration) && duration > 0 ? duration : undefined });
  };
  tool.stdout!.setEncoding('utf8');
  for await (const chunk of tool.stdout!) {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    lines.forEach(parseLine);
  }
  parseLine(rest.trim());
  await tool.done;
  if (missingTimestamps) {
    throw new MediaError(
      `cannot read video ${inputName(path)}: frames without timestamps (remux it into mp4 or mkv)`,
    );
  }
  const warning = stderrLines(tool.stderrTail()).at(-1);
  return { packets, totalPackets, warning };
}

/**
 * Rejects a file whose packets end before its own header says they should (a truncated file): MP4
 * and QuickTime count their frames, Matroska states each stream's duration. Durations that ffprobe
 * merely estimates (MPEG-TS, raw streams) are not evidence and are not checked.
 */
function checkComplete(
  name: string,
  stream: FfprobeStream,
  timeBase: Rational,
  packets: Packet[],
  totalPackets: number,
  warning: string | undefined,
): void {
  const because = warning ? ` (${warning})` : '';
  const declaredFrames = Number(stream.nb_frames);
  if (declaredFrames > 0 && totalPackets < declaredFrames) {
    throw new MediaError(
      `cannot read video ${name}: file ends after ${totalPackets} of ${declaredFrames} frames${because}`,
    );
  }
  const declaredSeconds = parseClock(stream.tags?.DURATION);
  if (!(declaredSeconds > 0)) return;
  let lastPts = Number.NEGATIVE_INFINITY;
  for (const { pts } of packets) lastPts = Math.max(lastPts, pts);
  const endSeconds = (lastPts * timeBase.num) / timeBase.den;
  // The declared end lies one frame after the last frame's start; allow a few frames of slack.
  const frameSeconds = 1 / frameRate(stream, packets.length, declaredSeconds);
  if (endSeconds < declaredSeconds - 3 * frameSeconds - declaredSeconds * 0.01) {
    throw new MediaError(
      `cannot read video ${name}: file ends at ${endSeconds.toFixed(1)} s of ${declaredSeconds.toFixed(1)} s${because}`,
    );
  }
}

function parseRational(text: string | undefined): Rational | undefined {
  const match = /^(-?\d+)[/:](\d+)$/.exec(text ?? '');
  if (!match || Number(match[2]) === 0 || Number(match[1]) === 0) return undefined;
  return { num: Number(match[1]), den: Number(match[2]) };
}

/** Matroska's DURATION tag, e.g. `00:01:02.500000000`. */
function parseClock(text: string | undefined): number {
  const match = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(text ?? '');
  return match ? Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) : Number.NaN;
}

function frameRate(stream: FfprobeStream, frameCount: number, durationSeconds: number): number {
  const rate = parseRational(stream.avg_frame_rate) ?? parseRational(stream.r_frame_rate);
  if (rate) return rate.num / rate.den;
  return durationSeconds > 0 ? frameCount / durationSeconds : 25;
}

/**
 * Clockwise degrees the frames are turned for display, the way ffmpeg's autorotate turns them.
 * The display matrix side data gives the angle counter-clockwise (-90 = turned 90° clockwise);
 * the legacy `rotate` tag gives it clockwise.
 */
function rotationOf(stream: FfprobeStream): VideoProbe['video']['rotation'] {
  const matrix = stream.side_data_list?.find((data) => typeof data.rotation === 'number')?.rotation;
  const degrees = matrix !== undefined ? -matrix : Number(stream.tags?.rotate ?? 0) || 0;
  return ((((Math.round(degrees / 90) * 90) % 360) + 360) % 360) as VideoProbe['video']['rotation'];
}

const UNSET = new Set(['unknown', 'unspecified', 'reserved']);

function pipeColour(stream: FfprobeStream, sourcePixFmt: string): VideoColour {
  const known = (value: string | undefined) => (value && !UNSET.has(value) ? value : undefined);
  const colour: VideoColour = {
    range: known(stream.color_range),
    space: known(stream.color_space),
    primaries: known(stream.color_primaries),
    transfer: known(stream.color_transfer),
  };
  // The decoder hands yuvj* frames over untouched, so they stay full range.
  if (sourcePixFmt.startsWith('yuvj')) colour.range = 'pc';
  // RGB sources are converted by swscale, whose default output is limited-range BT.601.
  if (pipeFormatFor(sourcePixFmt).startsWith('yuv444') && !/^yuv/.test(sourcePixFmt)) {
    colour.range = 'tv';
    colour.space = 'smpte170m';
  }
  return colour;
}

function lastFrameDuration(
  stream: FfprobeStream,
  packets: Packet[],
  framePts: number[],
  timeBase: Rational,
  fps: number,
): number {
  const lastPts = framePts[framePts.length - 1];
  const lastPacket = packets.find((p) => p.pts === lastPts);
  if (lastPacket?.duration) return lastPacket.duration;
  if (stream.start_pts !== undefined && stream.duration_ts) {
    const untilEnd = stream.start_pts + stream.duration_ts - lastPts;
    if (untilEnd > 0) return untilEnd;
  }
  if (framePts.length > 1) return lastPts - framePts[framePts.length - 2];
  return Math.max(1, Math.round(timeBase.den / (timeBase.num * fps)));
}
