import pg from 'pg';
import { engineOf } from '../core/facefusion.js';
import {
  checkpointVerdict,
  completeVerdict,
  decideRelease,
  firstRejections,
  leaseVerdict,
  mergeRejectionError,
  type ProtocolViolation,
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
import { GroupCommit } from './groupCommit.js';
import {
  CHAIN_COLUMNS,
  type ChainRow,
  chainView,
  continuesChainSql,
  type LeaseRow,
  LOST_LEASE_SET_SQL,
  leaseExpiredSql,
  leaseHeldSql,
  leaseView,
  MAY_COMPLETE_SQL,
} from './leaseSql.js';
import { migratePostgres } from './postgresSchema.js';
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
  TASK_COLUMNS,
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
import { StatementBatch } from './statementBatch.js';
import { STATEMENTS } from './statements.js';
import {
  type CheckpointRequest,
  type ClaimedTask,
  type ClaimRequest,
  type CompletedJob,
  type CompletedTask,
  checkNewToken,
  claimExclusions,
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

// Epoch milliseconds and counts are int8; pg hands those back as strings unless told otherwise.
const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format),
};

/** A heartbeat waiting for its batch's statement (`heartbeatBatch`). */
interface HeartbeatCall {
  taskId: string;
  epoch: number;
  progress: HeartbeatProgress;
  expiresAt: number;
}

/** What a checkpoint or completion locks and decides on (the task's chain and its job's state), and no more. */
const LEASE_CHAIN_COLUMNS =
  'job_id, kind, epoch, state, next_frame, end_frame, (SELECT state FROM jobs WHERE id = t.job_id) AS job_state';

function encodePts(pts: readonly number[]): Buffer {
  const buf = Buffer.alloc(pts.length * 8);
  for (const [i, v] of pts.entries()) buf.writeDoubleLE(v, i * 8);
  return buf;
}

function decodePts(buf: Buffer): number[] {
  return Array.from({ length: buf.length / 8 }, (_, i) => buf.readDoubleLE(i * 8));
}

