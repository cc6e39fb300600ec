import { passthroughTimingArgs, resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { spawnTool, type ToolProcess } from './ffmpegProcess.js';
import { FramePipe } from './framePipe.js';
import { inputName } from './inputName.js';
import { confinedInputArgs } from './inputSafety.js';
import { frameByteLength } from './pixelFormat.js';
import type { StoredProbe, VideoProbe } from './probe.js';

interface DecodeRange {
  /**
   * Local path or http(s) URL; ffmpeg reads a URL with Range requests. It is read as one self-contained
   * video file (see inputSafety), whatever it holds now.
   */
  input: string;
  startFrame: number;
  endFrame: number;
  signal?: AbortSignal;
  /**
   * Reuse this many frame buffers in turn instead of allocating one per frame: a yielded frame then stays
   * valid only until `reuseBuffers` more frames have been yielded. Fresh multi-megabyte buffers cost a
   * page fault per 4 KB on first touch, which on virtual machines costs more than the copy itself.
   * They are SharedArrayBuffers, so a processor thread works on a frame where it lies, without a copy.
   */
  reuseBuffers?: number;
  /**
   * ffmpeg's `-hwaccel` method to decode with (cuda: NVDEC; see checkDecoderHwaccel). Frames come back to
   * memory in the same layout; hardware decoders of H.264/HEVC/VP9/AV1 are bit-exact, so are the frames.
   */
  hwaccel?: string;
}

/**
 * What to decode. A probe that keeps its frames' timestamps (a VideoProbe) may be read for them; a stored
 * one (a claim's) comes with `framePtsAt`, the presentation timestamp of a frame in timeBase ticks.
 */
export type DecodeOptions = DecodeRange &
  (
    | { probe: VideoProbe; framePtsAt?: (frame: number) => number }
    | { probe: StoredProbe; framePtsAt: (frame: number) => number }
  );

function timestampsOf(options: DecodeOptions): (frame: number) => number {
  if (options.framePtsAt) return options.framePtsAt;
  const { video } = options.probe;
  if ('framePts' in video) return (frame) => video.framePts[frame];
  throw new Error('decoding with a stored probe needs framePtsAt');
}

/**
 * Yields exactly frames [startFrame, endFrame) of the video stream, in presentation order, as tightly
 * packed planar frames of `probe.video.pipePixFmt` at the display size, read straight into their buffers
 * (FramePipe). ffmpeg only runs ahead of the consumer by what the pipe buffers; it is killed when the
 * consumer stops early or the signal aborts.
 */
export async function* decodeFrames(options: DecodeOptions): AsyncGenerator<Buffer> {
  const { input, probe, startFrame, endFrame, signal } = options;
  const { video } = probe;
  if (
    !Number.isInteger(startFrame) ||
    !Number.isInteger(endFrame) ||
    startFrame < 0 ||
    endFrame <= startFrame
  ) {
    throw new RangeError(`invalid frame range [${startFrame}, ${endFrame})`);
  }
  const expected = endFrame - startFrame;
  const frameSize = frameByteLength(video.pipePixFmt, video.width, video.height);
  const args = decoderArgs(options);
  const range = `frames ${startFrame}–${endFrame} of ${inputName(input)}`;
  signal?.throwIfAborted();
  const { ffmpeg } = resolveBinaries();
  const pipe = await FramePipe.open();
  let tool: ToolProcess;
  try {
    tool = spawnTool(ffmpeg, args, {
      stdout: pipe.childEnd,
      callerIdle: () => pipe.idle,
      signal,
      failure: `cannot decode ${range}`,
    });
  } catch (error) {
    pipe.close();
    throw error;
  } finally {
    pipe.closeWriteEnd();
  }
  const ring = Array.from({ length: options.reuseBuffers ?? 0 }, () =>
    Buffer.from(new SharedArrayBuffer(frameSize)),
  );
  const nextBuffer = () => (ring.length > 0 ? ring[produced % ring.length] : Buffer.allocUnsafe(frameSize));
  let produced = 0;
  try {
    while (produced < expected) {
      const frame = nextBuffer();
      // Short only where ffmpeg stopped: its exit status says why.
      if ((await pipe.read(frame)) < frameSize) break;
      produced++;
      yield frame;
    }
    await tool.done;
  } finally {
    tool.kill();
    pipe.close();
  }
  if (produced < expected) {
    throw new MediaError(`decoder produced ${produced} frames, expected ${expected} for ${range}`);
  }
}

/** The decoding ffmpeg's arguments: frames [startFrame, endFrame) as raw frames on its stdout. */
export function decoderArgs(options: DecodeOptions): string[] {
  const { input, probe, startFrame, endFrame, hwaccel } = options;
  const ptsAt = timestampsOf(options);
  const seek = startFrame > 0 ? ['-ss', seekSeconds(probe, ptsAt(startFrame - 1), ptsAt(startFrame))] : [];
  return [
    '-nostdin',
    '-v',
    'error',
    ...(hwaccel === undefined ? [] : ['-hwaccel', hwaccel]),
    ...seek,
    ...confinedInputArgs(input, 'video'),
    '-i',
    input,
    '-map',
    `0:${probe.video.streamIndex}`,
    '-frames:v',
    String(endFrame - startFrame),
    ...passthroughTimingArgs(),
    '-an',
    '-sn',
    '-dn',
    '-f',
    'rawvideo',
    '-pix_fmt',
    decoderPixFmt(probe),
    'pipe:1',
  ];
}

/**
 * Input `-ss` halfway between the last frame to skip and the first frame to keep, so that rounding
 * can never let a neighbour in. ffmpeg adds the file's start time to `-ss`, so it is taken off here.
 */
function seekSeconds(probe: StoredProbe, previousPts: number, firstPts: number): string {
  const { num, den } = probe.video.timeBase;
  const seconds = (((previousPts + firstPts) / 2) * num) / den - probe.startTimeSeconds;
  return Math.max(0, seconds).toFixed(6);
}

/**
 * The pixel format ffmpeg is asked for. Full-range yuvj* sources are requested as themselves: they
 * have the pipe format's exact layout, and asking for the plain format would make swscale squeeze
 * them into limited range.
 */
function decoderPixFmt(probe: StoredProbe): string {
  const { sourcePixFmt, pipePixFmt } = probe.video;
  return sourcePixFmt.startsWith('yuvj') && !pipePixFmt.endsWith('10le')
    ? pipePixFmt.replace('yuv', 'yuvj')
    : pipePixFmt;
}
