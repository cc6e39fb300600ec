/** Domain types shared by the coordinator, the store and the workers. No I/O here. */

export type JobState = 'running' | 'merging' | 'completed' | 'failed' | 'canceled';
export type TaskState = 'pending' | 'running' | 'done' | 'failed' | 'canceled';
export type TaskKind = 'process' | 'merge';
export type ReleaseReason = 'preempted' | 'error';
export type AttemptOutcome = 'running' | 'completed' | 'preempted' | 'error' | 'expired' | 'interrupted';
export type Pool = 'spot' | 'on-demand';
/** Work a coordinator may keep off spot workers: merge tasks, and the tasks of urgent jobs. */
export type OnDemandOnly = 'merge' | 'urgent';
export const ON_DEMAND_ONLY: readonly OnDemandOnly[] = ['merge', 'urgent'];

/** Instance facts (cloud, machine type, zone) as a claim may carry them: short, printable, no spaces. */
export const INSTANCE_FACT = /^[\x21-\x7e]{1,100}$/;

/** GPU memory in MiB as a heartbeat may report it: up to 16 TiB, more than any machine a worker runs on. */
export const MAX_GPU_MEMORY_MIB = 16 * 1024 * 1024;

/** The machine an attempt ran on, as its worker reported it at claim time. Unknown parts are absent. */
export interface InstanceInfo {
  cloud?: string;
  instanceType?: string;
  zone?: string;
  lifecycle?: Pool;
}

/** GPU readings a worker's heartbeat carries (nvidia-smi), summed or averaged over the machine's GPUs. */
export interface GpuTelemetry {
  /** Mean utilisation of the GPUs, 0–100 percent. */
  gpuUtilization?: number;
  gpuMemoryUsedMiB?: number;
  gpuMemoryTotalMiB?: number;
}

/** Half-open range of frame indices: [start, end). */
export interface FrameRange {
  start: number;
  end: number;
}

/** FaceFusion's `--trim-frame-start`/`--trim-frame-end` as given: whole frame numbers, either may be absent. */
export interface TrimFrames {
  start?: number;
  end?: number;
}

export interface EncoderOptions {
  encoder: string;
  quality: number;
  preset: string;
  /**
   * FaceFusion's `--output-video-scale`: the output is the target's size times this (0.25 to 8, steps of 0.25),
   * whatever size the processors make; absent: 1.
   */
  scale?: number;
  /**
   * FaceFusion's `--output-video-fps` (1 to 60): frames are dropped or repeated to this rate (see
   * outputFrameRate), the output starting at 0; absent: the output keeps the source's frames and timestamps.
   */
  fps?: number;
  /** FaceFusion's output audio options; absent: the source's audio is copied (or, where the container needs it, re-encoded). */
  audio?: AudioOptions;
}

/** `--output-audio-encoder`, `--output-audio-quality` (0–100), `--output-audio-volume` (percent, 0–100). */
export interface AudioOptions {
  encoder?: string;
  quality?: number;
  volume?: number;
}

/**
 * The options of a job's processors, by group (`detector`, `swapper`, ...): opaque here. Their shapes,
 * defaults and validation belong to the processors' descriptors (vision/processors), which type them
 * (`FaceOptions`, `faceOptionsOf`) where they are read.
 */
export type ProcessorSettings = Readonly<Record<string, unknown>>;

/** What runs a job's frames: spotfuse's own processors, or the user's FaceFusion. */
export const ENGINE_NAMES = ['native', 'facefusion'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/**
 * A job run by the user's own FaceFusion instead of the native processors (the `facefusion` engine): its
 * `processors` are FaceFusion's, and these are FaceFusion's own options, passed to every `headless-run`.
 */
export interface EngineSpec {
  name: Exclude<EngineName, 'native'>;
  /** FaceFusion's options as its command line takes them (none of those spotfuse sets itself). */
  args: string[];
  /** The text of a `facefusion.ini` to run with (`--config-path`), when one was given. */
  config?: string;
}

/** What a user asked for; everything a worker needs to reproduce the job. */
export interface JobSpec {
  input: string;
  sources: string[];
  output: string;
  processors: string[];
  /** Options of the face processors (FaceFusion's flags and defaults), checked at submit. */
  face: ProcessorSettings;
  encoder: EncoderOptions;
  checkpointFrames: number;
  /** Only these frames of the input, the output starting at the first of them; absent: every frame. */
  trim?: TrimFrames;
  /** Absent: the native engine (spotfuse's processors, in-process). */
  engine?: EngineSpec;
  /** Who hears about the job, and of what; absent: nobody. */
  notify?: NotifySpec;
}

/** Events a job's notifications may carry; its end (`job.completed`, `job.failed`, `job.cancelled`) is always sent. */
export const NOTIFY_EVENTS = [
  'job.completed',
  'job.failed',
  'job.cancelled',
  'job.progress',
  'task.preempted',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
/** The events a job opts into; the job's end is always told. */
export type OptionalNotifyEvent = Extract<NotifyEvent, 'job.progress' | 'task.preempted'>;

export interface NotifySpec {
  webhooks: string[];
  emails: string[];
  /** Optional events on top of a job's end. */
  events: OptionalNotifyEvent[];
}

export interface Job {
  id: string;
  key: string;
  state: JobState;
  spec: JobSpec;
  /** The frames the job processes: the video's, or those of its trim range. */
  frameCount: number;
  createdAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface Task {
  id: string;
  jobId: string;
  kind: TaskKind;
  range: FrameRange;
  /** First frame not yet covered by a checkpointed segment; segments form a contiguous chain by construction. */
  nextFrame: number;
  state: TaskState;
  epoch: number;
  workerId: string | null;
  leaseExpiresAt: number | null;
  failures: number;
  preemptions: number;
  lastError: string | null;
}

export interface Segment {
  jobId: string;
  taskId: string;
  range: FrameRange;
  key: string;
  epoch: number;
  /** SHA-256 (hex) and size of the blob as its worker uploaded it; null for segments recorded without them. */
  sha256: string | null;
  bytes: number | null;
  /**
   * Its worker decoded every frame before the upload and found the planned frames and timestamps; false for
   * segments recorded without saying so (older workers, other engines).
   */
  decoded: boolean;
}

/** A segment the merge found damaged, and why: its frames, and its task's after it, are queued again. */
export interface SegmentRejection {
  taskId: string;
  startFrame: number;
  reason: string;
}

/** A segment a merge found damaged: dropped from the job, its frames queued again. */
export interface RejectedSegment {
  jobId: string;
  taskId: string;
  range: FrameRange;
  key: string;
  epoch: number;
  reason: string;
  rejectedAt: number;
}

export interface Attempt {
  id: number;
  taskId: string;
  jobId: string;
  workerId: string;
  epoch: number;
  startedAt: number;
  endedAt: number | null;
  outcome: AttemptOutcome;
  framesDone: number;
  framesCheckpointed: number;
  error: string | null;
  /** What the worker reported when it claimed the task (null: not reported). */
  cloud: string | null;
  instanceType: string | null;
  zone: string | null;
  lifecycle: Pool | null;
  /** The latest heartbeat's readings (null: none reported). */
  fps: number | null;
  gpuUtilization: number | null;
  gpuMemoryUsedMiB: number | null;
  gpuMemoryTotalMiB: number | null;
}

/** Result of a fenced lease call: `stale` means the caller's epoch is no longer the task's. */
export type LeaseResult = 'ok' | 'stale' | 'canceled';
