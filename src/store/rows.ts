import { trimmedRange } from '../core/planner.js';
import type {
  Attempt,
  AttemptOutcome,
  JobSpec,
  JobState,
  NotifyEvent,
  Pool,
  RejectedSegment,
  Segment,
  Task,
  TaskKind,
  TaskState,
} from '../core/types.js';
import type {
  CompletedJob,
  DeliveryAttempt,
  Notification,
  NotificationChannel,
  NotificationState,
  OutputFile,
  StoredJob,
  TokenRecord,
  TokenRole,
} from './store.js';

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
  tenant: string | null;
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
  sha256: string | null;
  /** PostgreSQL returns a bigint as text. */
  bytes: number | string | null;
  /** SQLite stores a boolean as 0 or 1; null for segments recorded before the column. */
  decoded: boolean | number | null;
}

export interface RejectedSegmentRow {
  task_id: string;
  job_id: string;
  start_frame: number;
  end_frame: number;
  key: string;
  epoch: number;
  reason: string;
  rejected_at: number | string;
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
  cloud: string | null;
  instance_type: string | null;
  zone: string | null;
  lifecycle: string | null;
  fps: number | null;
  gpu_utilization: number | null;
  gpu_memory_used_mib: number | null;
  gpu_memory_total_mib: number | null;
}

/** The job states after which nothing runs, as an SQL list. */
export const ENDED_STATES = "('completed', 'failed', 'canceled')";

export const JOB_COLUMNS = 'id, key, state, spec, frame_count, created_at, finished_at, error, tenant';
export const TASK_COLUMNS =
  'id, job_id, kind, start_frame, end_frame, next_frame, state, epoch, worker_id, lease_expires_at, failures, preemptions, last_error';
export interface TokenRow {
  id: string;
  role: string;
  tenant: string | null;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** Every token column but the secret's hash, which is only ever compared inside the database. */
export const TOKEN_COLUMNS = 'id, role, tenant, created_at, revoked_at, last_used_at';
export const SEGMENT_COLUMNS = 'task_id, job_id, start_frame, end_frame, key, epoch, sha256, bytes, decoded';
export const REJECTED_SEGMENT_COLUMNS =
  'task_id, job_id, start_frame, end_frame, key, epoch, reason, rejected_at';
export const ATTEMPT_COLUMNS =
  'id, task_id, job_id, worker_id, epoch, started_at, ended_at, outcome, frames_done, frames_checkpointed, error, ' +
  'cloud, instance_type, zone, lifecycle, fps, gpu_utilization, gpu_memory_used_mib, gpu_memory_total_mib';

export interface CompletedJobRow extends JobRow {
  output_bytes: number | null;
  output_sha256: string | null;
}

/** The output a job row recorded, if any. */
export function outputOf(r: Pick<CompletedJobRow, 'output_bytes' | 'output_sha256'>): OutputFile | null {
  return r.output_bytes !== null && r.output_sha256 !== null
    ? { bytes: r.output_bytes, sha256: r.output_sha256 }
    : null;
}

export function toCompletedJob(r: CompletedJobRow): CompletedJob {
  return { job: toJob(r), output: outputOf(r) };
}

export function toJob(r: JobRow): StoredJob {
  const spec: JobSpec = typeof r.spec === 'string' ? JSON.parse(r.spec) : r.spec;
  // The row counts the video's frames (their timestamps are stored); the job, those it processes.
  const { start, end } = trimmedRange(spec.trim, r.frame_count);
  return {
    id: r.id,
    key: r.key,
    state: r.state as JobState,
    spec,
    frameCount: end - start,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    error: r.error,
    tenant: r.tenant,
  };
}

export function toToken(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    role: r.role as TokenRole,
    tenant: r.tenant,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
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
    sha256: r.sha256,
    bytes: r.bytes === null ? null : Number(r.bytes),
    decoded: Boolean(r.decoded),
  };
}

export function toRejectedSegment(r: RejectedSegmentRow): RejectedSegment {
  return {
    jobId: r.job_id,
    taskId: r.task_id,
    range: { start: r.start_frame, end: r.end_frame },
    key: r.key,
    epoch: r.epoch,
    reason: r.reason,
    rejectedAt: Number(r.rejected_at),
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
    cloud: r.cloud,
    instanceType: r.instance_type,
    zone: r.zone,
    lifecycle: r.lifecycle as Pool | null,
    fps: r.fps,
    gpuUtilization: r.gpu_utilization,
    gpuMemoryUsedMiB: r.gpu_memory_used_mib,
    gpuMemoryTotalMiB: r.gpu_memory_total_mib,
  };
}

export interface NotificationRow {
  id: string;
  job_id: string;
  event: string;
  channel: string;
  target: string;
  dedupe_key: string;
  payload: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  delivered_at: number | null;
  last_error: string | null;
  tenant: string | null;
}

/** Notification columns, prefixed `n.`, for a query that joins `jobs j` for the tenant. */
export const NOTIFICATION_COLUMNS =
  'n.id, n.job_id, n.event, n.channel, n.target, n.dedupe_key, n.payload, n.state, n.attempts, ' +
  'n.next_attempt_at, n.created_at, n.delivered_at, n.last_error, j.tenant';

export function toNotification(r: NotificationRow): Notification {
  return {
    id: r.id,
    jobId: r.job_id,
    event: r.event as NotifyEvent,
    channel: r.channel as NotificationChannel,
    target: r.target,
    dedupeKey: r.dedupe_key,
    payload: r.payload,
    tenant: r.tenant,
    state: r.state as NotificationState,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
    lastError: r.last_error,
  };
}

export interface DeliveryAttemptRow {
  notification_id: string;
  event: string;
  channel: string;
  target: string;
  attempt: number;
  attempted_at: number;
  duration_ms: number;
  /** A boolean from PostgreSQL, 0 or 1 from SQLite. */
  delivered: boolean | number;
  status_code: number | null;
  error: string | null;
}

/** Attempt columns, `a.` joined with their notification `n.`. */
export const DELIVERY_ATTEMPT_COLUMNS =
  'a.notification_id, n.event, n.channel, n.target, a.attempt, a.attempted_at, a.duration_ms, a.delivered, ' +
  'a.status_code, a.error';

export function toDeliveryAttempt(r: DeliveryAttemptRow): DeliveryAttempt {
  return {
    notificationId: r.notification_id,
    event: r.event as NotifyEvent,
    channel: r.channel as NotificationChannel,
    target: r.target,
    attempt: r.attempt,
    at: r.attempted_at,
    durationMs: r.duration_ms,
    delivered: Boolean(r.delivered),
    statusCode: r.status_code,
    error: r.error,
  };
}
