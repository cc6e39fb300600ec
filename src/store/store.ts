import { randomBytes } from 'node:crypto';
import type { ProtocolViolation } from '../core/lease.js';
import {
  type Attempt,
  ENGINE_NAMES,
  type EngineName,
  type FrameRange,
  type GpuTelemetry,
  type InstanceInfo,
  type Job,
  type JobSpec,
  type LeaseResult,
  type NotifyEvent,
  type NotifySpec,
  type OnDemandOnly,
  type Pool,
  type RejectedSegment,
  type ReleaseReason,
  type Segment,
  type SegmentRejection,
  type Task,
  type TaskKind,
} from '../core/types.js';

export interface NewJob {
  key: string;
  spec: JobSpec;
  /** Probe result (JSON) without the per-frame timestamps, which are kept apart in `framePts`. */
  probe: Record<string, unknown>;
  framePts: number[];
  chunks: FrameRange[];
  /** The tenant that submitted the job; embedded jobs (and jobs an admin submits for nobody) have none. */
  tenant?: string | null;
}

/** A job as the store keeps it: the domain job plus its owner. */
export interface StoredJob extends Job {
  tenant: string | null;
}

export interface JobFilter {
  /** Only this tenant's jobs; all jobs when omitted. */
  tenant?: string;
  /** At most this many, newest first (default 100). */
  limit?: number;
}

/** The file a completed job wrote, as it was when the job completed. */
export interface OutputFile {
  bytes: number;
  sha256: string;
}

/** A completed job and the output it recorded (null: none recorded). */
export interface CompletedJob {
  job: StoredJob;
  output: OutputFile | null;
}

/** Roles a stored token can carry; the admin token lives in configuration, never in the store. */
export type TokenRole = 'worker' | 'tenant';

export interface NewToken {
  role: TokenRole;
  /** Required for `tenant` tokens, absent (null) for `worker` tokens. */
  tenant?: string | null;
  /** Tenant tokens: the tenant's fair share of the workers from now on (default 1; claimOrderSql.ts). */
  share?: number;
  /** Tenant tokens: most tasks the tenant may have under a lease at once, from now on (default: no cap). */
  maxRunning?: number;
}

