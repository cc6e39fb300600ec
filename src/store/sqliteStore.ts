import Database from 'better-sqlite3';
import { engineOf } from '../core/facefusion.js';
import {
  checkpointVerdict,
  completeVerdict,
  decideLostLease,
  decideRelease,
  firstRejections,
  leaseExpired,
  leaseVerdict,
  mergeRejectionError,
  type ProtocolViolation,
  type ReleaseDecision,
  rejectionReason,
  taskFailedError,
  unknownSegment,
} from '../core/lease.js';
import type {
  Attempt,
  AttemptOutcome,
  FrameRange,
  LeaseResult,
  NotifySpec,
  RejectedSegment,
  ReleaseReason,
  Segment,
  SegmentRejection,
  Task,
  TaskKind,
} from '../core/types.js';
import { claimableJobsSql, claimableWhereSql, claimOrderSql, setTenantShareSql } from './claimOrderSql.js';

import { chainView, type LeaseRow, leaseView } from './leaseSql.js';
import {
  ATTEMPT_COLUMNS,
  type AttemptRow,
  type CompletedJobRow,
  type DeliveryAttemptRow,
  JOB_COLUMNS,
  type JobRow,
  NOTIFICATION_COLUMNS,
  type NotificationRow,
  outputOf,
  REJECTED_SEGMENT_COLUMNS,
  type RejectedSegmentRow,
  SEGMENT_COLUMNS,
  type SegmentRow,
  type TaskRow,
  type TokenRow,
  toAttempt,
  toCompletedJob,
  toDeliveryAttempt,
  toJob,
  toNotification,
  toRejectedSegment,
  toSegment,
  toTask,
  toToken,
} from './rows.js';
import { SQLITE_MIGRATIONS } from './sqliteSchema.js';
import { numbered, STATEMENTS } from './statements.js';
import {
  type CheckpointRequest,
  type ClaimedTask,
  type ClaimRequest,
  type CompletedJob,
  type CompletedTask,
  checkNewToken,
  claimExclusions,
  claimPtsFrom,
  type DeliveryAttempt,
  type DeliveryAttemptResult,
  type EndedLease,
  type HeartbeatProgress,
  type JobFilter,
  type LeaseStats,
  type LostLeaseOutcome,
  MERGE_SEQ,
  type NewJob,
  type NewNotification,
  type NewToken,
  type NextDelivery,
  type Notification,
  newJobId,
  newTokenId,
  type OutputFile,
  priorityRank,
  type RejectionResult,
  type Store,
  type StoredJob,
  type TenantLoad,
  TOKEN_TOUCH_INTERVAL_MS,
  type TokenRecord,
} from './store.js';

/**
 * Embedded state store: one SQLite file in WAL mode. Every lease call runs in a `BEGIN IMMEDIATE`
 * transaction, so two coordinators on one file could not interleave a read and a write.
 */
