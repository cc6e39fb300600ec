import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { facefusionArgsProblem, parseFacefusionProcessors } from '../core/facefusion.js';
import type { EncoderOptions, EngineSpec, JobSpec, NotifySpec, TrimFrames } from '../core/types.js';
import { videoEncoders } from '../media/encoders.js';
import { MediaError } from '../media/errors.js';
import { outputFormatProblem } from '../media/merge.js';
import { probeImage, probeVideo } from '../media/probe.js';
import { checkFaceJob } from '../vision/faceJob.js';
import type { FaceOptions } from '../vision/faceOptions.js';
import { parseProcessorList } from '../vision/processors/registry.js';
import { type CheckedJob, checkProbedJob } from './jobAdmission.js';

export interface JobRequest {
  input: string;
  sources: string[];
  output: string;
  processors: string;
  face: FaceOptions;
  encoder: EncoderOptions;
  checkpointFrames: number;
  trim?: TrimFrames;
  /** Absent: the native engine. */
  engine?: EngineSpec;
  notify?: NotifySpec;
}

async function asUserError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof MediaError) throw new UserError(error.message);
    throw error;
  }
}

function fileIdentity(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

function checkOutput(output: string, input: string, encoder: EncoderOptions): void {
  const problem = outputFormatProblem(output, encoder.encoder, encoder.audio);
  if (problem) throw new UserError(problem);
  if (output === input) throw new UserError(`output would overwrite the input: ${output}`);
  if (existsSync(output) && statSync(output).isDirectory())
    throw new UserError(`output is a directory: ${output}`);
  const dir = dirname(output);
  if (!existsSync(dir)) throw new UserError(`output directory does not exist: ${dir}`);
  try {
    accessSync(dir, constants.W_OK);
    if (existsSync(output)) accessSync(output, constants.W_OK);
  } catch {
    throw new UserError(`output is not writable: ${output}`);
  }
}

/**
 * The front door of `spotfuse run` (local files; JobAdmission queues what it returns). Everything a user
 * can get wrong is checked here, before anything is queued: processors, paths, that the
 * video is a readable video and the sources are images, that the output can be written.
 */
export async function checkJobRequest(request: JobRequest): Promise<CheckedJob> {
  const processors = processorsOf(request);
  const input = resolve(request.input);
  const output = resolve(request.output);
  const sources = request.sources.map((s) => resolve(s));
  if (!Number.isInteger(request.checkpointFrames) || request.checkpointFrames < 1) {
    throw new UserError(
      `--checkpoint-frames must be a positive whole number, got ${request.checkpointFrames}`,
    );
  }
  if (request.encoder.quality < 0 || request.encoder.quality > 100 || Number.isNaN(request.encoder.quality)) {
    throw new UserError(`--output-video-quality must be between 0 and 100, got ${request.encoder.quality}`);
  }
  checkOutput(output, input, request.encoder);
  if (!(await videoEncoders()).has(request.encoder.encoder)) {
    throw new UserError(
      `unknown --output-video-encoder "${request.encoder.encoder}": this ffmpeg has no such encoder`,
    );
  }
  if (request.engine) {
    const problem = facefusionArgsProblem(request.engine.args);
    if (problem) throw new UserError(problem);
  } else checkFaceJob(processors, request.face, sources);
  for (const source of sources) {
    if (!existsSync(source)) throw new UserError(`source image not found: ${source}`);
    await asUserError(() => probeImage(source));
  }
  const probe = await asUserError(() => probeVideo(input));
  checkProbedJob(
    { processors, face: request.face, engine: request.engine, trim: request.trim, encoder: request.encoder },
    probe,
  );
  const spec = specOf(request);
  const key = keyOf(spec);
  return { spec: request.notify ? { ...spec, notify: request.notify } : spec, probe, key };
}

/** The request's processors: spotfuse's, or FaceFusion's names for the facefusion engine. */
function processorsOf(request: JobRequest): string[] {
  if (!request.engine) return parseProcessorList(request.processors);
  const parsed = parseFacefusionProcessors(request.processors);
  if (typeof parsed === 'string') throw new UserError(parsed);
  return parsed;
}

/** What the job is, from its request: paths resolved, processors parsed. Who is notified is not part of it. */
function specOf(request: JobRequest): JobSpec {
  return {
    input: resolve(request.input),
    sources: request.sources.map((s) => resolve(s)),
    output: resolve(request.output),
    processors: processorsOf(request),
    // FaceFusion reads its own options (engine.args): spotfuse's face options play no part.
    face: request.engine ? {} : request.face,
    encoder: request.encoder,
    checkpointFrames: request.checkpointFrames,
    ...(request.trim ? { trim: request.trim } : {}),
    ...(request.engine ? { engine: request.engine } : {}),
  };
}

/** Same spec and the same input files (path, size, modification time): the same key. */
function keyOf(spec: JobSpec): string {
  return createHash('sha256')
    .update(
      JSON.stringify({ ...spec, input: fileIdentity(spec.input), sources: spec.sources.map(fileIdentity) }),
    )
    .digest('hex');
}

/**
 * The key `checkJobRequest` gives this request, without probing anything; undefined where it has none
 * (a missing file, an unknown processor): checking the request then says what is wrong.
 */
export function jobKey(request: JobRequest): string | undefined {
  try {
    return keyOf(specOf(request));
  } catch {
    return undefined;
  }
}