/** A token as the store keeps it. Neither the secret nor its hash ever leaves the store. */
export interface TokenRecord {
  id: string;
  role: TokenRole;
  tenant: string | null;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface ClaimRequest {
  workerId: string;
  pool: Pool;
  now: number;
  leaseTtlMs: number;
  /**
   * Pool policy: work a `spot` worker may not take (merge tasks, urgent jobs' tasks); on-demand workers
   * take anything. Empty or absent: every worker takes anything.
   */
  onDemandOnly?: readonly OnDemandOnly[];
  /**
   * Pool policy: a task interrupted this many times is kept for on-demand workers, so that work a spot
   * market keeps reclaiming still finishes. Absent: no cap.
   */
  spotInterruptionCap?: number;
  /** The worker's machine, recorded with the attempt. */
  instance?: InstanceInfo;
  /**
   * The engines the worker runs: it gets no process task of a job on another one (a merge is ffmpeg's,
   * which every worker runs). Absent: the native engine alone.
   */
  engines?: readonly EngineName[];
}

export interface ClaimedTask {
  task: Task;
  job: StoredJob;
  probe: Record<string, unknown>;
  /**
   * A process task's frame timestamps, of frames [framePtsFrom, its end): from one frame before its
   * `nextFrame` where there is one (claimPtsFrom). A merge task gets none (framePtsFrom 0).
   */
  framePts: number[];
  framePtsFrom: number;
}

/** The first frame whose timestamp a process task's claim carries: the decoder seeks from the frame before. */
export function claimPtsFrom(nextFrame: number): number {
  return Math.max(0, nextFrame - 1);
}

/** A task a complete call ended (a retried complete ends nothing): its kind and the attempt it ended. */
export interface CompletedTask {
  kind: TaskKind;
  attempt: Attempt | undefined;
}

export interface HeartbeatProgress extends GpuTelemetry {
  framesDone: number;
  fps?: number;
}

export interface CheckpointRequest {
  range: FrameRange;
  key: string;
  /** The uploaded blob's SHA-256 (hex) and size, which the merge checks it against. */
  sha256?: string;
  bytes?: number;
  /** Its worker decoded it before the upload (see Segment.decoded). */
  decoded?: boolean;
}

/** What a merge's rejection did: the lease verdict, the blob keys dropped, and whether the job failed. */
export interface RejectionResult {
  result: LeaseResult;
  /** Keys of the segments dropped (the rejected ones and the ones after them in their tasks). */
  dropped: string[];
  jobFailed: boolean;
}

/** What happened to a task's lease when its holder went away without releasing it. */
export type LostLeaseOutcome = 'expired' | 'interrupted';

/** An attempt whose lease a sweep ended: who held it, and for how long. */
export interface EndedLease {
  taskId: string;
  jobId: string;
  epoch: number;
  workerId: string;
  /** The lifecycle its worker reported at claim time (null: none). */
  lifecycle: Pool | null;
  startedAt: number;
  endedAt: number;
}

/** The queue and the leases at one moment, for monitoring. */
export interface LeaseStats {
  /** Claimable tasks (of jobs still running or merging), by kind and their job's priority. */
  pending: { kind: TaskKind; priority: 'urgent' | 'normal'; count: number }[];
  /** Tasks under a lease, by the lifecycle their holder reported (null: none). */
  running: { lifecycle: Pool | null; count: number }[];
  /** Jobs not yet ended, by state. */
  jobs: { state: 'running' | 'merging'; count: number }[];
}

/** What a tenant has under way: jobs not yet ended, and their tasks not yet done (waiting or leased). */
export interface TenantLoad {
  activeJobs: number;
  queuedTasks: number;
}

/** Jobs and what they are made of: submission, lookups, reports, cancel and retry, segment retention. */
export interface JobStore {
  createJob(job: NewJob, now: number): Promise<StoredJob>;
  /** The newest job with this key that has not completed, if any. */
  findUnfinishedJob(key: string): Promise<StoredJob | undefined>;
  /** The newest completed job with this key, if any. */
  findCompletedJob(key: string): Promise<CompletedJob | undefined>;
  /** The output a completed job recorded (null: none recorded, or not completed). */
  getOutput(jobId: string): Promise<OutputFile | null>;
  /** Notes the output file a completed job wrote; false when the job has not completed. */
  recordOutput(jobId: string, output: OutputFile): Promise<boolean>;
  getJob(id: string): Promise<StoredJob | undefined>;
  /** Jobs newest first, optionally of one tenant only. */
  listJobs(filter?: JobFilter): Promise<StoredJob[]>;
  /** Jobs whose tasks are under way (state `running`), oldest first: the on-demand fallback's work list. */
  listRunningJobs(): Promise<StoredJob[]>;
  getProbe(jobId: string): Promise<Record<string, unknown>>;
  /** Timestamps of frames [range.start, range.end) of the job's video. */
  getFramePts(jobId: string, range: FrameRange): Promise<number[]>;
  getTask(taskId: string): Promise<Task | undefined>;
  listTasks(jobId: string): Promise<Task[]>;
  listSegments(jobId: string): Promise<Segment[]>;
  /** Segments merges found damaged, oldest rejection first. */
  listRejectedSegments(jobId: string): Promise<RejectedSegment[]>;
  listAttempts(jobId: string): Promise<Attempt[]>;
  /** The attempt that held `taskId`'s lease at `epoch`, if any. */
  getAttempt(taskId: string, epoch: number): Promise<Attempt | undefined>;
  /**
   * Jobs that ended (completed, failed or canceled) at or before `endedBefore` and have segments whose
   * blobs are not yet deleted, longest ended first, at most `limit`: the segment sweep's work list.
   */
  listEndedJobsWithSegments(endedBefore: number, limit: number): Promise<string[]>;
  /**
   * Notes that an ended job's segment blobs are deleted (its segment records stay, for reports); false when
   * the job has not ended or was already noted.
   */
  markSegmentsDeleted(jobId: string, now: number): Promise<boolean>;
  /** Puts a failed job's failed tasks back in the queue with fresh failure budgets; segments are kept. */
  retryFailedJob(jobId: string): Promise<void>;
  /**
   * Cancels a running or merging job: its unfinished tasks are canceled and their running attempts end
   * as `interrupted`, so lease holders get `canceled` on their next call. False when the job does not
   * exist or has already ended (completed, failed or canceled).
   */
  cancelJob(jobId: string, now: number): Promise<boolean>;
  /** A tenant's jobs and tasks under way, for its limits. */
  tenantLoad(tenant: string): Promise<TenantLoad>;
}

/** The lease state machine (rules in core/lease.ts): claims, and the fenced calls of lease holders. */
export interface LeaseStore {
  /**
   * Takes the next pending task: of the tenant with the fewest tasks under a lease (fair share,
   * claimOrderSql.ts), then of its jobs of the highest `priorityRank`, then of its oldest job, in frame
   * order. A spot worker skips the kinds of work `onDemandOnly` names.
   */
  claim(req: ClaimRequest): Promise<ClaimedTask | undefined>;
  heartbeat(
    taskId: string,
    epoch: number,
    progress: HeartbeatProgress,
    now: number,
    leaseTtlMs: number,
  ): Promise<LeaseResult>;
  /**
   * `recorded` is told when this call recorded the segment (not on a retry of one already recorded). A
   * segment that does not continue the task's chain is a violation (core/lease.ts checkpointVerdict).
   */
  checkpoint(
    taskId: string,
    epoch: number,
    segment: CheckpointRequest,
    now: number,
    recorded?: () => void,
  ): Promise<LeaseResult | ProtocolViolation>;
  /**
   * A merge task's completion records the `output` it wrote, when given, with its job's end.
   * `ended` is told what this call completed (not on a retry of a complete that succeeded). Frames without
   * a segment are a violation (core/lease.ts completeVerdict).
   */
  complete(
    taskId: string,
    epoch: number,
    now: number,
    output?: OutputFile,
    ended?: (task: CompletedTask) => void,
  ): Promise<LeaseResult | ProtocolViolation>;
  /**
   * The holder of merge task `mergeTaskId` found segments damaged: each one and every later segment of its
   * task move to the rejected segments, the task is runnable again from the rejected segment's first frame
   * (a failure of that task: past `maxAttempts` failures the job fails with the reason), the merge task
   * waits (pending) until every process task is done again, and the job is running again.
   */
  rejectSegments(
    mergeTaskId: string,
    epoch: number,
    rejections: readonly SegmentRejection[],
    now: number,
    maxAttempts: number,
  ): Promise<RejectionResult>;
  release(
    taskId: string,
    epoch: number,
    reason: ReleaseReason,
    error: string | null,
    now: number,
    maxAttempts: number,
  ): Promise<LeaseResult>;
  /** Makes tasks whose lease ran out runnable again; returns how many, and tells `ended` which. */
  expireLeases(now: number, ended?: (leases: EndedLease[]) => void): Promise<number>;
  /** Ends the leases of one worker (or of every worker when `workerId` is omitted) at once. */
  endLeases(outcome: LostLeaseOutcome, now: number, workerId?: string): Promise<number>;
}

/** Monitoring gauges. */
export interface StatsStore {
  /** Queue depth, running tasks and active jobs, for `/metrics`. */
  leaseStats(): Promise<LeaseStats>;
}

/** Worker and tenant tokens, kept by the hash of their secret. */
export interface TokenStore {
  /** Records a token by the SHA-256 hash (hex) of its secret; the secret itself is never stored. */
  createToken(token: NewToken, secretHash: string, now: number): Promise<TokenRecord>;
  /** The token whose secret hashes to `secretHash`, revoked or not. */
  findTokenByHash(secretHash: string): Promise<TokenRecord | undefined>;
  /** Revokes a token (the first revocation time is kept); false when there is no such token. */
  revokeToken(id: string, now: number): Promise<boolean>;
  /** Notes that a token was used; writes at most once a minute per token. */
  touchToken(id: string, now: number): Promise<void>;
  listTokens(): Promise<TokenRecord[]>;
}

/** Webhook secrets and the notification outbox. */
export interface OutboxStore {
  /** The tenant's webhook secret (null: jobs without a tenant); `candidate` becomes it when there is none yet. */
  getWebhookSecret(tenant: string | null, candidate: string, now: number): Promise<string>;
  /** Replaces the tenant's webhook secret (rotation, or `run --webhook-secret`). */
  setWebhookSecret(tenant: string | null, secret: string, now: number): Promise<void>;
  /** Replaces who a job notifies (a resumed embedded run notifies the targets it was given). */
  setJobNotify(jobId: string, notify: NotifySpec | undefined): Promise<void>;
  /** Running or merging jobs that have notification targets. */
  listNotifyingJobs(): Promise<StoredJob[]>;
  /** Completed or failed jobs whose end (their `finishedAt`) has not had its notifications queued. */
  listUnnotifiedEnds(limit: number): Promise<StoredJob[]>;
  /**
   * Queues the notifications of a job's end and marks that end as told, in one transaction; a
   * notification whose dedupe key is already queued is skipped, so two schedulers may race.
   */
  queueEndNotifications(
    jobId: string,
    finishedAt: number,
    rows: NewNotification[],
    now: number,
  ): Promise<void>;
  /** Queues notifications, skipping any whose dedupe key is already queued; returns how many are new. */
  queueNotifications(rows: NewNotification[], now: number): Promise<number>;
  /**
   * Locks up to `limit` pending notifications that are due and not locked by a live dispatcher, for
   * `lockMs`, on behalf of `owner`. Two dispatchers never get the same row while a lock holds.
   */
  claimDueNotifications(owner: string, now: number, lockMs: number, limit: number): Promise<Notification[]>;
  /**
   * Records a delivery attempt and the notification's next state, if `owner` still holds its lock;
   * false (nothing written) when it lost the lock.
   */
  recordDelivery(
    owner: string,
    id: string,
    attempt: DeliveryAttemptResult,
    next: NextDelivery,
  ): Promise<boolean>;
  listNotifications(jobId: string): Promise<Notification[]>;
  listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]>;
}

