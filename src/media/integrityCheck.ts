import { resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { spawnTool, stderrLines } from './ffmpegProcess.js';
import { confinedInputArgs } from './inputSafety.js';
import { ensureFile, probeVideo, type Rational, type VideoProbe } from './probe.js';

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

/** A video stream's frames as timestamps in its time base, in presentation order. */
interface FrameTimes {
  framePts: readonly number[];
  timeBase: Rational;
}

/** Why `frames` do not match `planned`, or undefined. */
function timingProblem(
  { framePts, timeBase }: FrameTimes,
  planned: PlannedMicros,
  plannedTimeBase: Rational,
): string | undefined {
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

// ffprobe before 5.0 names a decoded frame's timestamp pkt_pts.
const FRAME_PTS = /^(?:pkt_)?pts=([^|]*)/;
const TIME_BASE = /^time_base=(\d+)\/(\d+)/;

/**
 * Decodes every frame of the video stream in one ffprobe run that also lists each decoded frame's timestamp:
 * the frames as the decoder gave them out, or why it could not. Decoders' complaints count as damage.
 */
async function decodedFrames(path: string, signal?: AbortSignal): Promise<FrameTimes | string> {
  try {
    await ensureFile(path, 'video');
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    return error.message;
  }
  const { ffprobe } = resolveBinaries();
  const args = ['-v', 'error', ...confinedInputArgs(path, 'video'), '-select_streams', 'v:0'];
  args.push('-show_entries', 'frame=pts,pkt_pts:stream=time_base', '-of', 'compact=p=0', path);
  const tool = spawnTool(ffprobe, args, { stdout: true, signal, failure: 'cannot decode' });
  const chunks: Buffer[] = [];
  for await (const chunk of tool.stdout!) chunks.push(chunk as Buffer);
  try {
    await tool.done;
  } catch (error) {
    if (!(error instanceof MediaError)) throw error;
    return error.message;
  }
  const complaint = stderrLines(tool.stderrTail()).at(-1);
  if (complaint !== undefined) return `cannot decode: ${complaint}`;
  const framePts: number[] = [];
  let timeBase: Rational | undefined;
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    const pts = FRAME_PTS.exec(line);
    if (pts) {
      if (!/^-?\d+$/.test(pts[1])) return `frame ${framePts.length} has no timestamp`;
      framePts.push(Number(pts[1]));
    }
    const base = TIME_BASE.exec(line);
    if (base) timeBase = { num: Number(base[1]), den: Number(base[2]) };
  }
  if (!timeBase) return 'no video stream';
  return { framePts: framePts.sort((a, b) => a - b), timeBase };
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
  const frames = await decodedFrames(path, signal);
  if (typeof frames === 'string') return frames;
  return timingProblem(frames, planned, plannedTimeBase);
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
  const timing = timingProblem(probe.video, plan.planned, plan.timeBase);
  if (timing) return timing;
  if (probe.audio.length !== plan.audioStreams) {
    return `${probe.audio.length} audio streams, expected ${plan.audioStreams}`;
  }
  return undefined;
}
