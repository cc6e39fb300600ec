import { setTimeout as sleep } from 'node:timers/promises';
import { fetchFailureReason, UserError } from '../core/errors.js';
import { toStorableText } from '../core/text.js';
import type {
  EngineName,
  GpuTelemetry,
  InstanceInfo,
  Pool,
  ReleaseReason,
  SegmentRejection,
} from '../core/types.js';
import {
  type ClaimResponse,
  COORDINATOR_UNAVAILABLE,
  LEASE_PROTOCOL,
  type OutputUploadResponse,
  protocolMismatch,
  type SegmentReadUrlsResponse,
  type SegmentUrlResponse,
} from '../protocol/wire.js';

/** The coordinator no longer recognises this lease: stop work on the task, do not release it. */
export class LeaseLostError extends Error {
  constructor(
    readonly taskId: string,
    readonly reason: string,
  ) {
    super(`lease on task ${taskId} lost (${reason})`);
  }
}

/** What a checkpoint says of the segment file it uploaded. */
export interface SegmentFile {
  sha256: string;
  bytes: number;
  frames: number;
  /** The worker decoded it and found the planned frames and timestamps. */
  decoded?: true;
}

/**
 * Answers to a claim that no retry changes: a token the coordinator does not know or that is not a worker's,
 * and a claim it cannot take (a worker id it refuses, another lease protocol). Taken for an outage, they
 * kept a worker retrying for a minute and then stopping as "unreachable".
 */
const CLAIM_REFUSED = new Set([400, 401, 403]);

/**
 * The worker's side of the lease protocol over HTTP. Task calls are idempotent on the coordinator
 * (a repeated checkpoint or complete is accepted), so they are retried through a coordinator restart
 * for up to `retryMs`, well inside the lease TTL; claims are not: the claim loop polls anyway.
 */
export class LeaseClient {
  constructor(
    private readonly server: string,
    private readonly token: string,
    private readonly timeoutMs = 15_000,
    private readonly retryMs = 20_000,
  ) {}

