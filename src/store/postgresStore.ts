import pg from 'pg';
import { decideRelease } from '../core/lease.js';
import type {
  Attempt,
  AttemptOutcome,
  FrameRange,
  LeaseResult,
  ReleaseReason,
  Segment,
  Task,
} from '../core/types.js';
import { migratePostgres } from './postgresSchema.js';
import {
  ATTEMPT_COLUMNS,
  type AttemptRow,
  JOB_COLUMNS,
  type JobRow,
  SEGMENT_COLUMNS,
  type SegmentRow,
  TASK_COLUMNS,
  type TaskRow,
  TOKEN_COLUMNS,
  type TokenRow,
  toAttempt,
  toJob,
  toSegment,
  toTask,
  toToken,
} from './rows.js';
import {
  type CheckpointRequest,
  type ClaimedTask,
  type ClaimRequest,
  checkNewToken,
  claimExclusions,
  type EndedLease,
  type HeartbeatProgress,
  type JobFilter,
  type LeaseStats,
  type LostLeaseOutcome,
  MERGE_SEQ,
  type NewJob,
  type NewToken,
  newJobId,
  newTokenId,
  type Store,
  type StoredJob,
  TOKEN_TOUCH_INTERVAL_MS,
  type TokenRecord,
} from './store.js';

