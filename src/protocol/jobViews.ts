import { z } from 'zod';
import type { Attempt, FrameRange, JobState, Pool, TaskKind, TaskState } from '../core/types.js';
import type { FaceSelectorMode, FaceSelectorOrder } from '../vision/analysisOptions.js';

/**
 * Response shapes of the tenant job API that the dashboard (src/web) reads. The coordinator's queries
 * are typed by them, so the page and the API are checked against one definition.
 */

/** `GET /v1/jobs?progress=true`: each entry also carries its progress and cost. */
export const JobListQuery = z.object({
  progress: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});

/** How far a job is and what it has cost so far. */
export interface JobProgress {
  framesDone: number;
  /** Frames per second of the job's running attempts together (as their latest heartbeats report). */
  fps: number;
  /** Seconds left at `fps`; null when nothing runs or the job has ended. */
  etaSeconds: number | null;
  interruptions: number;
  /** Dollars paid, the same GPU time at on-demand prices, and the difference. */
  paid: number;
  onDemand: number;
  saving: number;
  savingPercent: number | null;
}

/** A job in a listing; the admin also sees whose it is. */
export interface JobListEntry {
  id: string;
  state: JobState;
  createdAt: number;
  finishedAt: number | null;
  error: string | null;
  frames: number;
  processors: string[];
  tenant?: string | null;
  progress?: JobProgress;
}

export interface JobListResponse {
  jobs: JobListEntry[];
}

/** One run of a task by one worker. */
export type TimelineAttempt = Pick<
  Attempt,
  | 'epoch'
  | 'startedAt'
  | 'endedAt'
  | 'outcome'
  | 'framesDone'
  | 'framesCheckpointed'
  | 'error'
  | 'cloud'
  | 'instanceType'
  | 'zone'
  | 'lifecycle'
  | 'fps'
> & {
  /** The worker's name (without the id of the token it holds its lease under). */
  worker: string;
};

export interface TimelineTask {
  id: string;
  kind: TaskKind;
  range: FrameRange;
  state: TaskState;
  attempts: TimelineAttempt[];
  /** Checkpointed segments: frames [start, end) written by the attempt of `epoch`. */
  checkpoints: { range: FrameRange; epoch: number }[];
}

/** `GET /v1/jobs/:id/timeline`: the job's tasks and their attempts, for a time axis ending at `now`. */
export interface JobTimeline {
  jobId: string;
  state: JobState;
  createdAt: number;
  finishedAt: number | null;
  now: number;
  tasks: TimelineTask[];
}

/** Cost totals of a job report, as the page shows them. */
export interface JobCostView {
  currency: 'USD';
  paid: number;
  onDemand: number;
  saving: number;
  savingPercent: number | null;
  gpuSeconds: number;
  wastedGpuSeconds: number;
}

/** `GET /v1/jobs/:id`: the job's report (the page reads these fields; the API sends more). */
export interface JobStatusView {
  jobId: string;
  state: JobState;
  input: string;
  output: string;
  processors: string[];
  frames: number;
  framesDone: number;
  tasks: number;
  tasksDone: number;
  attempts: number;
  interruptions: number;
  failures: number;
  framesRedone: number;
  wallSeconds: number;
  runSeconds: number;
  workerSeconds: number;
  error: string | null;
  createdAt: number;
  finishedAt: number | null;
  cost: JobCostView;
}

/** A webhook or email of a job, as its owner may see it. */
export interface DeliveryView {
  id: string;
  event: string;
  channel: string;
  target: string;
  state: string;
  attempts: number;
  deliveredAt: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
}

/** `GET /v1/jobs/:id/deliveries`. */
export interface DeliveriesView {
  notifications: DeliveryView[];
  attempts: {
    notificationId: string;
    attempt: number;
    at: number;
    delivered: boolean;
    statusCode: number | null;
    error: string | null;
  }[];
}

/** `GET /v1/jobs/:id/download`. */
export interface DownloadView {
  url: string;
}

/** `{ error }` of every refused call; `issues` on a request that failed validation. */
export interface ApiErrorBody {
  error: string;
  issues?: string[];
  requestId?: string;
}

/** A worker holding a lease now (admin): what it runs and on what machine. */
export interface WorkerView {
  worker: string;
  jobId: string;
  taskId: string;
  taskKind: TaskKind;
  range: FrameRange;
  epoch: number;
  startedAt: number;
  framesDone: number;
  cloud: string | null;
  instanceType: string | null;
  zone: string | null;
  lifecycle: Pool | null;
  fps: number | null;
  gpuUtilization: number | null;
  /** The lease's end: each heartbeat pushes it one lease TTL ahead. */
  leaseExpiresAt: number | null;
}

/** `GET /v1/workers` (admin). */
export interface FleetView {
  now: number;
  workers: WorkerView[];
  /** Claimable tasks now. */
  queued: number;
  /** Jobs not yet ended. */
  activeJobs: number;
}

/** One UTC day of GPU work, priced. */
export interface SavingsDay {
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  paid: number;
  onDemand: number;
  gpuSeconds: number;
  wastedGpuSeconds: number;
  interruptions: number;
}

/** `GET /v1/savings` (admin): the attempts of the last `days` days, by day and interruptions by hour. */
export interface SavingsView {
  currency: 'USD';
  days: SavingsDay[];
  /** Interruptions in each hour of those days until now, `YYYY-MM-DDTHH` (UTC), oldest first. */
  interruptionsByHour: { hour: string; count: number }[];
}

export const SavingsQuery = z.object({
  days: z.coerce.number().int().min(1).max(366).default(14),
});

/** A face found in a previewed frame, in frame pixels (the frame as shown, upright). */
export interface PreviewFace {
  /** Corners [x1, y1, x2, y2]; may reach past the frame's edge. */
  box: [number, number, number, number];
  score: number;
  /** Left eye, right eye, nose tip, left and right mouth corner. */
  landmarks: [number, number][];
  /** Whether the face selector picks it: the processors change the picked faces only. */
  picked: boolean;
}

/** A frame as a PNG image, `data:image/png;base64,…`, with its size. */
export interface PreviewImage {
  width: number;
  height: number;
  png: string;
}

/** `POST /v1/previews`: the frame before and after the chain, and the faces the chain sees in it. */
export interface PreviewView {
  frame: number;
  /** Frames of the video: frames 0 to frames - 1 can be previewed. */
  frames: number;
  /** Every face found, best first; null when no processor of the chain looks for faces. */
  faces: PreviewFace[] | null;
  /** How faces are picked (`face.selector`): null as `faces` is. */
  selector: { mode: FaceSelectorMode; order: FaceSelectorOrder } | null;
  original: PreviewImage;
  processed: PreviewImage;
  /** How long the server took (decoding, loading models, analysing, processing, encoding). */
  seconds: number;
}
