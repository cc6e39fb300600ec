import { passthroughTimingArgs, resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { spawnTool } from './ffmpegProcess.js';
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
   */
  reuseBuffers?: number;
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
 * packed planar frames of `probe.video.pipePixFmt` at the display size. ffmpeg only runs ahead of the
 * consumer by what the pipe buffers; it is killed when the consumer stops early or the signal aborts.
 */
export async function* decodeFrames(options: DecodeOptions): AsyncGenerator<Buffer> {
  const { input, probe, startFrame, endFrame, signal } = options;
  const { video } = probe;
  const ptsAt = timestampsOf(options);
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
  const seek = startFrame > 0 ? ['-ss', seekSeconds(probe, ptsAt(startFrame - 1), ptsAt(startFrame))] : [];
  const args = [
    '-nostdin',
    '-v',
    'error',
    ...seek,
    ...confinedInputArgs(input, 'video'),
    '-i',
    input,
    '-map',
    `0:${video.streamIndex}`,
    '-frames:v',
    String(expected),
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
  const range = `frames ${startFrame}–${endFrame} of ${inputName(input)}`;
  signal?.throwIfAborted();
  const { ffmpeg } = resolveBinaries();
  const tool = spawnTool(ffmpeg, args, { stdout: true, signal, failure: `cannot decode ${range}` });
  const ring = Array.from({ length: options.reuseBuffers ?? 0 }, () => Buffer.allocUnsafeSlow(frameSize));
  const nextBuffer = () => (ring.length > 0 ? ring[produced % ring.length] : Buffer.allocUnsafe(frameSize));
  let produced = 0;
  try {
    let frame: Buffer | undefined;
    let filled = 0;
    for await (const chunk of tool.stdout! as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length && produced < expected) {
        if (filled === 0 && chunk.length - offset >= frameSize) {
          // A whole frame inside one chunk is handed out as a view: no copy at all.
          produced++;
          yield chunk.subarray(offset, offset + frameSize);
          offset += frameSize;
          continue;
        }
        frame ??= nextBuffer();
        const copied = chunk.copy(frame, filled, offset, Math.min(chunk.length, offset + frameSize - filled));
        filled += copied;
        offset += copied;
        if (filled === frameSize) {
          const complete = frame;
          frame = undefined;
          filled = 0;
          produced++;
          yield complete;
        }
      }
    }
    await tool.done;
  } finally {
    tool.kill();
  }
  if (produced < expected) {
    throw new MediaError(`decoder produced ${produced} frames, expected ${expected} for ${range}`);
  }
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