/**
 * The state store: every narrow store at once, as the composition roots open it. Every lease call is
 * atomic and fenced by the task's epoch; implementations share one set of semantics (and one test suite).
 * Consumers take the narrowest interface they need.
 */
export interface Store extends JobStore, LeaseStore, StatsStore, TokenStore, OutboxStore {
  close(): Promise<void>;
}

export interface ClaimExclusions {
  merge: boolean;
  urgent: boolean;
  /** Skip tasks interrupted at least this many times; undefined: skip none. */
  interruptionCap: number | undefined;
  /** The only engines whose jobs' process tasks this claim may take; undefined: every engine's. */
  engines: readonly EngineName[] | undefined;
}

export type NotificationChannel = 'webhook' | 'email';
export type NotificationState = 'pending' | 'delivered' | 'dead';

export interface NewNotification {
  /** `msg_…`: the webhook-id receivers dedupe by, the same on every retry. */
  id: string;
  jobId: string;
  event: NotifyEvent;
  channel: NotificationChannel;
  /** The webhook URL or email address. */
  target: string;
  /** (job, event, occurrence, target): a scheduler that runs twice queues the row once. */
  dedupeKey: string;
  /** The webhook body (JSON text), exactly as it is signed and sent. */
  payload: string;
}

export interface Notification extends NewNotification {
  /** The job's tenant, whose webhook secret signs it. */
  tenant: string | null;
  state: NotificationState;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  deliveredAt: number | null;
  lastError: string | null;
}

