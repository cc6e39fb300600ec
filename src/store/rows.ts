import type {
  Attempt,
  AttemptOutcome,
  Job,
  JobSpec,
  JobState,
  Segment,
  Task,
  TaskKind,
  TaskState,
} from '../core/types.js';

/** Rows as both stores read them, and their mapping to domain objects: one schema, two dialects. */

export interface JobRow {
  id: string;
  key: string;
  state: string;
  /** JSON text from SQLite; already parsed by `pg` for a `json` column. */
  spec: string | JobSpec;
  frame_count: number;
  created_at: number;
  finished_at: number | null;
  error: string | null;
}

export interface TaskRow {
  id: string;
  job_id: string;
  kind: string;
  start_frame: number;
  end_frame: number;
  next_frame: number;
  state: string;
  epoch: number;
  worker_id: string | null;
  lease_expires_at: number | null;
  failures: number;
  preemptions: number;
  last_error: string | null;
}

export interface SegmentRow {
  task_id: string;
  job_id: string;
  start_frame: number;
  end_frame: number;
  key: string;
  epoch: number;
}

export interface AttemptRow {
  id: number;
  task_id: string;
  job_id: string;
  worker_id: string;
  epoch: number;
  started_at: number;
  ended_at: number | null;
  outcome: string;
  frames_done: number;
  frames_checkpointed: number;
  error: string | null;
}

export const JOB_COLUMNS = 'id, key, state, spec, frame_count, created_at, finished_at, error';
export const TASK_COLUMNS =
  'id, job_id, kind, start_frame, end_frame, next_frame, state, epoch, worker_id, lease_expires_at, failures, preemptions, last_error';
export const SEGMENT_COLUMNS = 'task_id, job_id, start_frame, end_frame, key, epoch';
export const ATTEMPT_COLUMNS =
  'id, task_id, job_id, worker_id, epoch, started_at, ended_at, outcome, frames_done, frames_checkpointed, error';

export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    key: r.key,
    state: r.state as JobState,
    spec: typeof r.spec === 'string' ? JSON.parse(r.spec) : r.spec,
    frameCount: r.frame_count,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    error: r.error,
  };
}

export function toTask(r: TaskRow): Task {
  return {
    id: r.id,
    jobId: r.job_id,
    kind: r.kind as TaskKind,
    range: { start: r.start_frame, end: r.end_frame },
    nextFrame: r.next_frame,
    state: r.state as TaskState,
    epoch: r.epoch,
    workerId: r.worker_id,
    leaseExpiresAt: r.lease_expires_at,
    failures: r.failures,
    preemptions: r.preemptions,
    lastError: r.last_error,
  };
}

export function toSegment(r: SegmentRow): Segment {
  return {
    jobId: r.job_id,
    taskId: r.task_id,
    range: { start: r.start_frame, end: r.end_frame },
    key: r.key,
    epoch: r.epoch,
  };
}

export function toAttempt(r: AttemptRow): Attempt {
  return {
    id: r.id,
    taskId: r.task_id,
    jobId: r.job_id,
    workerId: r.worker_id,
    epoch: r.epoch,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    outcome: r.outcome as AttemptOutcome,
    framesDone: r.frames_done,
    framesCheckpointed: r.frames_checkpointed,
    error: r.error,
  };
}
