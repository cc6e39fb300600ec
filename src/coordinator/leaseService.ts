import type { Logger } from 'pino';
import { type BlobStore, hasMultipart } from '../blob/blobStore.js';
import { locationUrl } from '../blob/location.js';
import { planMultipart } from '../blob/s3Limits.js';
import { ProtocolError } from '../core/errors.js';
import type { ProtocolViolation } from '../core/lease.js';
import { type OutputFrames, outputSegmentDurationsMicros } from '../core/outputFrameRate.js';
import { trimmedRange } from '../core/planner.js';
import { segmentDurationsMicros } from '../core/time.js';
import type {
  Attempt,
  EngineName,
  InstanceInfo,
  JobSpec,
  LeaseResult,
  OnDemandOnly,
  Pool,
  ReleaseReason,
  SegmentRejection,
  Task,
  TaskKind,
} from '../core/types.js';
import { attemptCost } from '../cost/accounting.js';
import type { PriceTable } from '../cost/prices.js';
import type { StoredProbe } from '../media/probe.js';
import {
  type ClaimResponse,
  LEASE_PROTOCOL,
  type OutputUploadResponse,
  type SegmentUrlResponse,
} from '../protocol/wire.js';
import {
  type CompletedTask,
  type EndedLease,
  type HeartbeatProgress,
  type JobStore,
  type LeaseStore,
  type OutputFile,
  workerName,
} from '../store/store.js';
import { deleteJobSegments, segmentsPrefix } from './blobSweeps.js';
import type { Metrics } from './metrics.js';
import { jobOutputFrameRate, outputFrameRateFrames, outputFramesOf } from './outputFrames.js';

export interface LeaseOptions {
  leaseTtlMs: number;
  maxAttempts: number;
  now?: () => number;
  /**
   * Cluster mode with no segment retention: delete a job's segments once its merge has completed (embedded
   * mode does it itself; with a retention, the coordinator's sweep does it later).
   */
  deleteSegmentsWhenDone?: boolean;
  /** Pool policy: work only on-demand workers may claim (`--on-demand-for`); none by default. */
  onDemandOnly?: readonly OnDemandOnly[];
  /** Pool policy: interruptions after which a task is kept for on-demand workers (`--on-demand-after`). */
  spotInterruptionCap?: number;
  /** Merged outputs above this many bytes are uploaded in parts where the blob store can (default 64 MiB). */
  multipartThresholdBytes?: number;
  /** Preferred part size of those uploads (default 64 MiB; grown as S3's 10,000-part limit needs). */
  multipartPartBytes?: number;
  /** Counts claims, releases, expiries, frames and GPU time, and keeps each worker's latest readings. */
  metrics?: Metrics;
  /** Prices the metrics' cost of ended attempts; without it they count GPU time only. */
  prices?: PriceTable;
  /** One line per lease event, each with the task's `jobId`, `taskId`, `workerId` and `epoch`. */
  logger?: Logger;
}

const DEFAULT_MULTIPART_BYTES = 64 * 1024 * 1024;

/** What a checkpoint says of its segment, beside its range and key; each part optional on the wire. */
export interface SegmentIntegrity {
  sha256?: string;
  bytes?: number;
  /** Frames the worker encoded into the segment. */
  frames?: number;
  /** The worker decoded the segment and found the planned frames and timestamps. */
  decoded?: boolean;
}

/** Who holds a task's lease at an epoch: the fields of every log line about the task. */
export interface LeaseFields {
  jobId: string;
  taskId: string;
  workerId: string;
  epoch: number;
}

/** Heartbeats find their lease holder here instead of in the store; bounded, oldest dropped first. */
const HOLDERS_KEPT = 10_000;

/** A job's input, sources and output name blobs of the coordinator's blob store as `blob:KEY`. */
const BLOB_REF = 'blob:';

export function blobRef(key: string): string {
  return `${BLOB_REF}${key}`;
}