export interface DeliveryAttemptResult {
  at: number;
  durationMs: number;
  delivered: boolean;
  /** The HTTP status (webhook) or SMTP reply code (email), when there was an answer. */
  statusCode: number | null;
  error: string | null;
}

export interface NextDelivery {
  state: NotificationState;
  /** When a pending notification is tried again. */
  nextAttemptAt: number;
}

export interface DeliveryAttempt extends DeliveryAttemptResult {
  notificationId: string;
  event: NotifyEvent;
  channel: NotificationChannel;
  target: string;
  /** 1 for the first try of the notification. */
  attempt: number;
}

/** The kinds of work this claim must skip: what the policy keeps for on-demand workers, if it is a spot one. */
export function claimExclusions(req: ClaimRequest): ClaimExclusions {
  const spot = req.pool !== 'on-demand';
  const policy = spot ? (req.onDemandOnly ?? []) : [];
  const engines = req.engines ?? ['native'];
  return {
    merge: policy.includes('merge'),
    urgent: policy.includes('urgent'),
    interruptionCap: spot ? req.spotInterruptionCap : undefined,
    engines: ENGINE_NAMES.every((name) => engines.includes(name)) ? undefined : engines,
  };
}

/** The merge task sorts after every chunk of its job. */
export const MERGE_SEQ = 1_000_000;

