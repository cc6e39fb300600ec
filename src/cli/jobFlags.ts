import { type Command, Option } from 'commander';
import type { EncoderOptions, TrimFrames } from '../core/types.js';
import { AUDIO_ENCODERS, DEFAULT_AUDIO_QUALITY } from '../media/audioOptions.js';
import { ENCODER_PRESETS } from '../media/encoders.js';
import { PROCESSOR_NAMES } from '../vision/processors/registry.js';
import { addEngineOptions, type EngineFlags } from './engineFlags.js';
import { addFaceOptions, type FaceFlags, listOption } from './faceFlags.js';
import { addJobNotifyOptions, type JobNotifyFlags } from './notifyFlags.js';
import {
  collect,
  deadline,
  integer,
  mediaScale,
  outputVideoFps,
  percent,
  positiveInt,
  positiveNumber,
} from './options.js';

/**
 * What a job is, as `run` and `submit` both take it: inputs, processors, chunking, encoder, face options,
 * and who is notified of it.
 */
export interface JobFlags extends FaceFlags, JobNotifyFlags, EngineFlags {
  source: string[];
  target: string;
  processors: string[];
  chunkFrames?: number;
  chunkSeconds?: number;
  checkpointFrames: number;
  trimFrameStart?: number;
  trimFrameEnd?: number;
  outputVideoEncoder: string;
  outputVideoQuality: number;
  outputVideoPreset: string;
  outputVideoScale?: number;
  outputVideoFps?: number;
  outputAudioEncoder?: string;
  outputAudioQuality?: number;
  outputAudioVolume?: number;
  /** When the job must be done (epoch ms); a coordinator asks for on-demand workers when spot is too slow. */
  deadline?: number;
}

/** The chain `run` and `submit` use without `--processors` (FaceFusion's default). */
export const DEFAULT_PROCESSORS: readonly string[] = ['face_swapper'];

const processorName = (name: string) => name;

export function addJobOptions(command: Command): Command {
  command
    .option(
      '-s, --source <images...>',
      'source face images, one or several (FaceFusion: -s/--source-paths)',
      collect,
      [],
    )
    .requiredOption(
      '-t, --target <path>',
      'video, or image (run only), to process (FaceFusion: -t/--target-path)',
    )
    .addOption(
      new Option(
        '--processors <names...>',
        `the chain, in order: ${PROCESSOR_NAMES.join(', ')} (with --engine facefusion: FaceFusion's)`,
      )
        .argParser(listOption(processorName, DEFAULT_PROCESSORS))
        .default(DEFAULT_PROCESSORS, DEFAULT_PROCESSORS.join(' ')),
    )
    .option(
      '--config-path <facefusion.ini>',
      "FaceFusion's .ini: the options it sets, unless given on the command line",
    )
    .option('--chunk-frames <n>', 'frames per task', positiveInt)
    .option('--chunk-seconds <s>', 'seconds of video per task', positiveNumber)
    .option(
      '--deadline <when>',
      'finish by then, a duration (90m, 2h) or a time (2026-03-01T18:00Z): with --server, on-demand workers are asked for when spot is too slow',
      (value: string) => deadline(value),
    )
    .option('--checkpoint-frames <n>', 'frames per checkpointed segment', positiveInt, 100)
    .option(
      '--trim-frame-start <frame>',
      'first frame to process; the output starts there, at time 0 (clamped to the video, as FaceFusion)',
      integer,
    )
    .option('--trim-frame-end <frame>', 'frame to stop before (default: the end of the video)', integer)
    .option('--output-video-encoder <name>', 'video encoder', 'libx264')
    .option('--output-video-quality <0-100>', 'output quality (FaceFusion scale: 80 = crf 10)', percent, 80)
    .option('--output-video-preset <preset>', `encoder preset (${ENCODER_PRESETS.join(', ')})`, 'veryfast')
    .option(
      '--output-video-scale <scale>',
      "output size, times the target's, whatever the processors make (0.25 to 8 in steps of 0.25; default 1)",
      mediaScale,
    )
    .option(
      '--output-video-fps <fps>',
      "output frame rate, 1 to 60: frames dropped or repeated as FaceFusion does (default: the target's frames and times)",
      outputVideoFps,
    )
    .addOption(
      new Option(
        '--output-audio-encoder <name>',
        "re-encode the audio with this encoder (default: the source's audio is copied where the container allows)",
      ).choices(Object.keys(AUDIO_ENCODERS)),
    )
    .option(
      '--output-audio-quality <0-100>',
      `audio quality when re-encoding (FaceFusion scale; default ${DEFAULT_AUDIO_QUALITY}: aac -q:a 1.6)`,
      percent,
    )
    .option(
      '--output-audio-volume <0-100>',
      'audio volume in percent (default 100; other values re-encode)',
      percent,
    );
  return addEngineOptions(addJobNotifyOptions(addFaceOptions(command)));
}

/** The encoder the `--output-video-*` and `--output-audio-*` flags ask for. */
export function encoderFromFlags(flags: JobFlags): EncoderOptions {
  const audio = {
    ...(flags.outputAudioEncoder === undefined ? {} : { encoder: flags.outputAudioEncoder }),
    ...(flags.outputAudioQuality === undefined ? {} : { quality: flags.outputAudioQuality }),
    ...(flags.outputAudioVolume === undefined ? {} : { volume: flags.outputAudioVolume }),
  };
  return {
    encoder: flags.outputVideoEncoder,
    quality: flags.outputVideoQuality,
    preset: flags.outputVideoPreset,
    // Scale 1 is the default: left out, a job keeps the identity it had before the option existed.
    ...(flags.outputVideoScale === undefined || flags.outputVideoScale === 1
      ? {}
      : { scale: flags.outputVideoScale }),
    ...(flags.outputVideoFps === undefined ? {} : { fps: flags.outputVideoFps }),
    // Only what was asked for: a job without audio options copies the audio, and keeps its identity.
    ...(Object.keys(audio).length === 0 ? {} : { audio }),
  };
}

/** The trim range `--trim-frame-start`/`--trim-frame-end` ask for; undefined when neither is given. */
export function trimFromFlags(flags: JobFlags): TrimFrames | undefined {
  if (flags.trimFrameStart === undefined && flags.trimFrameEnd === undefined) return undefined;
  return {
    ...(flags.trimFrameStart === undefined ? {} : { start: flags.trimFrameStart }),
    ...(flags.trimFrameEnd === undefined ? {} : { end: flags.trimFrameEnd }),
  };
}