/** The blob key of a `blob:KEY` location; undefined for a path or URL. */
export function blobKeyOf(location: string): string | undefined {
  return location.startsWith(BLOB_REF) ? location.slice(BLOB_REF.length) : undefined;
}

/** A segment's name in its job's folder, as `segmentKey` writes it. */
const SEGMENT_NAME = /^[^/]+-e\d+-f\d{8,}\.mp4$/;

export function segmentKey(jobId: string, taskId: string, epoch: number, startFrame: number): string {
  return `${segmentsPrefix(jobId)}${taskId}-e${epoch}-f${String(startFrame).padStart(8, '0')}.mp4`;
}

/**
 * The stores answer a segment that does not continue its task, and a complete with frames left, with a
 * violation (see Store.checkpoint): the worker broke the protocol, which the API answers with a 400.
 */
function refuseViolation(result: LeaseResult | ProtocolViolation): LeaseResult {
  if (typeof result === 'object') throw new ProtocolError(result.violation);
  return result;
}

/** The coordinator's side of the lease protocol: claims, fenced progress calls, lease expiry. */
export class LeaseService {
  private readonly now: () => number;
  private readonly metrics: Metrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly observed: boolean;
  private readonly holders = new Map<string, LeaseFields>();

  constructor(
    private readonly store: JobStore & LeaseStore,
    private readonly blobs: BlobStore,
    private readonly options: LeaseOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.observed = this.metrics !== undefined || this.logger !== undefined;
  }

  private remember(fields: LeaseFields): void {
    this.holders.delete(`${fields.taskId}@${fields.epoch}`);
    this.holders.set(`${fields.taskId}@${fields.epoch}`, fields);
    if (this.holders.size > HOLDERS_KEPT) this.holders.delete(this.holders.keys().next().value as string);
  }

  /**
   * The worker that claimed `taskId` at `epoch`, if this coordinator still remembers it (from the claim or an
   * earlier call): an epoch's holder never changes, so the answer needs no database read.
   */
  rememberedHolder(taskId: string, epoch: number): string | undefined {
    return this.holders.get(`${taskId}@${epoch}`)?.workerId;
  }

  private forget(taskId: string, epoch: number): void {
    this.holders.delete(`${taskId}@${epoch}`);
  }

  /** The holder of `taskId` at `epoch`: remembered from a claim or an earlier call, else read from the store. */
  private async holder(taskId: string, epoch: number): Promise<LeaseFields> {
    const known = this.holders.get(`${taskId}@${epoch}`);
    if (known) return known;
    const task = await this.store.getTask(taskId);
    if (!task) return { jobId: '', taskId, workerId: '', epoch };
    if (task.epoch === epoch && task.workerId) {
      const fields = { jobId: task.jobId, taskId, workerId: task.workerId, epoch };
      this.remember(fields);
      return fields;
    }
    // A call for an epoch that no longer holds the lease (rare): its attempt still names the worker.
    const attempt = await this.store.getAttempt(taskId, epoch);
    return { jobId: task.jobId, taskId, workerId: attempt?.workerId ?? '', epoch };
  }

