import { resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { runTool, spawnTool, stderrLines } from './ffmpegProcess.js';

let cached: Promise<string[]> | undefined;

/** The lines of `ffmpeg -hwaccels` after its heading. */
export function parseHwaccels(output: string): string[] {
  const lines = output.split('\n').map((line) => line.trim());
  const start = lines.findIndex((line) => /^hardware acceleration methods:?$/i.test(line));
  return lines.slice(start + 1).filter(Boolean);
}

/** The decoders' hardware methods this ffmpeg build has (`ffmpeg -hwaccels`: cuda, vaapi, …), read once. */
export function hwaccels(): Promise<string[]> {
  cached ??= runTool(resolveBinaries().ffmpeg, ['-hide_banner', '-hwaccels'], {
    failure: 'cannot list the hwaccels of ffmpeg',
  }).then((out) => parseHwaccels(out.toString()));
  return cached;
}

// ffmpeg's own wrap-up after the line that says why a device did not open.
const DEVICE_WRAP_UP = /^(device creation failed|failed to set value|error parsing global options)/i;

/**
 * Checks that frames can be decoded with `method` (`-hwaccel`, e.g. cuda for NVDEC): this ffmpeg has it, and a
 * device of that kind opens on this machine. A MediaError says which of the two is missing, in one line.
 */
export async function checkDecoderHwaccel(method: string): Promise<void> {
  const { ffmpeg } = resolveBinaries();
  const available = await hwaccels();
  if (!available.includes(method)) {
    throw new MediaError(
      `--decoder-hwaccel ${method}: ${ffmpeg} has no such hwaccel (it has ${available.join(', ') || 'none'})`,
    );
  }
  const args = ['-v', 'error', '-init_hw_device', method, '-f', 'lavfi', '-i', 'nullsrc=s=16x16'];
  args.push('-frames:v', '1', '-f', 'null', '-');
  const tool = spawnTool(ffmpeg, args, { failure: `cannot open a ${method} device` });
  try {
    await tool.done;
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    const lines = stderrLines(tool.stderrTail());
    const reason = lines.find((line) => !DEVICE_WRAP_UP.test(line)) ?? lines[0] ?? error.message;
    throw new MediaError(
      `--decoder-hwaccel ${method}: ffmpeg cannot open a ${method} device here (${reason})`,
    );
  }
}
