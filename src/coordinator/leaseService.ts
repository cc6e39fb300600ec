import type { ClaimResponse, OutputUploadResponse, SegmentUrlResponse } from '../api/protocol.js';
import { type BlobStore, hasMultipart } from '../blob/blobStore.js';
import { locationUrl } from '../blob/location.js';
import { planMultipart } from '../blob/s3BlobStore.js';
import { segmentDurationsMicros, type TimeBase } from '../core/time.js';
import type { InstanceInfo, LeaseResult, OnDemandOnly, Pool, ReleaseReason } from '../core/types.js';
import type { HeartbeatProgress, Store } from '../store/store.js';
import { deleteJobSegments } from './blobSweeps.js';

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
}

const DEFAULT_MULTIPART_BYTES = 64 * 1024 * 1024;

/** A job's input, sources and output name blobs of the coordinator's blob store as `blob:KEY`. */
const BLOB_REF = 'blob:';

export function blobRef(key: string): string {
  return `${BLOB_REF}${key}`;
}

/** The blob key of a `blob:KEY` location; undefined for a path or URL. */
export function blobKeyOf(location: string): string | undefined {
  return location.startsWith(BLOB_REF) ? location.slice(BLOB_REF.length) : undefined;
}

interface ProbeTiming {
  video: { timeBase: TimeBase; lastFrameDurationTicks: number };
}

export function segmentKey(jobId: string, taskId: string, epoch: number, startFrame: number): string {
  return `jobs/${jobId}/segments/${taskId}-e${epoch}-f${String(startFrame).padStart(8, '0')}.mp4`;
}

/** The coordinator's side of the lease protocol: claims, fenced progress calls, lease expiry. */
export class LeaseService {
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly options: LeaseOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Hands `workerId` the next task its pool may take. `instance` is recorded with the attempt; its lifecycle
   * defaults to the pool the worker claims for.
   */
  async claim(workerId: string, pool: Pool, instance: InstanceInfo = {}): Promise<ClaimResponse | undefined> {
    const claimed = await this.store.claim({
      workerId,
      pool,
      now: this.now(),
      leaseTtlMs: this.options.leaseTtlMs,
      onDemandOnly: this.options.onDemandOnly,
      spotInterruptionCap: this.options.spotInterruptionCap,
      instance: { ...instance, lifecycle: instance.lifecycle ?? pool },
    });
    if (!claimed) return undefined;
    const { task, job, probe } = claimed;
    const response: ClaimResponse = {
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
      spec: job.spec.sources.some((s) => blobKeyOf(s) !== undefined)
        ? { ...job.spec, sources: await Promise.all(job.spec.sources.map((s) => this.readLocation(s))) }
        : job.spec,
      probe,
      inputUrl: await this.readLocation(job.spec.input),
      framePts: [],
      framePtsFrom: 0,
    };
    if (task.kind === 'process') {
      response.framePtsFrom = Math.max(0, task.nextFrame - 1);
      response.framePts = await this.store.getFramePts(job.id, {
        start: response.framePtsFrom,
        end: task.range.end,
      });
    } else {
      response.merge = await this.mergeInput(job.id, job.spec.output, probe as unknown as ProbeTiming);
    }
    return response;
  }

  private async mergeInput(
    jobId: string,
    output: string,
    probe: ProbeTiming,
  ): Promise<ClaimResponse['merge']> {
    const segments = await this.store.listSegments(jobId);
    const starts = await this.store.getFramePts(jobId, { start: 0, end: Number.MAX_SAFE_INTEGER });
    const durations = segmentDurationsMicros(
      segments.map((s) => ({ startFrame: s.range.start, endFrame: s.range.end })),
      (frame) => starts[frame],
      probe.video.timeBase,
      probe.video.lastFrameDurationTicks,
    );
    return {
      segments: await Promise.all(
        segments.map(async (s, i) => ({
          url: await this.blobs.readUrl(s.key),
          durationMicros: durations[i],
        })),
      ),
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

  heartbeat(taskId: string, epoch: number, progress: HeartbeatProgress): Promise<LeaseResult> {
    return this.store.heartbeat(taskId, epoch, progress, this.now(), this.options.leaseTtlMs);
  }

  /** Where the lease holder uploads the segment that starts at `startFrame`; undefined without the lease. */
  async segmentUrl(
    taskId: string,
    epoch: number,
    startFrame: number,
  ): Promise<SegmentUrlResponse | undefined> {
    const task = await this.store.getTask(taskId);
    if (!task || task.epoch !== epoch || task.state !== 'running') return undefined;
    const key = segmentKey(task.jobId, taskId, epoch, startFrame);
    return { key, url: await this.blobs.writeUrl(key) };
  }

  /** The blob key of the output that the holder of merge task `taskId` at `epoch` writes; undefined otherwise. */
  private async leasedOutputKey(taskId: string, epoch: number): Promise<string | undefined> {
    const task = await this.store.getTask(taskId);
    if (!task || task.epoch !== epoch || task.state !== 'running' || task.kind !== 'merge') return undefined;
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
  ): Promise<LeaseResult> {
    const task = await this.store.getTask(taskId);
    // A worker may only record blobs it was told to write: never another task's or another job's.
    if (!task || key !== segmentKey(task.jobId, taskId, epoch, startFrame)) return 'stale';
    return this.store.checkpoint(
      taskId,
      epoch,
      { range: { start: startFrame, end: endFrame }, key },
      this.now(),
    );
  }

  async complete(taskId: string, epoch: number): Promise<LeaseResult> {
    const result = await this.store.complete(taskId, epoch, this.now());
    if (result === 'ok' && this.options.deleteSegmentsWhenDone) {
      // The output holds every frame now. Best effort: a failure here leaves blobs, never a wrong answer.
      await this.deleteSegmentsAfterMerge(taskId).catch(() => {});
    }
    return result;
  }

  private async deleteSegmentsAfterMerge(taskId: string): Promise<void> {
    const task = await this.store.getTask(taskId);
    if (task?.kind !== 'merge') return;
    await deleteJobSegments(this.store, this.blobs, task.jobId);
  }

  release(taskId: string, epoch: number, reason: ReleaseReason, error?: string): Promise<LeaseResult> {
    return this.store.release(taskId, epoch, reason, error ?? null, this.now(), this.options.maxAttempts);
  }

  /** Makes tasks of vanished workers runnable again. Safe to run from several places at once. */
  expireLeases(): Promise<number> {
    return this.store.expireLeases(this.now());
  }

  /** A local worker process is known dead: its task need not wait for the lease to run out. */
  workerLost(workerId: string): Promise<number> {
    return this.store.endLeases('expired', this.now(), workerId);
  }
}
