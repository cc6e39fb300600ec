import { randomBytes } from 'node:crypto';
import type {
  Attempt,
  FrameRange,
  Job,
  JobSpec,
  LeaseResult,
  Pool,
  ReleaseReason,
  Segment,
  Task,
} from '../core/types.js';

export interface NewJob {
  key: string;
  spec: JobSpec;
  /** Probe result (JSON) without the per-frame timestamps, which are kept apart in `framePts`. */
  probe: Record<string, unknown>;
  framePts: number[];
  chunks: FrameRange[];
}

export interface ClaimRequest {
  workerId: string;
  pool: Pool;
  now: number;
  leaseTtlMs: number;
}

export interface ClaimedTask {
  task: Task;
  job: Job;
  probe: Record<string, unknown>;
}

export interface HeartbeatProgress {
  framesDone: number;
  fps?: number;
}

export interface CheckpointRequest {
  range: FrameRange;
  key: string;
}

/** What happened to a task's lease when its holder went away without releasing it. */
export type LostLeaseOutcome = 'expired' | 'interrupted';

/**
 * The state store. Every lease call is atomic and fenced by the task's epoch; implementations share
 * one set of semantics (and one test suite).
 */
export interface Store {
  createJob(job: NewJob, now: number): Promise<Job>;
  /** The newest job with this key that has not completed, if any. */
  findUnfinishedJob(key: string): Promise<Job | undefined>;
  getJob(id: string): Promise<Job | undefined>;
  getProbe(jobId: string): Promise<Record<string, unknown>>;
  /** Timestamps of frames [range.start, range.end) of the job's video. */
  getFramePts(jobId: string, range: FrameRange): Promise<number[]>;
  getTask(taskId: string): Promise<Task | undefined>;
  listTasks(jobId: string): Promise<Task[]>;
  listSegments(jobId: string): Promise<Segment[]>;
  listAttempts(jobId: string): Promise<Attempt[]>;
  /** Puts a failed job's failed tasks back in the queue with fresh failure budgets; segments are kept. */
  retryFailedJob(jobId: string): Promise<void>;

  claim(req: ClaimRequest): Promise<ClaimedTask | undefined>;
  heartbeat(
    taskId: string,
    epoch: number,
    progress: HeartbeatProgress,
    now: number,
    leaseTtlMs: number,
  ): Promise<LeaseResult>;
  checkpoint(taskId: string, epoch: number, segment: CheckpointRequest, now: number): Promise<LeaseResult>;
  complete(taskId: string, epoch: number, now: number): Promise<LeaseResult>;
  release(
    taskId: string,
    epoch: number,
    reason: ReleaseReason,
    error: string | null,
    now: number,
    maxAttempts: number,
  ): Promise<LeaseResult>;
  /** Makes tasks whose lease ran out runnable again; returns how many. */
  expireLeases(now: number): Promise<number>;
  /** Ends the leases of one worker (or of every worker when `workerId` is omitted) at once. */
  endLeases(outcome: LostLeaseOutcome, now: number, workerId?: string): Promise<number>;
  close(): Promise<void>;
}

/** Job ids are the same shape whichever store made them. */
export function newJobId(): string {
  return `job_${randomBytes(6).toString('hex')}`;
}
