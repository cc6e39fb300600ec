import { messageWithCause } from '../core/errors.js';
import type { GpuTelemetry } from '../core/types.js';
import { type LeaseClient, LeaseLostError } from './leaseClient.js';

export interface HeartbeatState {
  framesDone: number;
}

/** Heartbeats also carry progress, so they come at least this often whatever the TTL. */
const MAX_INTERVAL_MS = 2000;

/**
 * Extends a lease every third of its TTL (or more often) while work runs. Aborts `controller` when the lease is lost
 * (409) or the coordinator has been unreachable for a whole TTL (the lease is gone by then anyway).
 */
export function startHeartbeat(
  client: LeaseClient,
  task: { id: string; epoch: number },
  leaseTtlMs: number,
  state: HeartbeatState,
  controller: AbortController,
  /** The latest GPU readings to send along, if any (a sampler's; never blocks). */
  gpu?: () => GpuTelemetry | undefined,
  /** Lines about this task's heartbeats (the caller binds the task's fields). */
  log?: (message: string, fields?: Record<string, unknown>) => void,
): () => void {
  const startedAt = Date.now();
  let lastOk = Date.now();
  let inFlight = false;
  const timer = setInterval(
    async () => {
      if (inFlight) return;
      inFlight = true;
      const seconds = (Date.now() - startedAt) / 1000;
      try {
        await client.heartbeat(
          task.id,
          task.epoch,
          state.framesDone,
          seconds > 0 ? state.framesDone / seconds : 0,
          gpu?.(),
        );
        lastOk = Date.now();
      } catch (error) {
        if (error instanceof LeaseLostError) controller.abort(error);
        else if (Date.now() - lastOk > leaseTtlMs) {
          controller.abort(new LeaseLostError(task.id, 'coordinator unreachable'));
        } else log?.(`heartbeat failed, retrying: ${messageWithCause(error)}`);
      } finally {
        inFlight = false;
      }
    },
    Math.max(200, Math.min(MAX_INTERVAL_MS, Math.floor(leaseTtlMs / 3))),
  );
  return () => clearInterval(timer);
}
