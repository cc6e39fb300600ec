import { z } from 'zod';
import type { JobSpec, TaskKind } from '../core/types.js';

/** Wire format of the lease protocol, shared by the HTTP server and the worker's client. */

export const ClaimBody = z.object({
  workerId: z.string().min(1).max(200),
  pool: z.enum(['spot', 'on-demand']).default('spot'),
});

const Epoch = z.number().int().nonnegative();

export const HeartbeatBody = z.object({
  epoch: Epoch,
  framesDone: z.number().int().nonnegative(),
  fps: z.number().nonnegative().optional(),
});

export const SegmentUrlBody = z.object({ epoch: Epoch, startFrame: z.number().int().nonnegative() });

export const CheckpointBody = z.object({
  epoch: Epoch,
  startFrame: z.number().int().nonnegative(),
  endFrame: z.number().int().positive(),
  key: z.string().min(1).max(1000),
});

export const CompleteBody = z.object({ epoch: Epoch });

export const ReleaseBody = z.object({
  epoch: Epoch,
  reason: z.enum(['preempted', 'error']),
  error: z.string().max(4000).optional(),
});

export interface MergeInput {
  segments: { url: string; durationMicros: number }[];
  outputUrl: string;
}

export interface ClaimResponse {
  leaseTtlMs: number;
  task: {
    id: string;
    jobId: string;
    kind: TaskKind;
    startFrame: number;
    endFrame: number;
    nextFrame: number;
    epoch: number;
  };
  spec: JobSpec;
  /** The job's `VideoProbe`, without the per-frame timestamps. */
  probe: Record<string, unknown>;
  inputUrl: string;
  /**
   * Timestamps (stream ticks) of frames [framePtsFrom, endFrame) for a process task; they start one frame
   * before `nextFrame` where there is one, because the decoder seeks between that frame and the next.
   */
  framePts: number[];
  framePtsFrom: number;
  merge?: MergeInput;
}

export interface SegmentUrlResponse {
  key: string;
  url: string;
}

/** 409 body: the caller's lease is gone (`stale`) or its job was canceled. */
export interface LeaseConflict {
  error: 'stale' | 'canceled';
}
