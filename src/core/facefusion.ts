import type { EngineName, EngineSpec } from './types.js';

/** Pure rules of the `facefusion` engine: what a job may pass through to FaceFusion, and how it is cut. */

/**
 * Frames per task when the job does not say. FaceFusion cannot resume inside a range, so a task is also
 * its one segment: short enough that a preemption loses little, long enough that FaceFusion's start-up
 * per run (Python imports, model loads, its content check, frame extraction: 3.2 s of CPU per extra
 * chunk, measured on a 2-core VM with stand-in models) stays a small share of the task. 300 frames is
 * 10 s of 30 fps video.
 */
export const FACEFUSION_TASK_FRAMES = 300;

/**
 * Options spotfuse sets on every run itself (each task's range, paths, output and encoder, no audio):
 * passing them through would break the segments. The message says what to use instead.
 */
const OWNED_OPTIONS: Record<string, string> = {
  '-s': 'give source images with --source',
  '--source-paths': 'give source images with --source',
  '-t': 'the target is the video given with --target',
  '--target-path': 'the target is the video given with --target',
  '-o': 'the output is given with --output',
  '--output-path': 'the output is given with --output',
  '--trim-frame-start': 'each task sets its own frame range',
  '--trim-frame-end': 'each task sets its own frame range',
  '--temp-path': 'each task has its own temp folder',
  '--jobs-path': 'each task has its own jobs folder',
  '--config-path': 'give the .ini with --facefusion-config',
  '--processors': 'give processors with --processors',
  '--output-video-encoder': 'use --output-video-encoder of spotfuse',
  '--output-video-quality': 'use --output-video-quality of spotfuse',
  '--output-video-preset': 'use --output-video-preset of spotfuse',
  '--output-video-scale': 'use --output-video-scale of spotfuse',
  '--output-video-fps': 'spotfuse offers it with the native engine only',
  '--output-audio-encoder': 'the audio is muxed at the merge: use --output-audio-encoder of spotfuse',
  '--output-audio-quality': 'the audio is muxed at the merge: use --output-audio-quality of spotfuse',
  '--output-audio-volume': 'the audio is muxed at the merge: use --output-audio-volume of spotfuse',
};

/** Why FaceFusion's options `args` cannot be passed through, in one line; undefined when they can. */
export function facefusionArgsProblem(args: readonly string[]): string | undefined {
  for (const arg of args) {
    const option = arg.split('=', 1)[0];
    // FaceFusion's parser also takes an unambiguous prefix of a long option (`--trim-frame-s`).
    const owned = Object.keys(OWNED_OPTIONS).find(
      (name) => name === option || (option.startsWith('--') && option.length > 2 && name.startsWith(option)),
    );
    if (owned) return `--facefusion-args may not set ${owned}: ${OWNED_OPTIONS[owned]}`;
  }
  return undefined;
}

/** A FaceFusion processor name (FaceFusion checks that it has it; spotfuse only that it is a name). */
const PROCESSOR_NAME = /^[a-z][a-z0-9_]{0,49}$/;

/** `--processors a,b` for the facefusion engine: FaceFusion's names, which spotfuse need not know. */
export function parseFacefusionProcessors(list: string): string[] | string {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 0) return 'no processor given (--processors)';
  const bad = names.find((name) => !PROCESSOR_NAME.test(name));
  return bad === undefined ? names : `not a FaceFusion processor name: "${bad}"`;
}

/**
 * Splits FaceFusion's options given as one string the way a POSIX shell splits words: blanks separate,
 * single quotes keep everything, double quotes keep all but `\\"` and `\\\\`, a backslash escapes the next
 * character. An unclosed quote is a problem, returned as a string.
 */
export function splitArguments(text: string): string[] | string {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) return `--facefusion-args has an unclosed ${quote}`;
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * Why FaceFusion cannot give this video's frames their own timestamps, or undefined when it can: it
 * writes every output at one frame rate, so a variable-frame-rate input would come back retimed.
 */
export function frameRateProblem(framePts: readonly number[]): string | undefined {
  if (framePts.length < 3) return undefined;
  const step = framePts[1] - framePts[0];
  for (let i = 2; i < framePts.length; i++) {
    // One tick either way: containers round constant-rate timestamps to their time base.
    if (Math.abs(framePts[i] - framePts[i - 1] - step) > 1)
      return (
        `the facefusion engine needs a constant frame rate, and frame ${i} of this video breaks it ` +
        '(FaceFusion would retime the frames): use the native engine'
      );
  }
  return undefined;
}

/** The engine a job runs on: the workers that may claim its tasks are those that announce it. */
export const engineOf = (spec: { engine?: EngineSpec }): EngineName => spec.engine?.name ?? 'native';

export const isFacefusionJob = (spec: { engine?: EngineSpec }): boolean => spec.engine?.name === 'facefusion';