  private async send(path: string, body: unknown, retry: boolean): Promise<Response> {
    const deadline = Date.now() + this.retryMs;
    for (let pause = 250; ; pause = Math.min(pause * 2, 4000)) {
      try {
        const response = await fetch(new URL(`/v1${path}`, this.server), {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (!retry || !COORDINATOR_UNAVAILABLE.has(response.status) || Date.now() + pause > deadline)
          return response;
      } catch (error) {
        if (!retry || Date.now() + pause > deadline) throw error;
      }
      await sleep(pause);
    }
  }

  private async post(path: string, body: unknown, taskId?: string): Promise<Response> {
    return this.answer(await this.send(path, body, taskId !== undefined), path, taskId);
  }

  /** `response` if it is a success; otherwise the error it means. */
  private async answer(response: Response, path: string, taskId?: string): Promise<Response> {
    if (response.status === 409 && taskId) {
      const conflict = (await response.json().catch(() => ({}))) as { error?: string };
      throw new LeaseLostError(taskId, conflict.error ?? 'stale');
    }
    if (!response.ok && response.status !== 204) {
      const text = await response.text().catch(() => '');
      throw new Error(`coordinator answered ${response.status} to ${path}: ${text.slice(0, 300)}`);
    }
    return response;
  }

  /** The next task for `workerId`, of a job on one of `engines` (or any job's merge); undefined: none now. */
  async claim(
    workerId: string,
    pool: Pool,
    instance?: InstanceInfo,
    engines: readonly EngineName[] = ['native'],
  ): Promise<ClaimResponse | undefined> {
    const response = await this.send(
      '/claim',
      { ...instance, protocol: LEASE_PROTOCOL, workerId, pool, engines },
      false,
    ).catch((error: unknown) => {
      throw new Error(`cannot reach the coordinator at ${this.server}: ${fetchFailureReason(error)}`);
    });
    if (CLAIM_REFUSED.has(response.status)) {
      const refusal = (await response.json().catch(() => ({}))) as { error?: string; issues?: string[] };
      const issues = refusal.issues?.length ? `: ${refusal.issues.join('; ')}` : '';
      const reason = `${refusal.error ?? 'no reason given'}${issues}`;
      throw new UserError(`coordinator at ${this.server} refused the claim (${response.status}): ${reason}`);
    }
    const answer = await this.answer(response, '/claim');
    if (answer.status === 204) return undefined;
    const claim = (await answer.json()) as ClaimResponse;
    if (claim.protocol !== LEASE_PROTOCOL) {
      // A coordinator older than the protocol check hands the task over anyway: handed back at once, as a
      // preempted worker's, it waits for no lease to run out.
      await this.release(claim.task.id, claim.task.epoch, 'preempted').catch(() => {});
      throw new UserError(protocolMismatch(LEASE_PROTOCOL, claim.protocol ?? 1));
    }
    return claim;
  }

  async heartbeat(
    taskId: string,
    epoch: number,
    framesDone: number,
    fps?: number,
    gpu?: GpuTelemetry,
  ): Promise<void> {
    await this.post(`/tasks/${taskId}/heartbeat`, { ...gpu, epoch, framesDone, fps }, taskId);
  }

  async segmentUrl(taskId: string, epoch: number, startFrame: number): Promise<SegmentUrlResponse> {
    const response = await this.post(`/tasks/${taskId}/segment-url`, { epoch, startFrame }, taskId);
    return (await response.json()) as SegmentUrlResponse;
  }

  /** Where the merge task's holder reads these segments (at most SEGMENT_READ_URLS_PAGE): `urls[i]` is `keys[i]`'s. */
  async segmentReadUrls(taskId: string, epoch: number, keys: readonly string[]): Promise<string[]> {
    const response = await this.post(`/tasks/${taskId}/segment-read-urls`, { epoch, keys }, taskId);
    return ((await response.json()) as SegmentReadUrlsResponse).urls;
  }

  /** Part URLs for the merged output (a merge task's lease); with `uploadId`, resumes that upload. */
  async outputUpload(
    taskId: string,
    epoch: number,
    size: number,
    uploadId?: string,
  ): Promise<OutputUploadResponse> {
    const response = await this.post(`/tasks/${taskId}/output-upload`, { epoch, size, uploadId }, taskId);
    return (await response.json()) as OutputUploadResponse;
  }

  async completeOutput(taskId: string, epoch: number, uploadId: string, etags: string[]): Promise<void> {
    await this.post(`/tasks/${taskId}/output-complete`, { epoch, uploadId, etags }, taskId);
  }

  async checkpoint(
    taskId: string,
    epoch: number,
    startFrame: number,
    endFrame: number,
    key: string,
    integrity?: SegmentFile,
  ): Promise<void> {
    await this.post(
      `/tasks/${taskId}/checkpoint`,
      { ...integrity, epoch, startFrame, endFrame, key },
      taskId,
    );
  }

  /** `output`: what a merge task wrote. */
  async complete(taskId: string, epoch: number, output?: { bytes: number; sha256: string }): Promise<void> {
    await this.post(`/tasks/${taskId}/complete`, { epoch, output }, taskId);
  }

  /** A merge task's holder found these segments damaged: their frames are queued again. */
  async rejectSegments(taskId: string, epoch: number, segments: SegmentRejection[]): Promise<void> {
    await this.post(`/tasks/${taskId}/reject-segments`, { epoch, segments }, taskId);
  }

  async release(taskId: string, epoch: number, reason: ReleaseReason, error?: string): Promise<void> {
    // The coordinator refuses text it cannot store: a NUL from a tool's output, or a surrogate pair cut in two.
    const text = error === undefined ? undefined : toStorableText(error.slice(0, 4000));
    await this.post(`/tasks/${taskId}/release`, { epoch, reason, error: text }, taskId);
  }
}