/** Jobs whose frame timestamps a store keeps in memory (see jobFramePts). */
const PTS_CACHED_JOBS = 4;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly ptsCache = new Map<string, Float64Array>();

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  private migrate(): void {
    const applied = this.db.pragma('user_version', { simple: true }) as number;
    this.tx(() => {
      for (let i = applied; i < SQLITE_MIGRATIONS.length; i++) this.db.exec(SQLITE_MIGRATIONS[i]);
      this.db.pragma(`user_version = ${SQLITE_MIGRATIONS.length}`);
    });
  }

  /** The prepared statement of `text`, prepared once per store (the lease calls run thousands of times). */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** The row a shared statement (statements.ts) answers, its `$n` values bound by number. */
  private one<T>(text: string, ...values: unknown[]): T | undefined {
    return this.sql(text).get(numbered(values)) as T | undefined;
  }

  private many<T>(text: string, ...values: unknown[]): T[] {
    return this.sql(text).all(numbered(values)) as T[];
  }

  /** How many rows a shared statement changed. */
  private change(text: string, ...values: unknown[]): number {
    return this.sql(text).run(numbered(values)).changes;
  }

  /** Runs `fn` inside `BEGIN IMMEDIATE` (no transaction wrapper made per call: the lease calls are hot). */
  private tx<T>(fn: () => T): T {
    this.sql('BEGIN IMMEDIATE').run();
    try {
      const result = fn();
      this.sql('COMMIT').run();
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.sql('ROLLBACK').run();
      throw err;
    }
  }

  async createJob(job: NewJob, now: number): Promise<StoredJob> {
    const id = newJobId();
    const pts = Buffer.from(new Float64Array(job.framePts).buffer);
    const frameCount = job.framePts.length;
    this.tx(() => {
      this.sql(
        `INSERT INTO jobs (id, key, state, spec, probe, frame_count, created_at, tenant, priority, engine)
           VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        id,
        job.key,
        JSON.stringify(job.spec),
        JSON.stringify(job.probe),
        frameCount,
        now,
        job.tenant ?? null,
        priorityRank(job.spec),
        engineOf(job.spec),
      );
      this.sql('INSERT INTO job_frames (job_id, frame_pts) VALUES (?, ?)').run(id, pts);
      const insert = this.sql(
        `INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
         VALUES (?, ?, 'process', ?, ?, ?, ?, 'pending')`,
      );
      job.chunks.forEach((c, seq) => {
        insert.run(`${id}-t${String(seq).padStart(4, '0')}`, id, seq, c.start, c.end, c.start);
      });
    });
    return (await this.getJob(id))!;
  }

  async findUnfinishedJob(key: string): Promise<StoredJob | undefined> {
    const row = this.one<JobRow>(STATEMENTS.findUnfinishedJob, key);
    return row && toJob(row);
  }

  async findCompletedJob(key: string): Promise<CompletedJob | undefined> {
    const row = this.one<CompletedJobRow>(STATEMENTS.findCompletedJob, key);
    return row && toCompletedJob(row);
  }

  async getOutput(jobId: string): Promise<OutputFile | null> {
    const row = this.sql('SELECT output_bytes, output_sha256 FROM jobs WHERE id = ?').get(jobId) as
      | Pick<CompletedJobRow, 'output_bytes' | 'output_sha256'>
      | undefined;
    return row ? outputOf(row) : null;
  }

  async recordOutput(jobId: string, output: OutputFile): Promise<boolean> {
    return this.change(STATEMENTS.recordOutput, jobId, output.bytes, output.sha256) > 0;
  }

  async getJob(id: string): Promise<StoredJob | undefined> {
    const row = this.one<JobRow>(STATEMENTS.getJob, id);
    return row && toJob(row);
  }

  async listJobs(filter: JobFilter = {}): Promise<StoredJob[]> {
    const limit = filter.limit ?? 100;
    const rows =
      filter.tenant === undefined
        ? this.many<JobRow>(STATEMENTS.listJobs, limit)
        : this.many<JobRow>(STATEMENTS.listTenantJobs, filter.tenant, limit);
    return rows.map(toJob);
  }

  async listRunningJobs(): Promise<StoredJob[]> {
    const rows = this.sql(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE state = 'running' ORDER BY created_at, id`,
    ).all() as JobRow[];
    return rows.map(toJob);
  }

  async getProbe(jobId: string): Promise<Record<string, unknown>> {
    const row = this.one<{ probe: string }>(STATEMENTS.getProbe, jobId);
    if (!row) throw new Error(`unknown job ${jobId}`);
    return JSON.parse(row.probe);
  }

  async getFramePts(jobId: string, range: FrameRange): Promise<number[]> {
    return this.framePts(jobId, range);
  }

  private framePts(jobId: string, range: FrameRange): number[] {
    return Array.from(this.jobFramePts(jobId).subarray(range.start, range.end));
  }

  /**
   * A job's timestamps never change, and every claim reads a slice of them: reading the whole column each
   * time (24 MB for 28 hours at 30 fps) made a claim cost milliseconds, so the last few jobs' are kept.
   */
  private jobFramePts(jobId: string): Float64Array {
    const cached = this.ptsCache.get(jobId);
    if (cached) return cached;
    const row = this.sql('SELECT frame_pts FROM job_frames WHERE job_id = ?').get(jobId) as
      | { frame_pts: Buffer }
      | undefined;
    if (!row) throw new Error(`unknown job ${jobId}`);
    const pts = new Float64Array(
      row.frame_pts.buffer,
      row.frame_pts.byteOffset,
      row.frame_pts.byteLength / 8,
    );
    if (this.ptsCache.size >= PTS_CACHED_JOBS)
      this.ptsCache.delete(this.ptsCache.keys().next().value as string);
    this.ptsCache.set(jobId, pts);
    return pts;
  }

  async getTask(taskId: string): Promise<Task | undefined> {
    const row = this.one<TaskRow>(STATEMENTS.getTask, taskId);
    return row && toTask(row);
  }

  async listTasks(jobId: string): Promise<Task[]> {
    return this.many<TaskRow>(STATEMENTS.listTasks, jobId).map(toTask);
  }

  async listSegments(jobId: string): Promise<Segment[]> {
    return this.many<SegmentRow>(STATEMENTS.listSegments, jobId).map(toSegment);
  }

  async listRejectedSegments(jobId: string): Promise<RejectedSegment[]> {
    const rows = this.sql(
      `SELECT ${REJECTED_SEGMENT_COLUMNS} FROM rejected_segments WHERE job_id = ? ORDER BY id`,
    ).all(jobId) as RejectedSegmentRow[];
    return rows.map(toRejectedSegment);
  }

  async listEndedJobsWithSegments(endedBefore: number, limit: number): Promise<string[]> {
    return this.many<{ id: string }>(STATEMENTS.listEndedJobsWithSegments, endedBefore, limit).map(
      (r) => r.id,
    );
  }

  async markSegmentsDeleted(jobId: string, now: number): Promise<boolean> {
    return this.change(STATEMENTS.markSegmentsDeleted, jobId, now) > 0;
  }

  async listAttempts(jobId: string): Promise<Attempt[]> {
    return this.many<AttemptRow>(STATEMENTS.listAttempts, jobId).map(toAttempt);
  }

  async getAttempt(taskId: string, epoch: number): Promise<Attempt | undefined> {
    const row = this.one<AttemptRow>(STATEMENTS.getAttempt, taskId, epoch);
    return row && toAttempt(row);
  }

  async retryFailedJob(jobId: string): Promise<void> {
    this.tx(() => {
      this.change(STATEMENTS.retryFailedTasks, jobId);
      // Merging only once every chunk is done: a merge that rejected segments left chunks to redo.
      const merge = this.sql(
        `SELECT 1 FROM tasks WHERE job_id = ? AND kind = 'merge'
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = ? AND kind = 'process' AND state <> 'done')`,
      ).get(jobId, jobId);
      this.sql(
        `UPDATE jobs SET state = ?, error = NULL, finished_at = NULL WHERE id = ? AND state = 'failed'`,
      ).run(merge ? 'merging' : 'running', jobId);
    });
  }

  async cancelJob(jobId: string, now: number): Promise<boolean> {
    return this.tx(() => {
      if (this.change(STATEMENTS.cancelJob, jobId, now) === 0) return false;
      this.change(STATEMENTS.interruptJobAttempts, jobId, now);
      this.change(STATEMENTS.cancelJobTasks, jobId);
      return true;
    });
  }

  async claim(req: ClaimRequest): Promise<ClaimedTask | undefined> {
    return this.tx(() => {
      const skip = claimExclusions(req);
      // Jobs in claim order (there are few), each with its first free task through tasks_runnable: a
      // claim costs the same whatever the number of pending tasks (as in the PostgreSQL store).
      const row = this.sql(
        `SELECT t.* FROM (
             SELECT (SELECT id FROM tasks WHERE job_id = j.id AND state = 'pending'
                     AND (kind = 'process' OR j.state = 'merging')
                     ${skip.merge ? `AND kind != 'merge'` : ''}
                     ${skip.interruptionCap !== undefined ? 'AND preemptions < @cap' : ''}
                     ORDER BY seq LIMIT 1) AS task_id,
                    j.priority, j.created_at, j.tenant_load
             FROM (${claimableJobsSql(claimableWhereSql(skip))}) j
           ) f JOIN tasks t ON t.id = f.task_id
           ORDER BY ${claimOrderSql('f')} LIMIT 1`,
      ).get(...(skip.interruptionCap !== undefined ? [{ cap: skip.interruptionCap }] : [])) as
        | TaskRow
        | undefined;
      if (!row) return undefined;
      const epoch = row.epoch + 1;
      this.sql(
        `UPDATE tasks SET state = 'running', epoch = ?, worker_id = ?, lease_expires_at = ? WHERE id = ?`,
      ).run(epoch, req.workerId, req.now + req.leaseTtlMs, row.id);
      this.sql(
        `INSERT INTO attempts (task_id, job_id, worker_id, epoch, started_at, outcome, cloud, instance_type, zone, lifecycle)
           VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
      ).run(
        row.id,
        row.job_id,
        req.workerId,
        epoch,
        req.now,
        req.instance?.cloud ?? null,
        req.instance?.instanceType ?? null,
        req.instance?.zone ?? null,
        req.instance?.lifecycle ?? null,
      );
      const job = this.sql(`SELECT ${JOB_COLUMNS}, probe FROM jobs WHERE id = ?`).get(
        row.job_id,
      ) as JobRow & {
        probe: string;
      };
      const framePtsFrom = row.kind === 'process' ? claimPtsFrom(row.next_frame) : 0;
      return {
        task: toTask({
          ...row,
          state: 'running',
          epoch,
          worker_id: req.workerId,
          lease_expires_at: req.now + req.leaseTtlMs,
        }),
        job: toJob(job),
        probe: JSON.parse(job.probe),
        framePts:
          row.kind === 'process'
            ? this.framePts(row.job_id, { start: framePtsFrom, end: row.end_frame })
            : [],
        framePtsFrom,
      };
    });
  }

  /** The task row with its job's state (undefined: no such task): what every lease verdict decides on. */
  private leaseRow(taskId: string): LeaseRow | undefined {
    return this.sql(
      'SELECT t.*, (SELECT state FROM jobs WHERE id = t.job_id) AS job_state FROM tasks t WHERE t.id = ?',
    ).get(taskId) as LeaseRow | undefined;
  }

  /** The task row if `epoch` still holds its lease, else why not. */
  private leaseHolder(taskId: string, epoch: number): LeaseRow | Exclude<LeaseResult, 'ok'> {
    const row = this.leaseRow(taskId);
    const verdict = leaseVerdict(row && leaseView(row), epoch);
    return verdict === 'ok' && row ? row : (verdict as Exclude<LeaseResult, 'ok'>);
  }

  async heartbeat(
    taskId: string,
    epoch: number,
    progress: HeartbeatProgress,
    now: number,
    leaseTtlMs: number,
  ): Promise<LeaseResult> {
    return this.tx(() => {
      const row = this.leaseHolder(taskId, epoch);
      if (typeof row === 'string') return row;
      this.sql('UPDATE tasks SET lease_expires_at = ? WHERE id = ?').run(now + leaseTtlMs, taskId);
      this.sql(
        `UPDATE attempts SET frames_done = MAX(frames_done, ?), fps = ?,
           gpu_utilization = IFNULL(?, gpu_utilization), gpu_memory_used_mib = IFNULL(?, gpu_memory_used_mib),
           gpu_memory_total_mib = IFNULL(?, gpu_memory_total_mib)
           WHERE task_id = ? AND epoch = ?`,
      ).run(
        progress.framesDone,
        progress.fps ?? null,
        progress.gpuUtilization ?? null,
        progress.gpuMemoryUsedMiB ?? null,
        progress.gpuMemoryTotalMiB ?? null,
        taskId,
        epoch,
      );
      return 'ok';
    });
  }

  async checkpoint(
    taskId: string,
    epoch: number,
    segment: CheckpointRequest,
    now: number,
    recorded?: () => void,
  ): Promise<LeaseResult | ProtocolViolation> {
    const result = this.tx((): LeaseResult | ProtocolViolation | 'recorded' => {
      const row = this.leaseHolder(taskId, epoch);
      if (typeof row === 'string') return row;
      const { start, end } = segment.range;
      const verdict = checkpointVerdict(taskId, chainView(row), segment.range, () =>
        Boolean(
          this.sql(
            'SELECT 1 FROM segments WHERE task_id = ? AND start_frame = ? AND end_frame = ? AND key = ?',
          ).get(taskId, start, end, segment.key),
        ),
      );
      if (verdict !== 'record') return verdict;
      this.sql(
        `INSERT INTO segments (task_id, job_id, start_frame, end_frame, key, epoch, created_at, sha256, bytes, decoded)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        taskId,
        row.job_id,
        start,
        end,
        segment.key,
        epoch,
        now,
        segment.sha256 ?? null,
        segment.bytes ?? null,
        segment.decoded ? 1 : 0,
      );
      this.sql('UPDATE tasks SET next_frame = ? WHERE id = ?').run(end, taskId);
      this.sql(
        `UPDATE attempts SET frames_checkpointed = frames_checkpointed + ?, frames_done = MAX(frames_done, frames_checkpointed + ?)
           WHERE task_id = ? AND epoch = ?`,
      ).run(end - start, end - start, taskId, epoch);
      return 'recorded';
    });
    if (result !== 'recorded') return result;
    recorded?.();
    return 'ok';
  }

  async complete(
    taskId: string,
    epoch: number,
    now: number,
    output?: OutputFile,
    ended?: (task: CompletedTask) => void,
  ): Promise<LeaseResult | ProtocolViolation> {
    const result = this.tx((): { ended: CompletedTask } | LeaseResult | ProtocolViolation => {
      const row = this.leaseRow(taskId);
      const verdict = completeVerdict(taskId, row && chainView(row), epoch);
      if (verdict !== 'complete') return verdict;
      const task = row as LeaseRow;
      this.sql(`UPDATE tasks SET state = 'done', worker_id = NULL, lease_expires_at = NULL WHERE id = ?`).run(
        taskId,
      );
      const attempt = this.endAttempt(taskId, epoch, 'completed', null, now);
      const completed = { ended: { kind: task.kind as TaskKind, attempt } };
      if (task.kind === 'merge') {
        this.sql(
          `UPDATE jobs SET state = 'completed', finished_at = ?, output_bytes = ?, output_sha256 = ? WHERE id = ?`,
        ).run(now, output?.bytes ?? null, output?.sha256 ?? null, task.job_id);
        return completed;
      }
      // Through tasks_runnable, state by state: a completion costs the same whatever the job's size.
      const open = this.sql(
        `SELECT 1 FROM tasks WHERE state IN ('pending', 'running', 'failed', 'canceled') AND job_id = ?
         AND kind = 'process' LIMIT 1`,
      ).get(task.job_id);
      if (open === undefined) {
        const job = this.sql('SELECT frame_count FROM jobs WHERE id = ?').get(task.job_id) as {
          frame_count: number;
        };
        this.sql(
          `INSERT OR IGNORE INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
             VALUES (?, ?, 'merge', ?, 0, ?, 0, 'pending')`,
        ).run(`${task.job_id}-merge`, task.job_id, MERGE_SEQ, job.frame_count);
        this.sql(`UPDATE jobs SET state = 'merging' WHERE id = ? AND state = 'running'`).run(task.job_id);
      }
      return completed;
    });
    if (typeof result === 'string' || 'violation' in result) return result;
    ended?.(result.ended);
    return 'ok';
  }

  async release(
    taskId: string,
    epoch: number,
    reason: ReleaseReason,
    error: string | null,
    now: number,
    maxAttempts: number,
  ): Promise<LeaseResult> {
    return this.tx(() => {
      const row = this.leaseHolder(taskId, epoch);
      if (typeof row === 'string') return row;
      const next = decideRelease(row, reason, maxAttempts);
      this.setReleased(taskId, next, error);
      this.endAttempt(taskId, epoch, reason, error, now);
      if (next.state === 'failed') {
        this.sql(`UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE id = ?`).run(
          taskFailedError(taskId, next.failures, error),
          now,
          row.job_id,
        );
      }
      return 'ok';
    });
  }

  async rejectSegments(
    mergeTaskId: string,
    epoch: number,
    rejections: readonly SegmentRejection[],
    now: number,
    maxAttempts: number,
  ): Promise<RejectionResult> {
    return this.tx(() => {
      const merge = this.leaseHolder(mergeTaskId, epoch);
      if (typeof merge === 'string') return { result: merge, dropped: [], jobFailed: false };
      const rejected = firstRejections(mergeTaskId, merge.kind, rejections);
      const segmentsFrom = this.sql(
        `SELECT ${SEGMENT_COLUMNS} FROM segments WHERE task_id = ? AND start_frame >= ? ORDER BY start_frame`,
      );
      const dropped: string[] = [];
      let jobError: string | undefined;
      for (const rejection of rejected) {
        const task = this.sql('SELECT * FROM tasks WHERE id = ? AND job_id = ?').get(
          rejection.taskId,
          merge.job_id,
        ) as TaskRow | undefined;
        const segments = segmentsFrom.all(rejection.taskId, rejection.startFrame) as SegmentRow[];
        if (!task || segments[0]?.start_frame !== rejection.startFrame)
          throw unknownSegment(rejection, merge.job_id);
        for (const [i, s] of segments.entries()) {
          this.sql(
            `INSERT INTO rejected_segments (task_id, job_id, start_frame, end_frame, key, epoch, reason, rejected_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            s.task_id,
            s.job_id,
            s.start_frame,
            s.end_frame,
            s.key,
            s.epoch,
            rejectionReason(rejection, i),
            now,
          );
          dropped.push(s.key);
        }
        this.sql('DELETE FROM segments WHERE task_id = ? AND start_frame >= ?').run(
          rejection.taskId,
          rejection.startFrame,
        );
        const next = decideRelease(task, 'error', maxAttempts);
        this.sql('UPDATE tasks SET state = ?, failures = ?, next_frame = ?, last_error = ? WHERE id = ?').run(
          next.state,
          next.failures,
          rejection.startFrame,
          rejection.reason,
          rejection.taskId,
        );
        if (next.state === 'failed')
          jobError ??= taskFailedError(rejection.taskId, next.failures, rejection.reason);
      }
      this.sql(
        `UPDATE tasks SET state = 'pending', worker_id = NULL, lease_expires_at = NULL WHERE id = ?`,
      ).run(mergeTaskId);
      this.endAttempt(mergeTaskId, epoch, 'error', mergeRejectionError(rejected.length), now);
      if (jobError !== undefined) {
        this.sql(`UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE id = ?`).run(
          jobError,
          now,
          merge.job_id,
        );
      } else {
        this.sql(`UPDATE jobs SET state = 'running' WHERE id = ? AND state = 'merging'`).run(merge.job_id);
      }
      return { result: 'ok', dropped, jobFailed: jobError !== undefined };
    });
  }

  /** Writes a release decision: the task's new state and budgets, its lease dropped. */
  private setReleased(taskId: string, next: ReleaseDecision, error: string | null): void {
    this.sql(
      `UPDATE tasks SET state = ?, failures = ?, preemptions = ?, last_error = COALESCE(?, last_error),
         worker_id = NULL, lease_expires_at = NULL WHERE id = ?`,
    ).run(next.state, next.failures, next.preemptions, error, taskId);
  }

  private endAttempt(
    taskId: string,
    epoch: number,
    outcome: AttemptOutcome,
    error: string | null,
    now: number,
  ): Attempt | undefined {
    const row = this.sql(
      `UPDATE attempts SET outcome = ?, error = ?, ended_at = ? WHERE task_id = ? AND epoch = ? AND outcome = 'running'
       RETURNING ${ATTEMPT_COLUMNS}`,
    ).get(outcome, error, now, taskId, epoch) as AttemptRow | undefined;
    return row && toAttempt(row);
  }

  async expireLeases(now: number, ended?: (leases: EndedLease[]) => void): Promise<number> {
    const lost = this.tx(() =>
      this.endLeasesOf(
        'expired',
        now,
        this.runningTasks().filter((t) => leaseExpired(toTask(t), now)),
      ),
    );
    if (ended && lost.length > 0) ended(lost);
    return lost.length;
  }

  async endLeases(outcome: LostLeaseOutcome, now: number, workerId?: string): Promise<number> {
    return this.tx(() => {
      const running = this.runningTasks();
      const lost = workerId === undefined ? running : running.filter((t) => t.worker_id === workerId);
      return this.endLeasesOf(outcome, now, lost).length;
    });
  }

  /** The running tasks, in id order (inside the caller's transaction). */
  private runningTasks(): TaskRow[] {
    return this.sql(`SELECT * FROM tasks WHERE state = 'running' ORDER BY id`).all() as TaskRow[];
  }

  /** Ends the leases of `tasks` without their holders (`decideLostLease`); returns the attempts ended. */
  private endLeasesOf(outcome: LostLeaseOutcome, now: number, tasks: TaskRow[]): EndedLease[] {
    const attempt = this.sql(
      `SELECT worker_id, lifecycle, started_at FROM attempts WHERE task_id = ? AND epoch = ? AND outcome = 'running'`,
    );
    return tasks.map((t) => {
      const a = attempt.get(t.id, t.epoch) as
        | Pick<AttemptRow, 'worker_id' | 'lifecycle' | 'started_at'>
        | undefined;
      this.setReleased(t.id, decideLostLease(t), null);
      this.endAttempt(t.id, t.epoch, outcome, null, now);
      return {
        taskId: t.id,
        jobId: t.job_id,
        epoch: t.epoch,
        workerId: a?.worker_id ?? (t.worker_id as string),
        lifecycle: (a?.lifecycle ?? null) as EndedLease['lifecycle'],
        startedAt: a?.started_at ?? now,
        endedAt: now,
      };
    });
  }

  async leaseStats(): Promise<LeaseStats> {
    return {
      pending: this.many(STATEMENTS.pendingTasks),
      running: this.many(STATEMENTS.runningTasks),
      jobs: this.many(STATEMENTS.activeJobs),
    };
  }

  async tenantLoad(tenant: string): Promise<TenantLoad> {
    const row = this.one<{ active_jobs: number; queued_tasks: number }>(STATEMENTS.tenantLoad, tenant)!;
    return { activeJobs: row.active_jobs, queuedTasks: row.queued_tasks };
  }

  async createToken(token: NewToken, secretHash: string, now: number): Promise<TokenRecord> {
    const { role, tenant } = checkNewToken(token);
    return this.tx(() => {
      const row = this.one<TokenRow>(STATEMENTS.createToken, newTokenId(), role, tenant, secretHash, now);
      if (token.share !== undefined || token.maxRunning !== undefined)
        this.sql(setTenantShareSql('?', '?', '?')).run(tenant, token.share ?? 1, token.maxRunning ?? null);
      return toToken(row as TokenRow);
    });
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | undefined> {
    const row = this.one<TokenRow>(STATEMENTS.findTokenByHash, secretHash);
    return row && toToken(row);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    return this.change(STATEMENTS.revokeToken, id, now) > 0;
  }

  async touchToken(id: string, now: number): Promise<void> {
    this.change(STATEMENTS.touchToken, id, now, now - TOKEN_TOUCH_INTERVAL_MS);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.many<TokenRow>(STATEMENTS.listTokens).map(toToken);
  }

  async getWebhookSecret(tenant: string | null, candidate: string, now: number): Promise<string> {
    return this.tx(() => {
      this.sql('INSERT OR IGNORE INTO webhook_secrets (tenant, secret, created_at) VALUES (?, ?, ?)').run(
        tenant ?? '',
        candidate,
        now,
      );
      const row = this.sql('SELECT secret FROM webhook_secrets WHERE tenant = ?').get(tenant ?? '') as {
        secret: string;
      };
      return row.secret;
    });
  }

  async setWebhookSecret(tenant: string | null, secret: string, now: number): Promise<void> {
    this.change(STATEMENTS.setWebhookSecret, tenant ?? '', secret, now);
  }

  async setJobNotify(jobId: string, notify: NotifySpec | undefined): Promise<void> {
    this.tx(() => {
      const row = this.sql('SELECT spec FROM jobs WHERE id = ?').get(jobId) as { spec: string } | undefined;
      if (!row) return;
      const { notify: _, ...spec } = JSON.parse(row.spec);
      this.sql('UPDATE jobs SET spec = ? WHERE id = ?').run(
        JSON.stringify(notify === undefined ? spec : { ...spec, notify }),
        jobId,
      );
    });
  }

  async listNotifyingJobs(): Promise<StoredJob[]> {
    const rows = this.sql(
      `SELECT ${JOB_COLUMNS} FROM jobs
         WHERE state IN ('running', 'merging') AND json_extract(spec, '$.notify') IS NOT NULL`,
    ).all() as JobRow[];
    return rows.map(toJob);
  }

  async listUnnotifiedEnds(limit: number): Promise<StoredJob[]> {
    const rows = this.sql(
      `SELECT ${JOB_COLUMNS} FROM jobs
         WHERE finished_at IS NOT NULL AND notified_end IS NOT finished_at AND state IN ('completed', 'failed', 'canceled')
         ORDER BY finished_at LIMIT ?`,
    ).all(limit) as JobRow[];
    return rows.map(toJob);
  }

  async queueEndNotifications(
    jobId: string,
    finishedAt: number,
    rows: NewNotification[],
    now: number,
  ): Promise<void> {
    this.tx(() => {
      this.insertNotifications(rows, now);
      this.change(STATEMENTS.markEndNotified, jobId, finishedAt);
    });
  }

  async queueNotifications(rows: NewNotification[], now: number): Promise<number> {
    return this.tx(() => this.insertNotifications(rows, now));
  }

  private insertNotifications(rows: NewNotification[], now: number): number {
    const insert = this.sql(
      `INSERT INTO notifications (id, job_id, event, channel, target, dedupe_key, payload, state, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
    );
    let added = 0;
    for (const r of rows) {
      added += insert.run(
        r.id,
        r.jobId,
        r.event,
        r.channel,
        r.target,
        r.dedupeKey,
        r.payload,
        now,
        now,
      ).changes;
    }
    return added;
  }

  async claimDueNotifications(
    owner: string,
    now: number,
    lockMs: number,
    limit: number,
  ): Promise<Notification[]> {
    return this.tx(() => {
      const rows = this.sql(
        `SELECT ${NOTIFICATION_COLUMNS} FROM notifications n JOIN jobs j ON j.id = n.job_id
           WHERE n.state = 'pending' AND n.next_attempt_at <= ? AND (n.locked_until IS NULL OR n.locked_until <= ?)
           ORDER BY n.next_attempt_at, n.id LIMIT ?`,
      ).all(now, now, limit) as NotificationRow[];
      const lock = this.sql('UPDATE notifications SET locked_by = ?, locked_until = ? WHERE id = ?');
      for (const r of rows) lock.run(owner, now + lockMs, r.id);
      return rows.map(toNotification);
    });
  }

  async recordDelivery(
    owner: string,
    id: string,
    attempt: DeliveryAttemptResult,
    next: NextDelivery,
  ): Promise<boolean> {
    return this.tx(() => {
      const row = this.sql(
        `UPDATE notifications SET attempts = attempts + 1, state = ?, next_attempt_at = ?,
             locked_by = NULL, locked_until = NULL, last_error = ?,
             delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END
           WHERE id = ? AND locked_by = ? RETURNING attempts, job_id`,
      ).get(
        next.state,
        next.nextAttemptAt,
        attempt.error,
        attempt.delivered ? 1 : 0,
        attempt.at,
        id,
        owner,
      ) as { attempts: number; job_id: string } | undefined;
      if (!row) return false;
      this.sql(
        `INSERT INTO notification_attempts
             (notification_id, job_id, attempt, attempted_at, duration_ms, delivered, status_code, error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        id,
        row.job_id,
        row.attempts,
        attempt.at,
        Math.round(attempt.durationMs),
        attempt.delivered ? 1 : 0,
        attempt.statusCode,
        attempt.error,
      );
      return true;
    });
  }

  async listNotifications(jobId: string): Promise<Notification[]> {
    return this.many<NotificationRow>(STATEMENTS.listNotifications, jobId).map(toNotification);
  }

  async listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]> {
    return this.many<DeliveryAttemptRow>(STATEMENTS.listDeliveryAttempts, jobId).map(toDeliveryAttempt);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