/**
 * Cluster state store on PostgreSQL. Every lease call is one transaction that locks the task row
 * before deciding; calls that change the job also lock the job row (always task first, then job), so
 * several coordinator replicas can share one database.
 *
 * The lease calls' statements are prepared once per connection, and PostgreSQL may keep the plan it made
 * first, when the tables were nearly empty. So they reach rows by key equalities only (scalar subqueries,
 * not joins), which plan as index lookups whatever the sizes: a heartbeat written as a join kept a plan
 * that scanned every attempt, 1 ms per call after 5,000 tasks against 0.1 ms now.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  /**
   * Connections for the lease calls, whose commits do not wait for the WAL flush (synchronous_commit off),
   * so that they do not queue behind the flushes: heartbeats and task reads, and the claims, checkpoints
   * and completions, which then wait for `groupCommit`'s flush before they answer.
   *
   * Heartbeats do not wait. What a database crash can lose is the heartbeats of the last fraction of a
   * second (up to three times wal_writer_delay, 200 ms by default), and only those: WAL is flushed in
   * order, so a claim, checkpoint or completion that commits after a heartbeat makes it durable too. A lost
   * heartbeat holds a lease extension and progress readings (frames done, fps, GPU), nothing else: its lease
   * looks older and may run out sooner, and then the task is redone from its last checkpoint, fenced by
   * epoch as always; the segments and the frames they count are recorded by checkpoints, which wait for the
   * flush. Claims, checkpoints and completions must not be lost (a lost claim would hand the same epoch out
   * twice; a lost checkpoint breaks the chain the worker continues; a lost completion may already have been
   * seen, and notified, by others), so none answers before its commit is flushed.
   */
  private readonly leasePool: pg.Pool;
  private readonly groupCommit: GroupCommit;
  private readonly heartbeats = new StatementBatch((calls: HeartbeatCall[]) => this.heartbeatBatch(calls), {
    // Two at a time: one batch gathers while the other runs, and heartbeats hold at most two of the
    // lease pool's connections, whatever their number.
    maxInFlight: 2,
    maxCalls: 200,
    key: (call) => call.taskId,
  });

  constructor(config: string | pg.PoolConfig) {
    const given = typeof config === 'string' ? { connectionString: config } : config;
    // Every statement here reaches its rows by key, but a prepared statement keeps the generic plan it made
    // first: made while a table was nearly empty (a fresh cluster's attempts and segments), it is a
    // sequential scan whose cost then grows with every row (a heartbeat read 190 buffers, 4.3 ms, beside
    // 30,000 attempts, against 5 and 0.08 ms through the index) until an ANALYZE happens to replace it.
    // Without sequential scans the planner takes the index at any size; a query with no index still scans.
    // Nor bitmap scans, for the same stale estimates: the merge scheduling's "last unfinished chunk" was
    // planned as a bitmap scan of the job's unfinished tasks and a sort, or (tables never analyzed) a scan
    // of all its tasks, 1.4 ms per completion with 2,500 left and growing with the job, not the backward
    // scan of the unfinished ones that reads one entry (0.02 ms).
    // And the generic plan always (only named statements have one): PostgreSQL plans a statement afresh for
    // each call while that looks cheaper, as it did for every heartbeat batch, whose array lengths vary
    // (0.3 ms of planning per call).
    const options = [
      '-c enable_seqscan=off -c enable_bitmapscan=off -c plan_cache_mode=force_generic_plan',
      given.options,
    ]
      .filter(Boolean)
      .join(' ');
    const base = { ...given, options, types };
    this.pool = new pg.Pool(base);
    this.leasePool = new pg.Pool({ ...base, options: `${options} -c synchronous_commit=off` });
    this.groupCommit = new GroupCommit(given);
    // An idle connection the server dropped: the pool replaces it, and the next query reports real trouble.
    for (const pool of [this.pool, this.leasePool]) pool.on('error', () => {});
  }

  /** Connects and brings the schema up to date. */
  static async open(config: string | pg.PoolConfig): Promise<PostgresStore> {
    const store = new PostgresStore(config);
    try {
      await store.withClient((client) => migratePostgres(client));
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /**
   * A connection of the pool for `fn`. While the pool has lent it out, nothing else listens for its
   * errors: a server that goes away between two queries (a database restart) would end the process with
   * an unhandled 'error' event (found by chaos). The error is noted instead, the query that meets the
   * closed connection fails, and the connection is dropped from the pool, not handed out again.
   */
  private async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>, pool = this.pool): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    const noteBroken = (err: Error) => {
      broken ??= err;
    };
    client.on('error', noteBroken);
    try {
      return await fn(client);
    } catch (err) {
      // A query that failed on a dead connection: drop it as well.
      if (!(err instanceof pg.DatabaseError)) broken ??= err as Error;
      throw err;
    } finally {
      client.off('error', noteBroken);
      client.release(broken);
    }
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // On a dead connection the ROLLBACK fails too; the first error is the one to report.
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  async createJob(job: NewJob, now: number): Promise<StoredJob> {
    const id = newJobId();
    return this.tx(async (c) => {
      const { rows } = await c.query<JobRow>(
        `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at, tenant, priority, engine)
         VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${JOB_COLUMNS}`,
        [
          id,
          job.key,
          JSON.stringify(job.spec),
          JSON.stringify(job.probe),
          encodePts(job.framePts),
          job.framePts.length,
          now,
          job.tenant ?? null,
          priorityRank(job.spec),
          engineOf(job.spec),
        ],
      );
      await c.query(
        `INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
         SELECT t.id, $1, 'process', t.seq, t.start_frame, t.end_frame, t.start_frame, 'pending'
         FROM unnest($2::text[], $3::int[], $4::int[], $5::int[]) AS t (id, seq, start_frame, end_frame)`,
        [
          id,
          job.chunks.map((_, seq) => `${id}-t${String(seq).padStart(4, '0')}`),
          job.chunks.map((_, seq) => seq),
          job.chunks.map((ch) => ch.start),
          job.chunks.map((ch) => ch.end),
        ],
      );
      return toJob(rows[0]);
    });
  }

  async findUnfinishedJob(key: string): Promise<StoredJob | undefined> {
    const { rows } = await this.pool.query<JobRow>(STATEMENTS.findUnfinishedJob, [key]);
    return rows[0] && toJob(rows[0]);
  }

  async findCompletedJob(key: string): Promise<CompletedJob | undefined> {
    const { rows } = await this.pool.query<CompletedJobRow>(STATEMENTS.findCompletedJob, [key]);
    return rows[0] && toCompletedJob(rows[0]);
  }

  async getOutput(jobId: string): Promise<OutputFile | null> {
    const { rows } = await this.pool.query<Pick<CompletedJobRow, 'output_bytes' | 'output_sha256'>>(
      'SELECT output_bytes, output_sha256 FROM jobs WHERE id = $1',
      [jobId],
    );
    return rows[0] ? outputOf(rows[0]) : null;
  }

  async recordOutput(jobId: string, output: OutputFile): Promise<boolean> {
    const { rowCount } = await this.pool.query(STATEMENTS.recordOutput, [jobId, output.bytes, output.sha256]);
    return (rowCount ?? 0) > 0;
  }

  async getJob(id: string): Promise<StoredJob | undefined> {
    const { rows } = await this.pool.query<JobRow>(STATEMENTS.getJob, [id]);
    return rows[0] && toJob(rows[0]);
  }

  async listJobs(filter: JobFilter = {}): Promise<StoredJob[]> {
    const limit = filter.limit ?? 100;
    const { rows } =
      filter.tenant === undefined
        ? await this.pool.query<JobRow>(STATEMENTS.listJobs, [limit])
        : await this.pool.query<JobRow>(STATEMENTS.listTenantJobs, [filter.tenant, limit]);
    return rows.map(toJob);
  }

  async listRunningJobs(): Promise<StoredJob[]> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE state = 'running' ORDER BY created_at, id`,
    );
    return rows.map(toJob);
  }

  async getProbe(jobId: string): Promise<Record<string, unknown>> {
    const { rows } = await this.pool.query<{ probe: Record<string, unknown> }>(STATEMENTS.getProbe, [jobId]);
    if (!rows[0]) throw new Error(`unknown job ${jobId}`);
    return rows[0].probe;
  }

  async getFramePts(jobId: string, range: FrameRange): Promise<number[]> {
    // Only the requested bytes leave the server; callers ask for "to the end" with a huge `end`.
    const { rows } = await this.pool.query<{ pts: Buffer }>(
      `SELECT substring(frame_pts FROM $2 * 8 + 1 FOR GREATEST(0, LEAST($3::bigint, frame_count) - $2)::int * 8) AS pts
       FROM jobs WHERE id = $1`,
      [jobId, range.start, range.end],
    );
    if (!rows[0]) throw new Error(`unknown job ${jobId}`);
    return decodePts(rows[0].pts);
  }

  async getTask(taskId: string): Promise<Task | undefined> {
    const { rows } = await this.leasePool.query<TaskRow>({
      name: 'sf_get_task',
      text: STATEMENTS.getTask,
      values: [taskId],
    });
    return rows[0] && toTask(rows[0]);
  }

  async listTasks(jobId: string): Promise<Task[]> {
    const { rows } = await this.pool.query<TaskRow>(STATEMENTS.listTasks, [jobId]);
    return rows.map(toTask);
  }

  async listSegments(jobId: string): Promise<Segment[]> {
    const { rows } = await this.pool.query<SegmentRow>(STATEMENTS.listSegments, [jobId]);
    return rows.map(toSegment);
  }

  async listRejectedSegments(jobId: string): Promise<RejectedSegment[]> {
    const { rows } = await this.pool.query<RejectedSegmentRow>(
      `SELECT ${REJECTED_SEGMENT_COLUMNS} FROM rejected_segments WHERE job_id = $1 ORDER BY id`,
      [jobId],
    );
    return rows.map(toRejectedSegment);
  }

  async listEndedJobsWithSegments(endedBefore: number, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(STATEMENTS.listEndedJobsWithSegments, [
      endedBefore,
      limit,
    ]);
    return rows.map((r) => r.id);
  }

  async markSegmentsDeleted(jobId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(STATEMENTS.markSegmentsDeleted, [jobId, now]);
    return (rowCount ?? 0) > 0;
  }

  async listAttempts(jobId: string): Promise<Attempt[]> {
    const { rows } = await this.pool.query<AttemptRow>(STATEMENTS.listAttempts, [jobId]);
    return rows.map(toAttempt);
  }

  async getAttempt(taskId: string, epoch: number): Promise<Attempt | undefined> {
    const { rows } = await this.pool.query<AttemptRow>({
      name: 'sf_get_attempt',
      text: STATEMENTS.getAttempt,
      values: [taskId, epoch],
    });
    return rows[0] && toAttempt(rows[0]);
  }

  async retryFailedJob(jobId: string): Promise<void> {
    await this.tx(async (c) => {
      // The job row first: a release failing another task meanwhile then lands after this retry, as in SQLite.
      const job = await c.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
      if (job.rowCount === 0) return;
      // Then its failed tasks in id order, as heartbeat batches lock theirs: the update alone would lock
      // them in the order of its index scan (seq, whose order differs from id's for the merge task and past
      // 10,000 chunks).
      await c.query(`SELECT 1 FROM tasks WHERE job_id = $1 AND state = 'failed' ORDER BY id FOR UPDATE`, [
        jobId,
      ]);
      await c.query(STATEMENTS.retryFailedTasks, [jobId]);
      await c.query(
        // Merging only once every chunk is done: a merge that rejected segments left chunks to redo.
        `UPDATE jobs SET state = CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE job_id = $1 AND kind = 'merge')
             AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = $1 AND kind = 'process' AND state <> 'done')
           THEN 'merging' ELSE 'running' END, error = NULL, finished_at = NULL
         WHERE id = $1 AND state = 'failed'`,
        [jobId],
      );
    });
  }

  async cancelJob(jobId: string, now: number): Promise<boolean> {
    return this.tx(async (c) => {
      // Tasks first, then the job, as every lease call locks them: no deadlock with a concurrent complete.
      await c.query('SELECT 1 FROM tasks WHERE job_id = $1 ORDER BY id FOR UPDATE', [jobId]);
      const ended = await c.query(STATEMENTS.cancelJob, [jobId, now]);
      if (ended.rowCount === 0) return false;
      await c.query(STATEMENTS.interruptJobAttempts, [jobId, now]);
      await c.query(STATEMENTS.cancelJobTasks, [jobId]);
      return true;
    });
  }

  async claim(req: ClaimRequest): Promise<ClaimedTask | undefined> {
    const skip = claimExclusions(req);
    // One statement: one round trip, no explicit transaction. Jobs in claim order first (there are few),
    // then each job's first free task through the tasks_pending index: a claim costs the same with 10 or
    // 100,000 pending tasks (0.1 ms with 10k, against 11 ms for a join sorted over every pending task).
    // The plan is a nested loop over the sorted jobs, so the LIMIT stops at the first job with a free
    // task and only that row is locked. Jobs are in fair-share order (claimOrderSql.ts) over their priority
    // column: a claim never evaluates a tenant's JSON (one spec PostgreSQL cannot parse would fail every claim).
    const session = await this.groupCommit.session();
    const claimed = await this.leasePool.query<
      TaskRow & { job: JobRow & { probe: Record<string, unknown> }; pts: Buffer | null; pts_from: number }
    >({
      name: `sf_claim_${Number(skip.merge)}${Number(skip.urgent)}${Number(skip.interruptionCap !== undefined)}_${skip.engines?.join('_') ?? 'any'}`,
      text: `WITH picked AS (
         SELECT t.id FROM (
           ${claimableJobsSql(claimableWhereSql(skip))}
           ORDER BY ${claimOrderSql()}
         ) j
         CROSS JOIN LATERAL (
           SELECT id FROM tasks WHERE job_id = j.id AND state = 'pending'
           AND (kind = 'process' OR j.state = 'merging')
           ${skip.merge ? `AND kind <> 'merge'` : ''}
           ${skip.interruptionCap !== undefined ? 'AND preemptions < $8' : ''}
           ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED
         ) t
         ORDER BY ${claimOrderSql('j')}
         LIMIT 1
       ), claimed AS (
         UPDATE tasks SET state = 'running', epoch = epoch + 1, worker_id = $1, lease_expires_at = $2
         WHERE id = (SELECT id FROM picked)
         RETURNING *
       ), attempt AS (
         INSERT INTO attempts (task_id, job_id, worker_id, epoch, started_at, outcome, cloud, instance_type, zone, lifecycle)
         SELECT id, job_id, $1, epoch, $3, 'running', $4, $5, $6, $7 FROM claimed
       )
       -- The job and a process task's timestamps in the same round trip (claimPtsFrom: one frame before
       -- next_frame). A job's spec and probe never change, so they need no lock.
       SELECT ${TASK_COLUMNS},
         (SELECT row_to_json(j) FROM (SELECT ${JOB_COLUMNS}, probe FROM jobs WHERE id = c.job_id) j) AS job,
         GREATEST(0, next_frame - 1) AS pts_from,
         CASE WHEN kind = 'process' THEN (
           SELECT substring(frame_pts FROM GREATEST(0, c.next_frame - 1) * 8 + 1
                            FOR GREATEST(0, LEAST(c.end_frame, frame_count) - GREATEST(0, c.next_frame - 1)) * 8)
           FROM jobs WHERE id = c.job_id)
         END AS pts
       FROM claimed c`,
      values: [
        req.workerId,
        req.now + req.leaseTtlMs,
        req.now,
        req.instance?.cloud ?? null,
        req.instance?.instanceType ?? null,
        req.instance?.zone ?? null,
        req.instance?.lifecycle ?? null,
        ...(skip.interruptionCap !== undefined ? [skip.interruptionCap] : []),
      ],
    });
    const row = claimed.rows[0];
    if (!row) return undefined;
    await this.groupCommit.durable(session);
    const { job, pts, pts_from, ...task } = row;
    return {
      task: toTask(task),
      job: toJob(job),
      probe: job.probe,
      framePts: pts ? decodePts(pts) : [],
      framePtsFrom: pts ? pts_from : 0,
    };
  }

  /** Locks the task row and reads its job's state beside it: what every fenced call decides on. */
  private async lockLease(c: pg.PoolClient, taskId: string): Promise<LeaseRow | undefined> {
    const { rows } = await c.query<LeaseRow>({
      name: 'sf_lock_lease',
      text: `SELECT ${TASK_COLUMNS}, (SELECT state FROM jobs WHERE id = t.job_id) AS job_state FROM tasks t
             WHERE id = $1 FOR UPDATE`,
      values: [taskId],
    });
    return rows[0];
  }

  heartbeat(
    taskId: string,
    epoch: number,
    progress: HeartbeatProgress,
    now: number,
    leaseTtlMs: number,
  ): Promise<LeaseResult> {
    return this.heartbeats.submit({ taskId, epoch, progress, expiresAt: now + leaseTtlMs });
  }

  /**
   * The most frequent lease call, in batches (StatementBatch): lock each task, check its lease, extend it
   * and record progress, for every heartbeat of the batch in one statement. Tasks are locked in id order, as
   * the lease sweeps, cancels and retries lock theirs, so that two batches, or a batch and one of those, never
   * wait on each other in a circle.
   */
  private async heartbeatBatch(calls: HeartbeatCall[]): Promise<LeaseResult[]> {
    const { rows } = await this.leasePool.query<
      { id: string } & Pick<LeaseRow, 'epoch' | 'state' | 'job_state'>
    >({
      name: 'sf_heartbeats',
      text: `WITH asked AS (
         SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::float8[], $6::float8[],
           $7::int[], $8::int[])
           AS a (id, epoch, expires_at, frames_done, fps, gpu_utilization, gpu_memory_used_mib, gpu_memory_total_mib)
       ), lease AS (
         SELECT id, epoch, state, (SELECT state FROM jobs WHERE id = t.job_id) AS job_state FROM tasks t
         WHERE id IN (SELECT id FROM asked) ORDER BY id FOR UPDATE
       ), held AS (
         SELECT a.* FROM asked a WHERE EXISTS (SELECT 1 FROM lease WHERE lease.id = a.id AND ${leaseHeldSql('a.epoch')})
       ), extended AS (
         UPDATE tasks SET lease_expires_at = held.expires_at FROM held WHERE tasks.id = held.id
       ), progress AS (
         UPDATE attempts SET frames_done = GREATEST(attempts.frames_done, held.frames_done), fps = held.fps,
           gpu_utilization = COALESCE(held.gpu_utilization, attempts.gpu_utilization),
           gpu_memory_used_mib = COALESCE(held.gpu_memory_used_mib, attempts.gpu_memory_used_mib),
           gpu_memory_total_mib = COALESCE(held.gpu_memory_total_mib, attempts.gpu_memory_total_mib)
         FROM held WHERE attempts.task_id = held.id AND attempts.epoch = held.epoch
       )
       SELECT id, epoch, state, job_state FROM lease`,
      values: [
        calls.map((c) => c.taskId),
        calls.map((c) => c.epoch),
        calls.map((c) => c.expiresAt),
        calls.map((c) => c.progress.framesDone),
        calls.map((c) => c.progress.fps ?? null),
        calls.map((c) => c.progress.gpuUtilization ?? null),
        calls.map((c) => c.progress.gpuMemoryUsedMiB ?? null),
        calls.map((c) => c.progress.gpuMemoryTotalMiB ?? null),
      ],
    });
    const leases = new Map(rows.map((row) => [row.id, leaseView(row)]));
    return calls.map((c) => leaseVerdict(leases.get(c.taskId), c.epoch));
  }

  async checkpoint(
    taskId: string,
    epoch: number,
    segment: CheckpointRequest,
    now: number,
    recorded?: () => void,
  ): Promise<LeaseResult | ProtocolViolation> {
    const { start, end } = segment.range;
    // One statement: lock, check, and record the segment only if it continues the task's chain.
    const session = await this.groupCommit.session();
    const { rows } = await this.leasePool.query<ChainRow & { recorded: boolean; same: boolean | null }>({
      name: 'sf_checkpoint',
      text: `WITH lease AS (
         SELECT ${LEASE_CHAIN_COLUMNS} FROM tasks t WHERE id = $1::text FOR UPDATE
       ), allowed AS (
         SELECT job_id FROM lease
         WHERE ${leaseHeldSql('$5::int')} AND ${continuesChainSql('$2::int', '$3::int')}
       ), segment AS (
         INSERT INTO segments (task_id, job_id, start_frame, end_frame, key, epoch, created_at, sha256, bytes, decoded)
         SELECT $1::text, job_id, $2::int, $3::int, $4::text, $5::int, $6::bigint, $7::text, $8::bigint, $9::boolean
         FROM allowed
       ), task AS (
         UPDATE tasks SET next_frame = $3::int WHERE id = $1::text AND EXISTS (SELECT 1 FROM allowed)
       ), attempt AS (
         UPDATE attempts SET frames_checkpointed = frames_checkpointed + ($3::int - $2::int),
           frames_done = GREATEST(frames_done, frames_checkpointed + ($3::int - $2::int))
         WHERE task_id = $1::text AND epoch = $5::int AND EXISTS (SELECT 1 FROM allowed)
       )
       SELECT ${CHAIN_COLUMNS}, EXISTS (SELECT 1 FROM allowed) AS recorded,
         -- Read for a retry only (a segment behind the chain): a generic plan made while segments was small
         -- scans the table, and it grows with every checkpoint.
         CASE WHEN $2::int < next_frame THEN EXISTS (SELECT 1 FROM segments
                 WHERE task_id = $1::text AND start_frame = $2::int AND end_frame = $3::int AND key = $4::text)
         END AS same
       FROM lease`,
      values: [
        taskId,
        start,
        end,
        segment.key,
        epoch,
        now,
        segment.sha256 ?? null,
        segment.bytes ?? null,
        segment.decoded === true,
      ],
    });
    // Every answer waits: a refusal or a retry's ok may rest on another call's commit not yet flushed.
    await this.groupCommit.durable(session);
    const row = rows[0];
    const held = leaseVerdict(row && leaseView(row), epoch);
    if (held !== 'ok' || !row) return held;
    if (row.recorded) {
      recorded?.();
      return held;
    }
    const verdict = checkpointVerdict(taskId, chainView(row), segment.range, () => row.same === true);
    if (verdict === 'record') throw new Error(`checkpoint of ${taskId}: the SQL and core verdicts disagree`);
    return verdict;
  }

  async complete(
    taskId: string,
    epoch: number,
    now: number,
    output?: OutputFile,
    ended?: (task: CompletedTask) => void,
  ): Promise<LeaseResult | ProtocolViolation> {
    // One statement: lock, check, and end the task (and, for a merge, the job) only if it may complete.
    const session = await this.groupCommit.session();
    const { rows } = await this.leasePool.query<
      ChainRow &
        Pick<LeaseRow, 'job_id'> & { completed: boolean; pending_left: boolean; attempt: AttemptRow | null }
    >({
      name: 'sf_complete',
      text: `WITH lease AS (
         SELECT ${LEASE_CHAIN_COLUMNS} FROM tasks t WHERE id = $1::text FOR UPDATE
       ), allowed AS (
         SELECT job_id, kind FROM lease
         WHERE ${leaseHeldSql('$2::int')} AND ${MAY_COMPLETE_SQL}
       ), task AS (
         UPDATE tasks SET state = 'done', worker_id = NULL, lease_expires_at = NULL
         WHERE id = $1::text AND EXISTS (SELECT 1 FROM allowed)
       ), attempt AS (
         UPDATE attempts SET outcome = 'completed', error = NULL, ended_at = $3::bigint
         WHERE task_id = $1::text AND epoch = $2::int AND outcome = 'running' AND EXISTS (SELECT 1 FROM allowed)
         RETURNING ${ATTEMPT_COLUMNS}
       ), job AS (
         UPDATE jobs SET state = 'completed', finished_at = $3::bigint, output_bytes = $4::bigint,
           output_sha256 = $5::text
         WHERE id = (SELECT job_id FROM allowed WHERE kind = 'merge')
       )
       SELECT ${CHAIN_COLUMNS}, job_id, EXISTS (SELECT 1 FROM allowed) AS completed,
         (SELECT row_to_json(a) FROM attempt a) AS attempt,
         -- Whether the job's last other unfinished chunk by seq is pending: a few entries from the end of
         -- its range of tasks_unfinished, whose dead entries (done chunks) lie mostly at its start. Not a
         -- search of tasks_pending: once every chunk is claimed, all of the job's entries there are dead,
         -- and while any transaction holds back the horizon, each completion would step over them all.
         (SELECT p.state FROM tasks p
          WHERE p.job_id = lease.job_id AND p.state <> 'done' AND p.kind = 'process' AND p.id <> $1::text
          ORDER BY p.seq DESC LIMIT 1) = 'pending' AS pending_left
       FROM lease`,
      values: [taskId, epoch, now, output?.bytes ?? null, output?.sha256 ?? null],
    });
    const row = rows[0];
    // The merge is scheduled after the commit, not under a job-row lock that every completion of the job
    // would queue on, and only by a completion that did not see the job's last other unfinished chunk
    // pending: most, with chunks still pending, skip that round trip. Of the last chunks completing at
    // once, the one that commits last saw the others done or running (and they committed before it), so its
    // scheduling finds every chunk done; unless a chunk pending in its view was claimed, worked and
    // completed while its statement ran.
    // That race, and a coordinator dying between the two steps, leave the merge to the lease sweep
    // (expireLeases).
    if (row?.completed && row.kind !== 'merge' && !row.pending_left)
      await this.scheduleMerges(this.leasePool, 'sf_schedule_job_merge', 'j.id = $1', [row.job_id]);
    // Every answer waits: a refusal may rest on another call's commit not yet flushed.
    await this.groupCommit.durable(session);
    const verdict = completeVerdict(taskId, row && chainView(row), epoch);
    if (verdict !== 'complete') return verdict;
    if (!row.completed) throw new Error(`completion of ${taskId}: the SQL and core verdicts disagree`);
    ended?.({ kind: row.kind as TaskKind, attempt: row.attempt ? toAttempt(row.attempt) : undefined });
    return 'ok';
  }

  /** Queues the merge of every matching running job whose chunks are all done; safe to run twice at once. */
  private async scheduleMerges(db: pg.Pool, name: string, where: string, values: unknown[]): Promise<void> {
    await db.query({
      name,
      text: `WITH ready AS (
         SELECT j.id, j.frame_count FROM jobs j
         WHERE ${where} AND j.state = 'running'
           -- The last unfinished task by seq: the planner answers it from tasks_unfinished, whatever its
           -- row estimates say (an EXISTS would let it scan the table past every done task instead). From
           -- the end: tasks are claimed in seq order, so the index entries that completions left behind
           -- (dead until a vacuum) lie at the start of the job's range, and the tail has an unfinished one.
           AND (SELECT t.seq FROM tasks t WHERE t.job_id = j.id AND t.state <> 'done' AND t.kind = 'process'
                ORDER BY t.seq DESC LIMIT 1) IS NULL
       ), merge AS (
         INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
         SELECT id || '-merge', id, 'merge', ${MERGE_SEQ}, 0, frame_count, 0, 'pending' FROM ready
         ON CONFLICT (id) DO NOTHING
       )
       UPDATE jobs SET state = 'merging' FROM ready WHERE jobs.id = ready.id AND jobs.state = 'running'`,
      values,
    });
  }

  async release(
    taskId: string,
    epoch: number,
    reason: ReleaseReason,
    error: string | null,
    now: number,
    maxAttempts: number,
  ): Promise<LeaseResult> {
    return this.tx(async (c) => {
      const row = await this.lockLease(c, taskId);
      const verdict = leaseVerdict(row && leaseView(row), epoch);
      if (verdict !== 'ok' || !row) return verdict;
      const next = decideRelease(row, reason, maxAttempts);
      await c.query(
        `UPDATE tasks SET state = $2, failures = $3, preemptions = $4, last_error = COALESCE($5, last_error),
           worker_id = NULL, lease_expires_at = NULL
         WHERE id = $1`,
        [taskId, next.state, next.failures, next.preemptions, error],
      );
      await this.endAttempt(c, taskId, epoch, reason, error, now);
      if (next.state === 'failed') {
        await c.query(`UPDATE jobs SET state = 'failed', error = $2, finished_at = $3 WHERE id = $1`, [
          row.job_id,
          taskFailedError(taskId, next.failures, error),
          now,
        ]);
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
    return this.tx(async (c) => {
      const merge = await this.lockLease(c, mergeTaskId);
      const verdict = leaseVerdict(merge && leaseView(merge), epoch);
      if (verdict !== 'ok' || !merge) return { result: verdict, dropped: [], jobFailed: false };
      const rejected = firstRejections(mergeTaskId, merge.kind, rejections);
      // Tasks before the job, in id order, as every lease call locks them.
      const { rows: tasks } = await c.query<TaskRow>(
        `SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ANY($1::text[]) AND job_id = $2 ORDER BY id FOR UPDATE`,
        [rejected.map((r) => r.taskId), merge.job_id],
      );
      const dropped: string[] = [];
      let jobError: string | undefined;
      for (const rejection of rejected) {
        const task = tasks.find((t) => t.id === rejection.taskId);
        const { rows: segments } = await c.query<SegmentRow>(
          `DELETE FROM segments WHERE task_id = $1 AND start_frame >= $2 RETURNING ${SEGMENT_COLUMNS}`,
          [rejection.taskId, rejection.startFrame],
        );
        segments.sort((a, b) => a.start_frame - b.start_frame);
        if (!task || segments[0]?.start_frame !== rejection.startFrame)
          throw unknownSegment(rejection, merge.job_id);
        await c.query(
          `INSERT INTO rejected_segments (task_id, job_id, start_frame, end_frame, key, epoch, reason, rejected_at)
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::int[], $7::text[], $8::bigint[])`,
          [
            segments.map((s) => s.task_id),
            segments.map((s) => s.job_id),
            segments.map((s) => s.start_frame),
            segments.map((s) => s.end_frame),
            segments.map((s) => s.key),
            segments.map((s) => s.epoch),
            segments.map((_, i) => rejectionReason(rejection, i)),
            segments.map(() => now),
          ],
        );
        dropped.push(...segments.map((s) => s.key));
        const next = decideRelease(task, 'error', maxAttempts);
        await c.query(
          'UPDATE tasks SET state = $2, failures = $3, next_frame = $4, last_error = $5 WHERE id = $1',
          [rejection.taskId, next.state, next.failures, rejection.startFrame, rejection.reason],
        );
        if (next.state === 'failed')
          jobError ??= taskFailedError(rejection.taskId, next.failures, rejection.reason);
      }
      await c.query(
        `UPDATE tasks SET state = 'pending', worker_id = NULL, lease_expires_at = NULL WHERE id = $1`,
        [mergeTaskId],
      );
      await this.endAttempt(c, mergeTaskId, epoch, 'error', mergeRejectionError(rejected.length), now);
      if (jobError !== undefined) {
        await c.query(`UPDATE jobs SET state = 'failed', error = $2, finished_at = $3 WHERE id = $1`, [
          merge.job_id,
          jobError,
          now,
        ]);
      } else {
        await c.query(`UPDATE jobs SET state = 'running' WHERE id = $1 AND state = 'merging'`, [
          merge.job_id,
        ]);
      }
      return { result: 'ok', dropped, jobFailed: jobError !== undefined };
    });
  }

  private async endAttempt(
    c: pg.PoolClient,
    taskId: string,
    epoch: number,
    outcome: AttemptOutcome,
    error: string | null,
    now: number,
  ): Promise<void> {
    await c.query(
      `UPDATE attempts SET outcome = $3, error = $4, ended_at = $5
       WHERE task_id = $1 AND epoch = $2 AND outcome = 'running'`,
      [taskId, epoch, outcome, error, now],
    );
  }

  async expireLeases(now: number, ended?: (leases: EndedLease[]) => void): Promise<number> {
    const expired = await this.endLeasesWhere('expired', now, leaseExpiredSql('$3'), [now]);
    // Jobs whose last completion did not schedule their merge (see complete) are left here.
    await this.scheduleMerges(this.pool, 'sf_schedule_merges', 'TRUE', []);
    if (ended && expired.length > 0) ended(expired);
    return expired.length;
  }

  async endLeases(outcome: LostLeaseOutcome, now: number, workerId?: string): Promise<number> {
    const ended =
      workerId === undefined
        ? await this.endLeasesWhere(outcome, now, 'TRUE', [])
        : await this.endLeasesWhere(outcome, now, 'worker_id = $3', [workerId]);
    return ended.length;
  }

  async leaseStats(): Promise<LeaseStats> {
    const [pending, running, jobs] = await Promise.all([
      this.pool.query<LeaseStats['pending'][number]>(STATEMENTS.pendingTasks),
      this.pool.query<LeaseStats['running'][number]>(STATEMENTS.runningTasks),
      this.pool.query<LeaseStats['jobs'][number]>(STATEMENTS.activeJobs),
    ]);
    return { pending: pending.rows, running: running.rows, jobs: jobs.rows };
  }

  async tenantLoad(tenant: string): Promise<TenantLoad> {
    // COUNT is int8, which this store's connections read as numbers.
    const { rows } = await this.pool.query<{ active_jobs: number; queued_tasks: number }>(
      STATEMENTS.tenantLoad,
      [tenant],
    );
    return { activeJobs: rows[0].active_jobs, queuedTasks: rows[0].queued_tasks };
  }

  /**
   * Locks the matching running tasks in id order (two replicas sweeping at once cannot deadlock), and a
   * lock that had to wait re-checks the condition, so a lease another replica just ended is not counted twice.
   */
  private async endLeasesWhere(
    outcome: LostLeaseOutcome,
    now: number,
    where: string,
    params: unknown[],
  ): Promise<EndedLease[]> {
    return this.tx(async (c) => {
      const { rows } = await c.query<EndedLease>(
        `WITH locked AS (
           SELECT id FROM tasks WHERE state = 'running' AND ${where} ORDER BY id FOR UPDATE
         ), ended AS (
           UPDATE tasks t SET ${LOST_LEASE_SET_SQL}
           FROM locked WHERE t.id = locked.id
           RETURNING t.id, t.job_id, t.epoch
         ), closed AS (
           UPDATE attempts a SET outcome = $1, error = NULL, ended_at = $2
           FROM ended WHERE a.task_id = ended.id AND a.epoch = ended.epoch AND a.outcome = 'running'
           RETURNING a.task_id, a.worker_id, a.lifecycle, a.started_at
         )
         SELECT ended.id AS "taskId", ended.job_id AS "jobId", ended.epoch, closed.worker_id AS "workerId",
                closed.lifecycle, closed.started_at AS "startedAt", $2::bigint AS "endedAt"
         FROM ended LEFT JOIN closed ON closed.task_id = ended.id`,
        [outcome, now, ...params],
      );
      return rows;
    });
  }

  async createToken(token: NewToken, secretHash: string, now: number): Promise<TokenRecord> {
    const { role, tenant } = checkNewToken(token);
    return this.tx(async (c) => {
      const { rows } = await c.query<TokenRow>(STATEMENTS.createToken, [
        newTokenId(),
        role,
        tenant,
        secretHash,
        now,
      ]);
      if (token.share !== undefined || token.maxRunning !== undefined)
        await c.query(setTenantShareSql('$1', '$2', '$3'), [
          tenant,
          token.share ?? 1,
          token.maxRunning ?? null,
        ]);
      return toToken(rows[0]);
    });
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.pool.query<TokenRow>(STATEMENTS.findTokenByHash, [secretHash]);
    return rows[0] && toToken(rows[0]);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    const r = await this.pool.query(STATEMENTS.revokeToken, [id, now]);
    return (r.rowCount ?? 0) > 0;
  }

  async touchToken(id: string, now: number): Promise<void> {
    await this.pool.query(STATEMENTS.touchToken, [id, now, now - TOKEN_TOUCH_INTERVAL_MS]);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const { rows } = await this.pool.query<TokenRow>(STATEMENTS.listTokens);
    return rows.map(toToken);
  }

  async getWebhookSecret(tenant: string | null, candidate: string, now: number): Promise<string> {
    const { rows } = await this.pool.query<{ secret: string }>(
      `WITH created AS (
         INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant) DO NOTHING RETURNING secret
       )
       SELECT secret FROM created UNION ALL SELECT secret FROM webhook_secrets WHERE tenant = $1`,
      [tenant ?? '', candidate, now],
    );
    if (rows[0]) return rows[0].secret;
    // Another replica created it after this statement's snapshot was taken: it is committed now.
    const again = await this.pool.query<{ secret: string }>(
      'SELECT secret FROM webhook_secrets WHERE tenant = $1',
      [tenant ?? ''],
    );
    return again.rows[0].secret;
  }

  async setWebhookSecret(tenant: string | null, secret: string, now: number): Promise<void> {
    await this.pool.query(STATEMENTS.setWebhookSecret, [tenant ?? '', secret, now]);
  }

  async setJobNotify(jobId: string, notify: NotifySpec | undefined): Promise<void> {
    await this.pool.query(
      `UPDATE jobs SET spec = (CASE WHEN $2::jsonb IS NULL THEN spec::jsonb - 'notify'
         ELSE spec::jsonb || jsonb_build_object('notify', $2::jsonb) END)::json
       WHERE id = $1`,
      [jobId, notify === undefined ? null : JSON.stringify(notify)],
    );
  }

  async listNotifyingJobs(): Promise<StoredJob[]> {
    // The spec's text is matched, not its JSON evaluated: a spec PostgreSQL cannot parse must not stop the
    // notifications of every other job. A match is only a candidate (the key as written by JSON.stringify and
    // by jsonb alike); the parsed spec decides.
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE state IN ('running', 'merging') AND spec::text LIKE '%"notify":%'`,
    );
    return rows.map(toJob).filter((job) => job.spec.notify !== undefined);
  }

  async listUnnotifiedEnds(limit: number): Promise<StoredJob[]> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs
       WHERE finished_at IS NOT NULL AND notified_end IS DISTINCT FROM finished_at AND state IN ('completed', 'failed', 'canceled')
       ORDER BY finished_at LIMIT $1`,
      [limit],
    );
    return rows.map(toJob);
  }

  async queueEndNotifications(
    jobId: string,
    finishedAt: number,
    rows: NewNotification[],
    now: number,
  ): Promise<void> {
    await this.tx(async (c) => {
      await this.insertNotifications(c, rows, now);
      await c.query(STATEMENTS.markEndNotified, [jobId, finishedAt]);
    });
  }

  async queueNotifications(rows: NewNotification[], now: number): Promise<number> {
    return this.insertNotifications(this.pool, rows, now);
  }

  private async insertNotifications(
    db: pg.Pool | pg.PoolClient,
    rows: NewNotification[],
    now: number,
  ): Promise<number> {
    if (rows.length === 0) return 0;
    const column = <K extends keyof NewNotification>(k: K) => rows.map((r) => r[k]);
    const result = await db.query(
      `INSERT INTO notifications (id, job_id, event, channel, target, dedupe_key, payload, state, next_attempt_at, created_at)
       SELECT r.id, r.job_id, r.event, r.channel, r.target, r.dedupe_key, r.payload, 'pending', $8, $8
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
         AS r (id, job_id, event, channel, target, dedupe_key, payload)
       ON CONFLICT (dedupe_key) DO NOTHING`,
      [
        column('id'),
        column('jobId'),
        column('event'),
        column('channel'),
        column('target'),
        column('dedupeKey'),
        column('payload'),
        now,
      ],
    );
    return result.rowCount ?? 0;
  }

  async claimDueNotifications(
    owner: string,
    now: number,
    lockMs: number,
    limit: number,
  ): Promise<Notification[]> {
    // SKIP LOCKED: a replica claiming at the same moment takes other rows instead of waiting for these.
    const { rows } = await this.pool.query<NotificationRow>(
      `WITH due AS (
         SELECT id FROM notifications
         WHERE state = 'pending' AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until <= $2)
         ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED
       )
       UPDATE notifications n SET locked_by = $1, locked_until = $2::bigint + $3::bigint
       FROM due, jobs j WHERE n.id = due.id AND j.id = n.job_id
       RETURNING ${NOTIFICATION_COLUMNS}`,
      [owner, now, lockMs, limit],
    );
    return rows.map(toNotification).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt);
  }

  async recordDelivery(
    owner: string,
    id: string,
    attempt: DeliveryAttemptResult,
    next: NextDelivery,
  ): Promise<boolean> {
    return this.tx(async (c) => {
      const { rows } = await c.query<{ attempts: number; job_id: string }>(
        `UPDATE notifications SET attempts = attempts + 1, state = $3, next_attempt_at = $4,
           locked_by = NULL, locked_until = NULL, last_error = $5,
           delivered_at = CASE WHEN $6::boolean THEN $7::bigint ELSE delivered_at END
         WHERE id = $1 AND locked_by = $2 RETURNING attempts, job_id`,
        [id, owner, next.state, next.nextAttemptAt, attempt.error, attempt.delivered, attempt.at],
      );
      if (!rows[0]) return false;
      await c.query(
        `INSERT INTO notification_attempts
           (notification_id, job_id, attempt, attempted_at, duration_ms, delivered, status_code, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          id,
          rows[0].job_id,
          rows[0].attempts,
          attempt.at,
          Math.round(attempt.durationMs),
          attempt.delivered,
          attempt.statusCode,
          attempt.error,
        ],
      );
      return true;
    });
  }

  async listNotifications(jobId: string): Promise<Notification[]> {
    const { rows } = await this.pool.query<NotificationRow>(STATEMENTS.listNotifications, [jobId]);
    return rows.map(toNotification);
  }

  async listDeliveryAttempts(jobId: string): Promise<DeliveryAttempt[]> {
    const { rows } = await this.pool.query<DeliveryAttemptRow>(STATEMENTS.listDeliveryAttempts, [jobId]);
    return rows.map(toDeliveryAttempt);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.leasePool.end(), this.groupCommit.close()]);
  }
}
