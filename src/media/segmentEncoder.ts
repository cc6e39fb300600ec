import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { passthroughTimingArgs, resolveBinaries } from './binaries.js';
import { codecOf, segmentContainer } from './containers.js';
import { MediaError } from './errors.js';
import { spawnTool, type ToolProcess } from './ffmpegProcess.js';
import { matroskaFrame, matroskaHeader } from './matroskaRawWriter.js';
import { frameByteLength, type PipePixelFormat } from './pixelFormat.js';
import type { VideoColour } from './probe.js';

export interface SegmentEncoderOptions {
  outputPath: string;
  width: number;
  height: number;
  pixFmt: PipePixelFormat;
  /** The encoded size, when not the frames' (`width` × `height`): resized as FaceFusion's `-s` does, ffmpeg's bicubic. */
  outputSize?: { width: number; height: number };
  /** ffmpeg encoder name, e.g. libx264 (the default), libx265, libvpx-vp9, h264_nvenc. */
  encoder?: string;
  /** 0–100 as FaceFusion's --output-video-quality; default 80. */
  quality?: number;
  /** Encoder preset, e.g. veryfast (the default). */
  preset?: string;
  colour: VideoColour;
  /** Nominal frame rate; sets the rate the encoder plans for, not the timestamps. */
  fps: number;
}

/**
 * Encodes raw frames into one closed segment that starts with a keyframe, in the container that fits
 * the encoder (`segmentContainer`: MP4 and QuickTime keep each frame's timestamp to the microsecond,
 * Matroska to the millisecond). Frames reach ffmpeg as a live Matroska stream, the one raw input
 * format that carries a timestamp per frame.
 */
export class SegmentEncoder {
  private frames = 0;
  /** Rejects as soon as ffmpeg exits while frames may still come: with its error, or for quitting early. */
  private readonly exited: Promise<never>;

  private constructor(
    private readonly tool: ToolProcess,
    private readonly stdin: Writable,
    private readonly frameSize: number,
  ) {
    this.exited = tool.done.then(() => {
      throw new MediaError('encoder exited before the segment was complete');
    });
    this.exited.catch(() => {});
  }

  static start(options: SegmentEncoderOptions): SegmentEncoder {
    const { ffmpeg } = resolveBinaries();
    const tool = spawnTool(ffmpeg, encoderArgs(options), {
      stdin: true,
      failure: `cannot encode ${options.outputPath}`,
    });
    const stdin = tool.stdin!;
    stdin.write(matroskaHeader(options));
    return new SegmentEncoder(tool, stdin, frameByteLength(options.pixFmt, options.width, options.height));
  }

  /**
   * Queues one frame; `ptsMicros` counts from the segment's first frame (0). Resolves once the pipe
   * accepts more, so a caller that awaits every write never buffers more than a frame or two. The
   * frame is written without a copy: it must not be changed afterwards.
   */
  async write(frame: Buffer, ptsMicros: number): Promise<void> {
    if (frame.length !== this.frameSize) {
      throw new RangeError(`frame has ${frame.length} bytes, expected ${this.frameSize}`);
    }
    const { child } = this.tool;
    if (child.exitCode !== null || child.signalCode !== null) await this.exited;
    let accepting = true;
    for (const part of matroskaFrame(frame, ptsMicros)) accepting = this.stdin.write(part);
    this.frames++;
    if (!accepting) {
      // A broken pipe only means ffmpeg has gone; its own error says why.
      await Promise.race([once(this.stdin, 'drain').catch(() => this.exited), this.exited]);
    }
  }

  /** Closes the stream and waits for ffmpeg to finish the file. */
  async finish(): Promise<void> {
    if (this.frames === 0) {
      this.abort();
      throw new MediaError('cannot encode an empty segment');
    }
    this.stdin.end();
    await this.tool.done;
  }

  /** Stops ffmpeg at once; the output file is left incomplete. */
  abort(): void {
    this.tool.kill();
  }
}

/**
 * The encoder gives its packets no duration, so an edit list would end at the last frame's start
 * and newer ffmpeg (and other players) would drop that frame. Without one, every frame plays; the
 * file's timestamps then start at the encoder's reorder delay instead of 0, which concat and
 * probing account for (they work from the file's start time).
 */
const NO_EDIT_LIST = ['-use_editlist', '0'];

const isX26x = (encoder: string) => encoder === 'libx264' || encoder === 'libx265';

