import { resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { spawnTool, stderrLines } from './ffmpegProcess.js';
import { confinedInputArgs } from './inputSafety.js';
import { probeVideo, type Rational, type VideoProbe } from './probe.js';

/**
 * Checks of what workers wrote, before it is trusted: a segment before the merge concatenates it, the merged
 * output before its job completes. Each answers the first problem found, in one line, or undefined.
 */

/** The timestamps a video must have: microseconds from its first frame, one per frame, in order. */
export type PlannedMicros = readonly number[];

/** A timestamp may differ from the plan by a millisecond (container rounding) plus one tick of either clock. */
function toleranceMicros(...timeBases: Rational[]): number {
  return 1000 + Math.max(...timeBases.map((tb) => (1e6 * tb.num) / tb.den));
}

/** Why `probe`'s frames do not match `planned`, or undefined. */
function timingProblem(
  probe: VideoProbe,
  planned: PlannedMicros,
  plannedTimeBase: Rational,
): string | undefined {
  const { framePts, timeBase } = probe.video;
  if (framePts.length !== planned.length) return `${framePts.length} frames, expected ${planned.length}`;
  const tolerance = toleranceMicros(timeBase, plannedTimeBase);
  for (let i = 0; i < framePts.length; i++) {
    const at = ((framePts[i] - framePts[0]) * 1e6 * timeBase.num) / timeBase.den;
    if (Math.abs(at - planned[i]) > tolerance) {
      return `frame ${i} is at ${(at / 1e6).toFixed(6)} s, planned at ${(planned[i] / 1e6).toFixed(6)} s`;
    }
  }
  return undefined;
}

/** Decodes every frame of the video stream; why it cannot, or undefined. Decoders' complaints count as damage. */
async function decodeProblem(path: string, signal?: AbortSignal): Promise<string | undefined> {
  const { ffmpeg } = resolveBinaries();
  const args = ['-nostdin', '-v', 'error', ...confinedInputArgs(path, 'video'), '-i', path];
  args.push('-map', '0:v:0', '-f', 'null', '-');
  const tool = spawnTool(ffmpeg, args, { signal, failure: 'cannot decode' });
  try {
    await tool.done;
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    return error.message;
  }
  const complaint = stderrLines(tool.stderrTail()).at(-1);
  return complaint === undefined ? undefined : `cannot decode: ${complaint}`;
}

async function probed(path: string): Promise<VideoProbe | string> {
  try {
    return await probeVideo(path);
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    return error.message;
  }
}

/**
 * Why a downloaded segment must not be merged: unreadable, not decodable to the end, or with other frames or
 * timestamps than planned (`planned`: its frames' times from its first, in `plannedTimeBase`'s stream).
 */
export async function segmentProblem(
  path: string,
  planned: PlannedMicros,
  plannedTimeBase: Rational,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const probe = await probed(path);
  if (typeof probe === 'string') return probe;
  return timingProblem(probe, planned, plannedTimeBase) ?? (await decodeProblem(path, signal));
}

/** What a merged output must hold: the planned frames, and as many audio streams as the source. */
export interface PlannedOutput {
  planned: PlannedMicros;
  timeBase: Rational;
  audioStreams: number;
}

/** Why a merged output must not complete its job: unreadable, other frames or timestamps, missing streams. */
export async function outputProblem(path: string, plan: PlannedOutput): Promise<string | undefined> {
  const probe = await probed(path);
  if (typeof probe === 'string') return probe;
  const timing = timingProblem(probe, plan.planned, plan.timeBase);
  if (timing) return timing;
  if (probe.audio.length !== plan.audioStreams) {
    return `${probe.audio.length} audio streams, expected ${plan.audioStreams}`;
  }
  return undefined;
}
