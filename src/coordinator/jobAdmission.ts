import { UserError } from '../core/errors.js';
import { FACEFUSION_TASK_FRAMES, frameRateProblem, isFacefusionJob } from '../core/facefusion.js';
import { chunksOnKeptFrames } from '../core/outputFrameRate.js';
import {
  type ChunkSizing,
  chooseChunkFrames,
  chunkingProblem,
  planChunks,
  trimmedRange,
} from '../core/planner.js';
import type { EncoderOptions, FrameRange, JobSpec } from '../core/types.js';
import { splitProbe, type VideoProbe } from '../media/probe.js';
import type { JobStore, OutboxStore, StoredJob } from '../store/store.js';
import { referenceFrameProblem } from '../vision/faceOptionGroups.js';
import { faceOptionsOf } from '../vision/faceOptions.js';
import { chainCostMsPerFrame } from '../vision/processors/registry.js';
import { jobOutputFrameRate, outputFramesOf } from './outputFrames.js';
import {
  AdmissionRefused,
  checkJobPixels,
  checkTenantLoad,
  type TenantLimits,
  type TenantTurns,
} from './tenantLimits.js';

/** A request its front door has checked and probed: local files (`run`) or a tenant's uploads (the API). */
export interface CheckedJob {
  spec: JobSpec;
  probe: VideoProbe;
  /** Same inputs, same options, same output: the same job, so a second run resumes the first. */
  key: string;
}

/** How the job is cut into tasks: at least `parallelism` of them, or as the user asked. */
export type ChunkRequest = Pick<ChunkSizing, 'parallelism' | 'chunkFrames' | 'chunkSeconds'>;

export interface Admission extends CheckedJob {
  chunking: ChunkRequest;
  /** The tenant that submitted the job; none for an embedded run. */
  tenant?: string;
  /** An unfinished job with the same key is resumed (embedded runs) instead of queueing another. */
  resume?: boolean;
}

export interface AdmittedJob {
  job: StoredJob;
  /** The job existed unfinished (a failed one is made runnable again) and was not queued anew. */
  resumed: boolean;
}

/** The store calls admission makes. */
export type AdmissionStore = JobStore & OutboxStore;

export interface JobAdmissionOptions {
  /** What one job and one tenant may queue; without limits (an embedded run) every job is admitted. */
  limits?: TenantLimits;
  /** Admits one submission per tenant at a time: share one across calls. */
  turns?: TenantTurns;
  now?: () => number;
}

/** What sizes the job's tasks: its chain's cost, or FaceFusion's (which cannot resume inside a task). */
export function jobCost(
  spec: Pick<JobSpec, 'processors' | 'engine'>,
): Pick<ChunkSizing, 'msPerFrame' | 'maxChunkFrames'> {
  // FaceFusion's processors have no cost here: its tasks are sized by its start-up cost alone.
  if (isFacefusionJob(spec)) return { msPerFrame: 0, maxChunkFrames: FACEFUSION_TASK_FRAMES };
  return { msPerFrame: chainCostMsPerFrame(spec.processors) };
}

/**
 * What a probe tells against the job's options: a trim range with no frame of the video, a reference frame
 * past the video's end, or a variable frame rate for FaceFusion, is a UserError.
 */
export function checkProbedJob(
  spec: Pick<JobSpec, 'processors' | 'face' | 'engine' | 'trim'> & { encoder?: Pick<EncoderOptions, 'fps'> },
  probe: VideoProbe,
): void {
  const frameCount = probe.video.framePts.length;
  const range = trimmedRange(spec.trim, frameCount);
  if (range.end <= range.start)
    throw new UserError(
      `--trim-frame-start ${spec.trim?.start ?? 0} and --trim-frame-end ${spec.trim?.end ?? frameCount} ` +
        `leave no frame of the video's ${frameCount} (frames 0-${frameCount - 1})`,
    );
  const fps = spec.encoder?.fps;
  if (fps !== undefined) {
    if (isFacefusionJob(spec)) throw new UserError('--output-video-fps needs the native engine');
    const slots = outputSlotsOf(fps, probe, range);
    if (slots[slots.length - 1] === 0)
      throw new UserError(
        `--output-video-fps ${fps} leaves no frame of the ${range.end - range.start} given`,
      );
  }
  if (isFacefusionJob(spec)) {
    const problem = frameRateProblem(probe.video.framePts);
    if (problem) throw new UserError(problem);
    return;
  }
  const problem = referenceFrameProblem(
    spec.processors,
    faceOptionsOf(spec.face),
    probe.video.framePts.length,
  );
  if (problem) throw new UserError(problem);
}

/** Where each frame of `range` starts in a job's output at `fps` (see outputSlots). */
function outputSlotsOf(fps: number, probe: VideoProbe, range: FrameRange): number[] {
  const { framePts } = probe.video;
  const rate = jobOutputFrameRate(fps, splitProbe(probe).probe, range, (frame) => framePts[frame]);
  return outputFramesOf(rate, range.end, range, (frame) => framePts[frame]).slots;
}

/**
 * The one way a job enters the queue, from `spotfuse run` and from the tenant API alike: a checked and
 * probed request is held to the limits (pixels, chunking; the tenant's load when its turn comes), planned
 * into tasks of whole frames and stored with its probe, the per-frame timestamps apart. A refusal is an
 * AdmissionRefused (a UserError); nothing is queued then.
 */
export class JobAdmission {
  private readonly now: () => number;

  constructor(
    private readonly store: AdmissionStore,
    private readonly options: JobAdmissionOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async admit(admission: Admission): Promise<AdmittedJob> {
    if (admission.resume) {
      const resumed = await this.resume(admission);
      if (resumed) return { job: resumed, resumed: true };
    }
    const { limits } = this.options;
    const { probe, framePts } = splitProbe(admission.probe);
    const range = trimmedRange(admission.spec.trim, framePts.length);
    const frameCount = range.end - range.start;
    const sizing: ChunkSizing = {
      frameCount,
      fps: probe.video.fps,
      checkpointFrames: admission.spec.checkpointFrames,
      ...jobCost(admission.spec),
      ...admission.chunking,
    };
    if (limits) {
      checkJobPixels(probe.video.width, probe.video.height, frameCount, limits);
      const problem = chunkingProblem(sizing, limits);
      if (problem) throw new AdmissionRefused(problem.limit, problem.message, 400);
    }
    const planned = planChunks(range.end, chooseChunkFrames(sizing, limits), range.start);
    const { fps } = admission.spec.encoder;
    // Every task starts on a frame the output keeps, so that each has a frame to write.
    const chunks =
      fps === undefined ? planned : chunksOnKeptFrames(planned, outputSlotsOf(fps, admission.probe, range));
    const { tenant } = admission;
    const create = async () => {
      if (limits && tenant !== undefined)
        checkTenantLoad(await this.store.tenantLoad(tenant), chunks.length, limits);
      const job = await this.store.createJob(
        { key: admission.key, spec: admission.spec, probe, framePts, chunks, ...(tenant ? { tenant } : {}) },
        this.now(),
      );
      return { job, resumed: false };
    };
    return this.options.turns && tenant !== undefined ? this.options.turns.run(tenant, create) : create();
  }

  /** The unfinished job with the admission's key, runnable again and notifying whom this request names. */
  private async resume(admission: Admission): Promise<StoredJob | undefined> {
    const existing = await this.store.findUnfinishedJob(admission.key);
    if (!existing) return undefined;
    if (existing.state === 'failed') await this.store.retryFailedJob(existing.id);
    await this.store.setJobNotify(existing.id, admission.spec.notify);
    return this.store.getJob(existing.id);
  }
}
