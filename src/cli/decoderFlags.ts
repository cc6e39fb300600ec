import type { Command } from 'commander';
import { checkDecoderHwaccel } from '../media/hwaccel.js';

export interface DecoderFlags {
  decoderHwaccel?: string;
}

/** `--decoder-hwaccel`, for the commands that decode input video: run and worker. */
export function addDecoderOptions(command: Command): Command {
  return command.option(
    '--decoder-hwaccel <method>',
    "decode input video on hardware through ffmpeg's -hwaccel, e.g. cuda (NVDEC); `spotfuse doctor` lists this ffmpeg's methods",
  );
}

/** The method, checked before any work starts: one line where this ffmpeg or this machine lacks it. */
export async function decoderHwaccelFromFlags(flags: DecoderFlags): Promise<string | undefined> {
  if (flags.decoderHwaccel !== undefined) await checkDecoderHwaccel(flags.decoderHwaccel);
  return flags.decoderHwaccel;
}

/** The same flag, as arguments for a worker process this command starts. */
export function decoderArgs(hwaccel: string | undefined): string[] {
  return hwaccel === undefined ? [] : ['--decoder-hwaccel', hwaccel];
}