  /**
   * Runs the metrics and log side of a lease call that already happened; a failure there (the store read
   * that names the lease holder) must not change the answer the worker gets.
   */
  private async observe(call: string, taskId: string, epoch: number, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.logger?.warn(
        { call, taskId, epoch, error: (error as Error).message },
        'could not record a lease event',
      );
    }
  }

  private taskLog(fields: LeaseFields): Logger | undefined {
    return this.logger?.child(fields);
  }

  /**
   * A debug line about a task: the child logger is made only when debug lines are kept, as the most
   * frequent calls (heartbeats, checkpoints) log at that level.
   */
  private taskDebug(fields: LeaseFields, details: object, message: string): void {
    if (this.logger?.isLevelEnabled('debug')) this.taskLog(fields)?.debug(details, message);
  }

  /**
   * A lease call refused: the caller lost its lease or the job was canceled. The line names the caller:
   * `caller` (a token id, or `admin`) unless the worker that held `fields.epoch` holds it under that token;
   * without a `caller` (the embedded worker token, shared by the local workers), the epoch's holder.
   */
  private refused(call: string, fields: LeaseFields, result: LeaseResult, caller?: string): void {
    const workerId =
      caller === undefined || fields.workerId.startsWith(`${caller}:`) ? fields.workerId : caller;
    this.taskLog({ ...fields, workerId })?.info({ call, result }, `${call} refused: ${result}`);
  }

  /** Logs a call the API refused before it got here: `caller` does not hold the lease of `taskId` at `epoch`. */
  async refusedNotHolder(call: string, taskId: string, epoch: number, caller?: string): Promise<void> {
    if (!this.logger) return;
    await this.observe(call, taskId, epoch, async () => {
      const jobId = (await this.store.getTask(taskId))?.jobId ?? '';
      this.taskLog({ jobId, taskId, workerId: caller ?? 'unknown', epoch })?.info(
        { call, result: 'stale' },
        `${call} refused: not the lease holder`,
      );
    });
  }

  /**
   * Accounts for an attempt that a complete or release just ended: its GPU time by lifecycle. Reads the
   * attempt back, since another replica may have taken the claim.
   */
  private async attemptEnded(fields: LeaseFields): Promise<void> {
    this.forget(fields.taskId, fields.epoch);
    const attempt = await this.store.getAttempt(fields.taskId, fields.epoch);
    if (attempt?.endedAt != null) {
      fields.workerId = attempt.workerId;
      this.countUsage(attempt);
    }
  }

  /** An ended attempt's GPU time and, given a price table, its cost, by lifecycle. */
  private countUsage(attempt: Attempt): void {
    const { prices } = this.options;
    this.metrics?.attemptEnded({
      lifecycle: attempt.lifecycle,
      gpuSeconds: Math.max(0, (attempt.endedAt ?? this.now()) - attempt.startedAt) / 1000,
      costUsd: prices ? (attemptCost(attempt, prices, this.now()).paid ?? 0) : 0,
    });
  }

  /**
   * Hands `workerId` the next task its pool may take. `instance` is recorded with the attempt; its lifecycle
   * defaults to the pool the worker claims for. `engines`: those the worker runs.
   */
  async claim(
    workerId: string,
    pool: Pool,
    instance: InstanceInfo = {},
    engines: readonly EngineName[] = ['native'],
  ): Promise<ClaimResponse | undefined> {
    const claimed = await this.store.claim({
      workerId,
      pool,
      now: this.now(),
      leaseTtlMs: this.options.leaseTtlMs,
      onDemandOnly: this.options.onDemandOnly,
      spotInterruptionCap: this.options.spotInterruptionCap,
      instance: { ...instance, lifecycle: instance.lifecycle ?? pool },
      engines,
    });
    if (!claimed) return undefined;
    const { task, job } = claimed;
    // The store keeps the probe as JSON: admission wrote it from splitProbe, a StoredProbe.
    const probe = claimed.probe as StoredProbe;
    const fields = { jobId: job.id, taskId: task.id, workerId, epoch: task.epoch };
    this.remember(fields);
    if (this.observed) {
      this.metrics?.claimed(pool);
      this.taskLog(fields)?.info(
        { kind: task.kind, startFrame: task.nextFrame, endFrame: task.range.end, pool, ...instance },
        `claimed ${task.kind} task`,
      );
    }
    // Whom the job notifies is the coordinator's business, not the worker's.
    const { notify: _notify, ...spec } = job.spec;
    const response: ClaimResponse = {
      protocol: LEASE_PROTOCOL,
      leaseTtlMs: this.options.leaseTtlMs,
      task: {
        id: task.id,
        jobId: job.id,
        kind: task.kind,
        startFrame: task.range.start,
        endFrame: task.range.end,
        nextFrame: task.nextFrame,
        epoch: task.epoch,
      },
      spec: spec.sources.some((s) => blobKeyOf(s) !== undefined)
        ? { ...spec, sources: await Promise.all(spec.sources.map((s) => this.readLocation(s))) }
        : spec,
      probe,
      inputUrl: await this.readLocation(job.spec.input),
      framePts: claimed.framePts,
      framePtsFrom: claimed.framePtsFrom,
    };
    if (task.kind === 'merge') {
      response.framePts = await this.store.getFramePts(job.id, { start: 0, end: Number.MAX_SAFE_INTEGER });
      response.framePtsFrom = 0;
    }
    const { fps } = job.spec.encoder;
    if (fps !== undefined)
      response.outputFrames = await this.outputFrames(job.id, job.spec, fps, probe, response);
    if (task.kind === 'merge')
      response.merge = await this.mergeInput(
        job.id,
        job.spec.output,
        probe,
        response.framePts,
        response.outputFrames,
      );
    return response;
  }

  /**
   * Where the claimed frames go in a job's output at `fps`: a process task's from its next frame, a merge's
   * all. The few timestamps the claim does not carry are read from the store.
   */
  private async outputFrames(
    jobId: string,
    spec: JobSpec,
    fps: number,
    probe: StoredProbe,
    claim: ClaimResponse,
  ): Promise<OutputFrames> {
    const range = trimmedRange(spec.trim, probe.video.frameCount);
    const frames =
      claim.task.kind === 'merge' ? range : { start: claim.task.nextFrame, end: claim.task.endFrame };
    const known = new Map<number, number>();
    for (const frame of [...outputFrameRateFrames(probe, range), frames.end]) {
      const carried = claim.framePts[frame - claim.framePtsFrom];
      if (frame >= probe.video.frameCount || known.has(frame)) continue;
      known.set(frame, carried ?? (await this.store.getFramePts(jobId, { start: frame, end: frame + 1 }))[0]);
    }
    const ptsOf = (frame: number) => known.get(frame) ?? claim.framePts[frame - claim.framePtsFrom];
    const rate = jobOutputFrameRate(fps, probe, range, ptsOf);
    return outputFramesOf(rate, range.end, frames, ptsOf);
  }

  private async mergeInput(
    jobId: string,
    output: string,
    probe: StoredProbe,
    starts: readonly number[],
    outputFrames: OutputFrames | undefined,
  ): Promise<ClaimResponse['merge']> {
    const segments = await this.store.listSegments(jobId);
    const timings = segments.map((s) => ({ startFrame: s.range.start, endFrame: s.range.end }));
    const durations = outputFrames
      ? outputSegmentDurationsMicros(timings, outputFrames)
      : segmentDurationsMicros(
          timings,
          (frame) => starts[frame],
          probe.video.timeBase,
          probe.video.lastFrameDurationTicks,
          starts.length,
        );
    return {
      segments: segments.map((s, i) => ({
        key: s.key,
        durationMicros: durations[i],
        taskId: s.taskId,
        startFrame: s.range.start,
        endFrame: s.range.end,
        sha256: s.sha256,
        bytes: s.bytes,
        decoded: s.decoded,
      })),
      outputUrl: await this.writeLocation(output),
      ...(blobKeyOf(output) !== undefined && hasMultipart(this.blobs)
        ? { multipartAboveBytes: this.options.multipartThresholdBytes ?? DEFAULT_MULTIPART_BYTES }
        : {}),
    };
  }

  /** A URL a worker reads `location` from: a presigned URL for a blob, else the path's or URL's own. */
  private readLocation(location: string): Promise<string> {
    const key = blobKeyOf(location);
    return key === undefined ? Promise.resolve(locationUrl(location)) : this.blobs.readUrl(key);
  }

  private writeLocation(location: string): Promise<string> {
    const key = blobKeyOf(location);
    return key === undefined ? Promise.resolve(locationUrl(location)) : this.blobs.writeUrl(key);
  }

  /** `caller`, here and in the other fenced calls: who made the call, for the log line if it is refused. */
  async heartbeat(
    taskId: string,
    epoch: number,
    progress: HeartbeatProgress,
    caller?: string,
  ): Promise<LeaseResult> {
    const result = await this.store.heartbeat(taskId, epoch, progress, this.now(), this.options.leaseTtlMs);
    if (!this.observed) return result;
    await this.observe('heartbeat', taskId, epoch, async () => {
      const fields = await this.holder(taskId, epoch);
      if (result !== 'ok') {
        this.forget(taskId, epoch);
        this.refused('heartbeat', fields, result, caller);
        return;
      }
      // By worker name only: /metrics is served without a token, and token ids are not for everyone to see.
      this.metrics?.workerHeartbeat(workerName(fields.workerId), progress);
      this.taskDebug(fields, { framesDone: progress.framesDone, fps: progress.fps }, 'heartbeat');
    });
    return result;
  }

  /** Task `taskId` if it runs under the lease of `epoch` (and is of `kind`, given one). */
  private async leasedTask(taskId: string, epoch: number, kind?: TaskKind): Promise<Task | undefined> {
    const task = await this.store.getTask(taskId);
    if (!task || task.epoch !== epoch || task.state !== 'running') return undefined;
    return kind === undefined || task.kind === kind ? task : undefined;
  }

  /** Where the lease holder uploads the segment that starts at `startFrame`; undefined without the lease. */
  async segmentUrl(
    taskId: string,
    epoch: number,
    startFrame: number,
  ): Promise<SegmentUrlResponse | undefined> {
    const task = await this.leasedTask(taskId, epoch);
    if (!task) return undefined;
    const key = segmentKey(task.jobId, taskId, epoch, startFrame);
    return { key, url: await this.blobs.writeUrl(key) };
  }

  /**
   * Where the holder of merge task `taskId` at `epoch` reads these segments of its job; undefined without
   * the lease. A key outside the job's segments is a protocol violation.
   */
  async segmentReadUrls(
    taskId: string,
    epoch: number,
    keys: readonly string[],
  ): Promise<string[] | undefined> {
    const task = await this.leasedTask(taskId, epoch, 'merge');
    if (!task) return undefined;
    const prefix = segmentsPrefix(task.jobId);
    const foreign = keys.find(
      (key) => !key.startsWith(prefix) || !SEGMENT_NAME.test(key.slice(prefix.length)),
    );
    if (foreign !== undefined) throw new ProtocolError(`${foreign} is not a segment of job ${task.jobId}`);
    return Promise.all(keys.map((key) => this.blobs.readUrl(key)));
  }

  /** The blob key of the output that the holder of merge task `taskId` at `epoch` writes; undefined otherwise. */
  private async leasedOutputKey(taskId: string, epoch: number): Promise<string | undefined> {
    const task = await this.leasedTask(taskId, epoch, 'merge');
    if (!task) return undefined;
    const job = await this.store.getJob(task.jobId);
    return job && blobKeyOf(job.spec.output);
  }

  /**
   * Part URLs for a merged output of `size` bytes, for the merge task's lease holder only (undefined
   * otherwise). With `uploadId`, resumes that upload: fresh URLs for every part, and the parts it has.
   */
  async outputUpload(
    taskId: string,
    epoch: number,
    size: number,
    uploadId?: string,
  ): Promise<OutputUploadResponse | undefined> {
    const key = await this.leasedOutputKey(taskId, epoch);
    if (key === undefined || !hasMultipart(this.blobs)) return undefined;
    const { partSize, parts } = planMultipart(
      size,
      this.options.multipartPartBytes ?? DEFAULT_MULTIPART_BYTES,
    );
    if (uploadId !== undefined) {
      const numbers = Array.from({ length: parts }, (_, i) => i + 1);
      // An upload the store no longer knows (aborted as abandoned, or never ours) starts afresh below.
      const uploaded = await this.blobs.listParts(key, uploadId).catch(() => undefined);
      if (uploaded)
        return { uploadId, partSize, partUrls: await this.blobs.partUrls(key, uploadId, numbers), uploaded };
    }
    const upload = await this.blobs.createMultipartUpload(key, parts);
    return { uploadId: upload.uploadId, partSize, partUrls: upload.partUrls, uploaded: [] };
  }

  /** Joins the parts of the merged output; 'stale' without the merge task's lease. */
  async completeOutputUpload(
    taskId: string,
    epoch: number,
    uploadId: string,
    etags: readonly string[],
  ): Promise<LeaseResult> {
    const key = await this.leasedOutputKey(taskId, epoch);
    if (key === undefined || !hasMultipart(this.blobs)) return 'stale';
    await this.blobs.completeMultipartUpload(key, uploadId, etags);
    return 'ok';
  }

  async checkpoint(
    taskId: string,
    epoch: number,
    startFrame: number,
    endFrame: number,
    key: string,
    caller?: string,
    integrity: SegmentIntegrity = {},
  ): Promise<LeaseResult> {
    const { sha256, bytes, frames, decoded } = integrity;
    if (frames !== undefined && frames !== endFrame - startFrame) {
      throw new ProtocolError(
        `segment ${startFrame}-${endFrame} holds ${endFrame - startFrame} frames, not the ${frames} reported`,
      );
    }
    // A task's job never changes: the one remembered from the claim spares a read.
    const jobId = this.holders.get(`${taskId}@${epoch}`)?.jobId ?? (await this.store.getTask(taskId))?.jobId;
    // A worker may only record blobs it was told to write: never another task's or another job's.
    if (jobId === undefined || key !== segmentKey(jobId, taskId, epoch, startFrame)) return 'stale';
    let recorded = false;
    const result = refuseViolation(
      await this.store.checkpoint(
        taskId,
        epoch,
        { range: { start: startFrame, end: endFrame }, key, sha256, bytes, decoded },
        this.now(),
        () => {
          recorded = true;
        },
      ),
    );
    if (!this.observed) return result;
    await this.observe('checkpoint', taskId, epoch, async () => {
      const fields = await this.holder(taskId, epoch);
      if (result !== 'ok') {
        this.refused('checkpoint', fields, result, caller);
        return;
      }
      // A retried checkpoint of a segment already recorded answers ok too; its frames count once.
      if (recorded) this.metrics?.framesCheckpointed(endFrame - startFrame);
      this.taskDebug(fields, { startFrame, endFrame }, 'checkpoint recorded');
    });
    return result;
  }

  /** `output`: what a merge task wrote (its size and SHA-256), recorded with the job's end. */
  async complete(taskId: string, epoch: number, caller?: string, output?: OutputFile): Promise<LeaseResult> {
    // A retried complete answers ok again: only the first one ends the attempt.
    let completed: CompletedTask | undefined;
    const result = refuseViolation(
      await this.store.complete(taskId, epoch, this.now(), output, (task) => {
        completed = task;
      }),
    );
    if (this.observed) {
      await this.observe('complete', taskId, epoch, async () => {
        const fields = await this.holder(taskId, epoch);
        if (result !== 'ok') this.refused('complete', fields, result, caller);
        else if (completed) {
          this.forget(taskId, epoch);
          if (completed.attempt) {
            fields.workerId = completed.attempt.workerId;
            this.countUsage(completed.attempt);
          }
          this.metrics?.completed(completed.kind);
          this.taskLog(fields)?.info({ kind: completed.kind }, 'task completed');
        }
      });
    }
    if (completed?.kind === 'merge' && this.options.deleteSegmentsWhenDone) {
      // The output holds every frame now. Best effort: a failure here (or a retried completion, which
      // ends nothing) leaves blobs to the retention sweep, never a wrong answer.
      await this.deleteSegmentsAfterMerge(taskId).catch(() => {});
    }
    return result;
  }

  private async deleteSegmentsAfterMerge(taskId: string): Promise<void> {
    const task = await this.store.getTask(taskId);
    if (task) await deleteJobSegments(this.store, this.blobs, task.jobId);
  }

  /**
   * The merge task's holder found segments damaged: they (and their tasks' later segments) are dropped, their
   * blobs deleted, and their frames queued again (see LeaseStore.rejectSegments).
   */
  async rejectSegments(
    taskId: string,
    epoch: number,
    rejections: readonly SegmentRejection[],
    caller?: string,
  ): Promise<LeaseResult> {
    const { result, dropped, jobFailed } = await this.store.rejectSegments(
      taskId,
      epoch,
      rejections,
      this.now(),
      this.options.maxAttempts,
    );
    // Best effort: a blob left behind here is deleted with the job's other blobs by the retention sweep.
    if (result === 'ok') await this.blobs.delete(dropped).catch(() => {});
    if (this.observed) {
      await this.observe('reject-segments', taskId, epoch, async () => {
        const fields = await this.holder(taskId, epoch);
        if (result !== 'ok') return this.refused('reject-segments', fields, result, caller);
        await this.attemptEnded(fields);
        this.taskLog(fields)?.warn(
          { rejected: rejections, dropped: dropped.length, jobFailed },
          jobFailed
            ? "damaged segments spent a task's failure budget; the job failed"
            : 'damaged segments queued again',
        );
      });
    }
    return result;
  }

  async release(
    taskId: string,
    epoch: number,
    reason: ReleaseReason,
    error?: string,
    caller?: string,
  ): Promise<LeaseResult> {
    const result = await this.store.release(
      taskId,
      epoch,
      reason,
      error ?? null,
      this.now(),
      this.options.maxAttempts,
    );
    if (!this.observed) return result;
    await this.observe('release', taskId, epoch, async () => {
      const fields = await this.holder(taskId, epoch);
      if (result !== 'ok') {
        this.refused('release', fields, result, caller);
        return;
      }
      await this.attemptEnded(fields);
      // A task that failed its last attempt fails its job.
      const jobFailed = (await this.store.getTask(taskId))?.state === 'failed';
      this.metrics?.released(reason, jobFailed);
      const log = this.taskLog(fields);
      if (reason === 'preempted') log?.info({ reason }, 'task released: worker preempted');
      else log?.warn({ reason, error, jobFailed }, jobFailed ? 'task failed; the job failed' : 'task failed');
    });
    return result;
  }

  /** Makes tasks of vanished workers runnable again. Safe to run from several places at once. */
  expireLeases(): Promise<number> {
    if (!this.observed) return this.store.expireLeases(this.now());
    return this.store.expireLeases(this.now(), (leases) => this.leasesExpired(leases));
  }

  private leasesExpired(leases: EndedLease[]): void {
    this.metrics?.expired(leases.length);
    for (const lease of leases) {
      this.forget(lease.taskId, lease.epoch);
      void this.observe('expire', lease.taskId, lease.epoch, async () => {
        const attempt = await this.store.getAttempt(lease.taskId, lease.epoch);
        if (attempt) this.countUsage(attempt);
      });
      const { taskId, jobId, workerId, epoch } = lease;
      this.taskLog({ jobId, taskId, workerId, epoch })?.warn(
        'lease expired without a word from its worker; the task is runnable again',
      );
    }
  }

  /** A local worker process is known dead: its task need not wait for the lease to run out. */
  workerLost(workerId: string): Promise<number> {
    return this.store.endLeases('expired', this.now(), workerId);
  }
}
