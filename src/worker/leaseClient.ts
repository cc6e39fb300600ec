import type { ClaimResponse, SegmentUrlResponse } from '../api/protocol.js';
import type { Pool, ReleaseReason } from '../core/types.js';

/** The coordinator no longer recognises this lease: stop work on the task, do not release it. */
export class LeaseLostError extends Error {
  constructor(
    readonly taskId: string,
    readonly reason: string,
  ) {
    super(`lease on task ${taskId} lost (${reason})`);
  }
}

/** The worker's side of the lease protocol over HTTP. */
export class LeaseClient {
  constructor(
    private readonly server: string,
    private readonly token: string,
    private readonly timeoutMs = 15_000,
  ) {}

  private async post(path: string, body: unknown, taskId?: string): Promise<Response> {
    const response = await fetch(new URL(`/v1${path}`, this.server), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
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

  async claim(workerId: string, pool: Pool): Promise<ClaimResponse | undefined> {
    const response = await this.post('/claim', { workerId, pool });
    return response.status === 204 ? undefined : ((await response.json()) as ClaimResponse);
  }

  async heartbeat(taskId: string, epoch: number, framesDone: number, fps?: number): Promise<void> {
    await this.post(`/tasks/${taskId}/heartbeat`, { epoch, framesDone, fps }, taskId);
  }

  async segmentUrl(taskId: string, epoch: number, startFrame: number): Promise<SegmentUrlResponse> {
    const response = await this.post(`/tasks/${taskId}/segment-url`, { epoch, startFrame }, taskId);
    return (await response.json()) as SegmentUrlResponse;
  }

  async checkpoint(
    taskId: string,
    epoch: number,
    startFrame: number,
    endFrame: number,
    key: string,
  ): Promise<void> {
    await this.post(`/tasks/${taskId}/checkpoint`, { epoch, startFrame, endFrame, key }, taskId);
  }

  async complete(taskId: string, epoch: number): Promise<void> {
    await this.post(`/tasks/${taskId}/complete`, { epoch }, taskId);
  }

  async release(taskId: string, epoch: number, reason: ReleaseReason, error?: string): Promise<void> {
    await this.post(`/tasks/${taskId}/release`, { epoch, reason, error: error?.slice(0, 4000) }, taskId);
  }
}