/** Job ids are the same shape whichever store made them. */
export function newJobId(): string {
  return `job_${randomBytes(6).toString('hex')}`;
}

/** Token ids are public handles (listing, revoking); they reveal nothing about the secret. */
export function newTokenId(): string {
  return `tok_${randomBytes(8).toString('hex')}`;
}

/** A token id as `newTokenId` makes them, where a stored worker token's lease holder `<token id>:<worker>` starts. */
const HOLDER_TOKEN_ID = /^tok_[0-9a-f]{16}:/;

/** The worker name of a lease holder: without the token id that a stored worker token holds its leases under. */
export function workerName(holder: string): string {
  return holder.replace(HOLDER_TOKEN_ID, '');
}

/**
 * A job's claim priority, kept in `jobs.priority` beside its spec so that claims and queue gauges never read
 * the tenant's JSON: higher is claimed first.
 */
export const PRIORITY_RANK = { normal: 0, urgent: 1 } as const;

export function priorityRank(spec: JobSpec): number {
  return (spec as { priority?: unknown }).priority === 'urgent' ? PRIORITY_RANK.urgent : PRIORITY_RANK.normal;
}

/** `touchToken` skips the write when the token was marked used less than this long ago. */
export const TOKEN_TOUCH_INTERVAL_MS = 60_000;

/** Tenant names: what a token may carry and a job may be owned by. */
export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks a new token's role/tenant pairing before it reaches the database's own check. */
export function checkNewToken(token: NewToken): { role: TokenRole; tenant: string | null } {
  const tenant = token.tenant ?? null;
  if (token.role !== 'tenant' && token.role !== 'worker') {
    throw new RangeError(`unknown token role ${String(token.role)}`);
  }
  if (token.role === 'tenant' && (tenant === null || !TENANT_NAME.test(tenant))) {
    throw new RangeError(`a tenant token needs a tenant name matching ${TENANT_NAME}`);
  }
  if (token.role === 'worker' && tenant !== null) throw new RangeError('a worker token has no tenant');
  if (token.role === 'worker' && (token.share !== undefined || token.maxRunning !== undefined))
    throw new RangeError('a share or a cap on running tasks goes with a tenant token');
  if (token.share !== undefined && !(Number.isFinite(token.share) && token.share > 0))
    throw new RangeError('a tenant share must be a number above 0');
  if (token.maxRunning !== undefined && !(Number.isInteger(token.maxRunning) && token.maxRunning > 0))
    throw new RangeError('a cap on running tasks must be a whole number above 0');
  return { role: token.role, tenant };
}