/** The encoding ffmpeg's arguments: raw frames as live Matroska on stdin, one closed segment out. */
export function encoderArgs(options: SegmentEncoderOptions): string[] {
  const encoder = options.encoder ?? 'libx264';
  const quality = options.quality ?? 80;
  const preset = options.preset ?? 'veryfast';
  const { muxer } = segmentContainer(encoder);
  const size = options.outputSize ?? options;
  const resized = size.width !== options.width || size.height !== options.height;
  return [
    '-v',
    'error',
    '-f',
    'matroska',
    '-i',
    'pipe:0',
    '-map',
    '0:v:0',
    '-c:v',
    encoder,
    ...qualityArgs(encoder, quality),
    ...presetArgs(encoder, preset),
    ...frameRateArgs(encoder, options.fps),
    ...(resized ? ['-s', `${size.width}x${size.height}`] : []),
    '-pix_fmt',
    outputPixFmt(encoder, options.pixFmt, size.width, size.height),
    ...colourArgs(options.colour),
    ...passthroughTimingArgs(),
    '-enc_time_base',
    '1:1000000',
    ...(muxer === 'matroska' ? [] : NO_EDIT_LIST),
    '-f',
    muxer,
    '-y',
    options.outputPath,
  ];
}

/** FaceFusion's mapping of --output-video-quality onto each encoder's constant-quality scale. */
function qualityArgs(encoder: string, quality: number): string[] {
  if (isX26x(encoder)) return ['-crf', String(Math.round(51 - quality * 0.51))];
  if (encoder === 'libvpx-vp9') return ['-crf', String(Math.round(63 - quality * 0.63)), '-b:v', '0'];
  if (encoder.endsWith('_nvenc')) return ['-cq', String(Math.round(51 - quality * 0.51))];
  return [];
}

function presetArgs(encoder: string, preset: string): string[] {
  if (isX26x(encoder)) return ['-preset', preset];
  // FFV1 as archives write it: every frame a keyframe (a master is cut anywhere), checksummed slices.
  if (encoder === 'ffv1') return ['-g', '1', '-level', '3', '-slicecrc', '1'];
  if (encoder.endsWith('_nvenc')) return ['-preset', nvencPreset(preset)];
  return [];
}

/** FaceFusion's translation of x264 preset names into NVENC's. */
function nvencPreset(preset: string): string {
  if (['ultrafast', 'superfast', 'veryfast', 'faster', 'fast'].includes(preset)) return 'fast';
  if (['slow', 'slower', 'veryslow'].includes(preset)) return 'slow';
  return 'medium';
}

/**
 * Without a frame rate, x264/x265 take the 1 µs time base for 1,000,000 fps and tag the stream with
 * an absurd level (6.2) that hardware decoders refuse. Telling them the nominal rate fixes the level;
 * timestamps still pass through untouched.
 */
function frameRateArgs(encoder: string, fps: number): string[] {
  if (!isX26x(encoder) || !(fps > 0)) return [];
  const rate = `fps=${Number(fps.toFixed(6))}`;
  // x265 prints its banner straight to stderr, around ffmpeg's own error lines.
  return encoder === 'libx264' ? ['-x264-params', rate] : ['-x265-params', `${rate}:log-level=error`];
}

/**
 * libx264 and libx265 refuse odd dimensions for subsampled chroma (4:2:0 needs even width and
 * height, 4:2:2 even width). Rather than crop or pad, such frames are encoded as 4:4:4 at the same
 * depth, which keeps the exact size.
 */
function outputPixFmt(encoder: string, pixFmt: PipePixelFormat, width: number, height: number): string {
  // ProRes is 4:2:2 or 4:4:4 at 10 bit: the nearest that loses nothing.
  if (codecOf(encoder) === 'ProRes') return pixFmt.startsWith('yuv444') ? 'yuv444p10le' : 'yuv422p10le';
  if (!isX26x(encoder)) return pixFmt;
  const oddForLayout = pixFmt.startsWith('yuv420') ? width % 2 === 1 || height % 2 === 1 : width % 2 === 1;
  if (pixFmt.startsWith('yuv444') || !oddForLayout) return pixFmt;
  return pixFmt.endsWith('10le') ? 'yuv444p10le' : 'yuv444p';
}

function colourArgs(colour: VideoColour): string[] {
  return [
    ...(colour.range ? ['-color_range', colour.range] : []),
    ...(colour.space ? ['-colorspace', colour.space] : []),
    ...(colour.primaries ? ['-color_primaries', colour.primaries] : []),
    ...(colour.transfer ? ['-color_trc', colour.transfer] : []),
  ];
}
