import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ticksToMicros } from '../../../core/time.js';
import { segmentContainer } from '../../../media/containers.js';
import { checkSegmentFrames } from '../../../media/segmentCheck.js';
import type { ClaimResponse } from '../../../protocol/wire.js';
import type { ExecutionOptions } from '../../../vision/execution.js';
import type { HeartbeatState } from '../../heartbeat.js';
import type { LeaseClient } from '../../leaseClient.js';
import type { PreemptionNotice } from '../../preemption.js';
import { downloadFile, readableLocation, uploadFile } from '../../transfer.js';
import { runHeadless } from './headlessRun.js';
import type { FacefusionInstallation } from './installation.js';

export interface FacefusionTaskContext {
  client: LeaseClient;
  claim: ClaimResponse;
  installation: FacefusionInstallation;
  execution: ExecutionOptions;
  workDir: string;
  notice: PreemptionNotice;
  progress: HeartbeatState;
  /** Aborted when the lease is lost: FaceFusion is stopped, nothing is released. */
  signal: AbortSignal;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

class Preempted extends Error {}

/**
 * A local file for a location of the claim (a path, a `file:` URL, or a blob store's URL, downloaded into
 * `dir` under `name` and the extension of the URL's path: FaceFusion tells images and videos by theirs).
 */
async function localFile(location: string, dir: string, name: string): Promise<string> {
  if (!/^https?:/i.test(location)) return readableLocation(location);
  return downloadFile(location, dir, `${name}${extname(new URL(location).pathname)}`);
}

/**
 * The job's video as a local file. From a blob store it is downloaded once per job and worker, not once per
 * task (a job's tasks tend to come one after another); the previous job's copy goes when another job's
 * task comes.
 */
async function jobVideo(claim: ClaimResponse, workDir: string): Promise<string> {
  if (!/^https?:/i.test(claim.inputUrl)) return readableLocation(claim.inputUrl);
  const dir = join(workDir, 'facefusion-inputs');
  const path = join(dir, `${claim.task.jobId}${extname(new URL(claim.inputUrl).pathname)}`);
  if (existsSync(path)) return path;
  await rm(dir, { recursive: true, force: true });
  await rename(await downloadFile(claim.inputUrl, dir, 'partial'), path);
  return path;
}

/**
 * Runs a task of a `facefusion` job: one FaceFusion `headless-run` over frames [nextFrame, endFrame), whose
 * output is the task's one segment. The segment is accepted only if it holds exactly the planned frames
 * at their planned times. On a preemption notice FaceFusion is stopped, its partial output discarded and
 * the task released as preempted: FaceFusion cannot resume inside a range, so the next attempt redoes it.
 */
export async function runFacefusionTask(ctx: FacefusionTaskContext): Promise<'completed' | 'preempted'> {
  const { client, claim } = ctx;
  const { task, spec } = claim;
  const engine = spec.engine;
  if (!engine) throw new Error(`task ${task.id} is not a FaceFusion task`);
  const dir = join(ctx.workDir, `${task.id}-e${task.epoch}`);
  const preempted = new AbortController();
  const unsubscribe = ctx.notice.onNotice(() => preempted.abort(new Preempted('preemption notice')));
  const signal = AbortSignal.any([ctx.signal, preempted.signal]);
  const first = task.nextFrame;
  try {
    await mkdir(dir, { recursive: true });
    // FaceFusion reads local files only; a `file:` location is used where it is.
    const target = await jobVideo(claim, ctx.workDir);
    const sources = await Promise.all(spec.sources.map((url, i) => localFile(url, dir, `source-${i}`)));
    const configPath = engine.config === undefined ? undefined : join(dir, 'facefusion.ini');
    if (configPath) await writeFile(configPath, engine.config ?? '');
    const output = join(dir, `segment${segmentContainer(spec.encoder.encoder).extension}`);
    const started = ctx.progress.framesDone;
    await runHeadless(
      ctx.installation,
      {
        target,
        sources,
        output,
        startFrame: first,
        endFrame: task.endFrame,
        processors: spec.processors,
        encoder: spec.encoder,
        engine,
        execution: ctx.execution,
        configPath,
        tempPath: join(dir, 'temp'),
        jobsPath: join(dir, 'jobs'),
      },
      { signal, onFrames: (frames) => (ctx.progress.framesDone = started + frames) },
    );
    const planned = [];
    for (let frame = first; frame < task.endFrame; frame++)
      planned.push(ticksToMicros(claim.framePts[frame - claim.framePtsFrom], claim.probe.video.timeBase));
    await checkSegmentFrames(output, planned, `FaceFusion's output for frames ${first}-${task.endFrame}`);
    const segment = await client.segmentUrl(task.id, task.epoch, first);
    await uploadFile(output, segment.url);
    await client.checkpoint(task.id, task.epoch, first, task.endFrame, segment.key);
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (!(error instanceof Preempted)) throw error;
    ctx.log?.('preemption notice: FaceFusion stopped, its partial output discarded, releasing the task');
    await client.release(task.id, task.epoch, 'preempted');
    return 'preempted';
  } finally {
    unsubscribe();
    await rm(dir, { recursive: true, force: true });
  }
  await client.complete(task.id, task.epoch);
  return 'completed';
}