// Epoch milliseconds and counts are int8; pg hands those back as strings unless told otherwise.
const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format),
};

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
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;

  constructor(config: string | pg.PoolConfig) {
    this.pool = new pg.Pool({
      ...(typeof config === 'string' ? { connectionString: config } : config),
      types,
    });
    // An idle connection the server dropped: the pool replaces it, and the next query reports real trouble.
    this.pool.on('error', () => {});
  }

  /** Connects and brings the schema up to date. */
  static async open(config: string | pg.PoolConfig): Promise<PostgresStore> {
    const store = new PostgresStore(config);
    try {
      const client = await store.pool.connect();
      try {
        await migratePostgres(client);
      } finally {
        client.release();
      }
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  async createJob(job: NewJob, now: number): Promise<StoredJob> {
    const id = newJobId();
    return this.tx(async (c) => {
      const { rows } = await c.query<JobRow>(
        `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at, tenant)
         VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8) RETURNING ${JOB_COLUMNS}`,
        [
          id,
          job.key,
          JSON.stringify(job.spec),
          JSON.stringify(job.probe),
          encodePts(job.framePts),
          job.framePts.length,
          now,
          job.tenant ?? null,
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
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE key = $1 AND state != 'completed' ORDER BY created_at DESC LIMIT 1`,
      [key],
    );
    return rows[0] && toJob(rows[0]);
  }

  async getJob(id: string): Promise<StoredJob | undefined> {
    const { rows } = await this.pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
    return rows[0] && toJob(rows[0]);
  }

  async listJobs(filter: JobFilter = {}): Promise<StoredJob[]> {
    const limit = filter.limit ?? 100;
    const { rows } =
      filter.tenant === undefined
        ? await this.pool.query<JobRow>(
            `SELECT ${JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1`,
            [limit],
          )
        : await this.pool.query<JobRow>(
            `SELECT ${JOB_COLUMNS} FROM jobs WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
            [filter.tenant, limit],
          );
    return rows.map(toJob);
  }

  async getProbe(jobId: string): Promise<Record<string, unknown>> {
    const { rows } = await this.pool.query<{ probe: Record<string, unknown> }>(
      'SELECT probe FROM jobs WHERE id = $1',
      [jobId],
    );
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
    const { rows } = await this.pool.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1`, [
      taskId,
    ]);
    return rows[0] && toTask(rows[0]);
  }

  async listTasks(jobId: string): Promise<Task[]> {
    const { rows } = await this.pool.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks WHERE job_id = $1 ORDER BY seq`,
      [jobId],
    );
    return rows.map(toTask);
  }

  async listSegments(jobId: string): Promise<Segment[]> {
    const { rows } = await this.pool.query<SegmentRow>(
      `SELECT ${SEGMENT_COLUMNS} FROM segments WHERE job_id = $1 ORDER BY start_frame`,
      [jobId],
    );
    return rows.map(toSegment);
  }

  async listAttempts(jobId: string): Promise<Attempt[]> {
    const { rows } = await this.pool.query<AttemptRow>(
      `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE job_id = $1 ORDER BY id`,
      [jobId],
    );
    return rows.map(toAttempt);
  }

  async retryFailedJob(jobId: string): Promise<void> {
    await this.tx(async (c) => {
      // The job row first: a release failing another task meanwhile then lands after this retry, as in SQLite.
      const job = await c.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
      if (job.rowCount === 0) return;
      await c.query(
        `UPDATE tasks SET state = 'pending', failures = 0 WHERE job_id = $1 AND state = 'failed'`,
        [jobId],
      );
      await c.query(
        `UPDATE jobs SET state = CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE job_id = $1 AND kind = 'merge')
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
      const ended = await c.query(
        `UPDATE jobs SET state = 'canceled', finished_at = $2 WHERE id = $1 AND state IN ('running', 'merging')`,
        [jobId, now],
      );
      if (ended.rowCount === 0) return false;
      await c.query(
        `UPDATE attempts SET outcome = 'interrupted', ended_at = $2 WHERE job_id = $1 AND outcome = 'running'`,
        [jobId, now],
      );
      await c.query(
        `UPDATE tasks SET state = 'canceled', worker_id = NULL, lease_expires_at = NULL
         WHERE job_id = $1 AND state IN ('pending', 'running')`,
        [jobId],
      );
      return true;
    });
  }

  async claim(req: ClaimRequest): Promise<ClaimedTask | undefined> {
    return this.tx(async (c) => {
      const skip = claimExclusions(req);
      // Jobs in claim order first (there are few), then each job's first free task through the
      // tasks_runnable index: a claim costs the same with 10 or 100,000 pending tasks (0.1 ms with 10k,
      // against 11 ms for a join sorted over every pending task). The plan is a nested loop over the
      // sorted jobs, so the LIMIT stops at the first job with a free task and only that row is locked.
      const picked = await c.query<{ id: string }>(
        `SELECT t.id FROM (
           SELECT id, created_at, (spec->>'priority') IS NOT DISTINCT FROM 'urgent' AS urgent FROM jobs
           WHERE state IN ('running', 'merging')
           ${skip.urgent ? `AND (spec->>'priority') IS DISTINCT FROM 'urgent'` : ''}
           ORDER BY urgent DESC, created_at
         ) j
         CROSS JOIN LATERAL (
           SELECT id FROM tasks WHERE job_id = j.id AND state = 'pending'
           ${skip.merge ? `AND kind <> 'merge'` : ''}
           ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED
         ) t
         ORDER BY j.urgent DESC, j.created_at
         LIMIT 1`,
      );
      if (!picked.rows[0]) return undefined;
      const { rows } = await c.query<TaskRow>(
        `UPDATE tasks SET state = 'running', epoch = epoch + 1, worker_id = $2, lease_expires_at = $3
         WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
        [picked.rows[0].id, req.workerId, req.now + req.leaseTtlMs],
      );
      const task = rows[0];
      await c.query(
        `INSERT INTO attempts (task_id, job_id, worker_id, epoch, started_at, outcome, cloud, instance_type, zone, lifecycle)
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9)`,
        [
          task.id,
          task.job_id,
          req.workerId,
          task.epoch,
          req.now,
          req.instance?.cloud ?? null,
          req.instance?.instanceType ?? null,
          req.instance?.zone ?? null,
          req.instance?.lifecycle ?? null,
        ],
      );
      const job = await c.query<JobRow & { probe: Record<string, unknown> }>(
        `SELECT ${JOB_COLUMNS}, probe FROM jobs WHERE id = $1`,
        [task.job_id],
      );
      return { task: toTask(task), job: toJob(job.rows[0]), probe: job.rows[0].probe };
    });
  }

  private async lockTask(c: pg.PoolClient, taskId: string): Promise<TaskRow | undefined> {
    const { rows } = await c.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE`, [
      taskId,
    ]);
    return rows[0];
  }

  /** The locked task row if `epoch` still holds its lease, else why not. */
  private async leaseHolder(
    c: pg.PoolClient,
    row: TaskRow | undefined,
    epoch: number,
  ): Promise<TaskRow | Exclude<LeaseResult, 'ok'>> {
    if (!row || row.epoch !== epoch) return 'stale';
    const job = await c.query<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [row.job_id]);
    if (job.rows[0].state === 'canceled' || row.state === 'canceled') return 'canceled';
    if (row.state !== 'running') return 'stale';
    return row;
  }

  async heartbeat(
    taskId: string,
    epoch: number,
    progress: HeartbeatProgress,
    now: number,
    leaseTtlMs: number,
  ): Promise<LeaseResult> {
    return this.tx(async (c) => {
      const row = await this.leaseHolder(c, await this.lockTask(c, taskId), epoch);
      if (typeof row === 'string') return row;
      await c.query('UPDATE tasks SET lease_expires_at = $2 WHERE id = $1', [taskId, now + leaseTtlMs]);
      await c.query(
        `UPDATE attempts SET frames_done = GREATEST(frames_done, $3), fps = $4,
         gpu_utilization = COALESCE($5, gpu_utilization), gpu_memory_used_mib = COALESCE($6, gpu_memory_used_mib),
         gpu_memory_total_mib = COALESCE($7, gpu_memory_total_mib)
         WHERE task_id = $1 AND epoch = $2`,
        [
          taskId,
          epoch,
          progress.framesDone,
          progress.fps ?? null,
          progress.gpuUtilization ?? null,
          progress.gpuMemoryUsedMiB ?? null,
          progress.gpuMemoryTotalMiB ?? null,
        ],
      );
      return 'ok';
    });
  }

  async checkpoint(
    taskId: string,
    epoch: number,
    segment: CheckpointRequest,
    now: number,
  ): Promise<LeaseResult> {
    return this.tx(async (c) => {
      const row = await this.leaseHolder(c, await this.lockTask(c, taskId), epoch);
      if (typeof row === 'string') return row;
      const { start, end } = segment.range;
      if (start < row.next_frame) {
        // A retried call for a segment already recorded is fine; anything else overlapping is refused.
        const same = await c.query(
          'SELECT 1 FROM segments WHERE task_id = $1 AND start_frame = $2 AND end_frame = $3 AND key = $4',
          [taskId, start, end, segment.key],
        );
        return same.rowCount ? 'ok' : 'stale';
      }
      if (start !== row.next_frame || end <= start || end > row.end_frame) {
        throw new RangeError(
          `segment ${start}-${end} does not continue task ${taskId} at frame ${row.next_frame} (ends ${row.end_frame})`,
        );
      }
      await c.query(
        `INSERT INTO segments (task_id, job_id, start_frame, end_frame, key, epoch, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [taskId, row.job_id, start, end, segment.key, epoch, now],
      );
      await c.query('UPDATE tasks SET next_frame = $2 WHERE id = $1', [taskId, end]);
      await c.query(
        `UPDATE attempts SET frames_checkpointed = frames_checkpointed + $3,
           frames_done = GREATEST(frames_done, frames_checkpointed + $3)
         WHERE task_id = $1 AND epoch = $2`,
        [taskId, epoch, end - start],
      );
      return 'ok';
    });
  }

  async complete(taskId: string, epoch: number, now: number): Promise<LeaseResult> {
    const done = await this.tx(async (c): Promise<LeaseResult | { jobId: string }> => {
      const current = await this.lockTask(c, taskId);
      if (current?.state === 'done' && current.epoch === epoch) return 'ok';
      const row = await this.leaseHolder(c, current, epoch);
      if (typeof row === 'string') return row;
      if (row.kind === 'process' && row.next_frame < row.end_frame) {
        throw new RangeError(
          `task ${taskId} cannot complete: frames ${row.next_frame}-${row.end_frame} have no segment`,
        );
      }
      await c.query(
        `UPDATE tasks SET state = 'done', worker_id = NULL, lease_expires_at = NULL WHERE id = $1`,
        [taskId],
      );
      await this.endAttempt(c, taskId, epoch, 'completed', null, now);
      if (row.kind === 'merge') {
        await c.query(`UPDATE jobs SET state = 'completed', finished_at = $2 WHERE id = $1`, [
          row.job_id,
          now,
        ]);
        return 'ok';
      }
      return { jobId: row.job_id };
    });
    if (typeof done === 'string') return done;
    // After the commit, not under a job-row lock that every completion of the job would queue on: of
    // the last chunks completing at once, the one that commits last sees all of them done. A crash
    // between the two steps is caught by the lease sweep (expireLeases).
    await this.scheduleMerges(this.pool, 'j.id = $1', [done.jobId]);
    return 'ok';
  }

  /** Queues the merge of every matching running job whose chunks are all done; safe to run twice at once. */
  private async scheduleMerges(db: pg.Pool | pg.PoolClient, where: string, params: unknown[]): Promise<void> {
    await db.query(
      `WITH ready AS (
         SELECT j.id, j.frame_count FROM jobs j
         WHERE ${where} AND j.state = 'running'
           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.kind = 'process' AND t.state != 'done')
       ), merge AS (
         INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
         SELECT id || '-merge', id, 'merge', ${MERGE_SEQ}, 0, frame_count, 0, 'pending' FROM ready
         ON CONFLICT (id) DO NOTHING
       )
       UPDATE jobs SET state = 'merging' FROM ready WHERE jobs.id = ready.id AND jobs.state = 'running'`,
      params,
    );
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
      const row = await this.leaseHolder(c, await this.lockTask(c, taskId), epoch);
      if (typeof row === 'string') return row;
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
          `task ${taskId} failed ${next.failures} times: ${error ?? 'unknown error'}`,
          now,
        ]);
      }
      return 'ok';
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
    const expired = await this.endLeasesWhere('expired', now, 'lease_expires_at < $3', [now]);
    // A coordinator that died between a completion's commit and its merge scheduling left the job here.
    await this.scheduleMerges(this.pool, 'TRUE', []);
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
      this.pool.query<LeaseStats['pending'][number]>(
        `SELECT t.kind,
                CASE WHEN (j.spec->>'priority') IS NOT DISTINCT FROM 'urgent' THEN 'urgent' ELSE 'normal' END
                  AS priority,
                COUNT(*) AS count
         FROM tasks t JOIN jobs j ON j.id = t.job_id
         WHERE t.state = 'pending' AND j.state IN ('running', 'merging')
         GROUP BY 1, 2`,
      ),
      this.pool.query<LeaseStats['running'][number]>(
        `SELECT a.lifecycle, COUNT(*) AS count
         FROM tasks t JOIN attempts a ON a.task_id = t.id AND a.epoch = t.epoch
         WHERE t.state = 'running' GROUP BY 1`,
      ),
      this.pool.query<LeaseStats['jobs'][number]>(
        `SELECT state, COUNT(*) AS count FROM jobs WHERE state IN ('running', 'merging') GROUP BY 1`,
      ),
    ]);
    return { pending: pending.rows, running: running.rows, jobs: jobs.rows };
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
           UPDATE tasks t SET state = 'pending', preemptions = preemptions + 1, worker_id = NULL, lease_expires_at = NULL
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
    const { rows } = await this.pool.query<TokenRow>(
      `INSERT INTO tokens (id, role, tenant, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${TOKEN_COLUMNS}`,
      [newTokenId(), role, tenant, secretHash, now],
    );
    return toToken(rows[0]);
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.pool.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1`,
      [secretHash],
    );
    return rows[0] && toToken(rows[0]);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    const r = await this.pool.query('UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1', [
      id,
      now,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async touchToken(id: string, now: number): Promise<void> {
    await this.pool.query(
      'UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)',
      [id, now, now - TOKEN_TOUCH_INTERVAL_MS],
    );
  }

  async listTokens(): Promise<TokenRecord[]> {
    const { rows } = await this.pool.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id`,
    );
    return rows.map(toToken);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
