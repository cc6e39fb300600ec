import type pg from 'pg';

/**
 * Cluster schema, applied in order; `schema_migrations` records each one by its number (index + 1).
 * Timestamps are epoch milliseconds; `frame_pts` holds Float64 little-endian values, as in SQLite.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    id text PRIMARY KEY,
    key text NOT NULL,
    state text NOT NULL,
    spec json NOT NULL,
    probe json NOT NULL,
    frame_pts bytea NOT NULL,
    frame_count integer NOT NULL,
    created_at bigint NOT NULL,
    finished_at bigint,
    error text
  );
  CREATE INDEX jobs_key ON jobs (key);
  CREATE TABLE tasks (
    id text PRIMARY KEY,
    job_id text NOT NULL REFERENCES jobs (id),
    kind text NOT NULL,
    seq integer NOT NULL,
    start_frame integer NOT NULL,
    end_frame integer NOT NULL,
    next_frame integer NOT NULL,
    state text NOT NULL,
    epoch integer NOT NULL DEFAULT 0,
    worker_id text,
    lease_expires_at bigint,
    failures integer NOT NULL DEFAULT 0,
    preemptions integer NOT NULL DEFAULT 0,
    last_error text
  );
  CREATE INDEX tasks_runnable ON tasks (state, job_id, seq);
  CREATE INDEX tasks_job ON tasks (job_id);
  CREATE TABLE segments (
    task_id text NOT NULL REFERENCES tasks (id),
    job_id text NOT NULL,
    start_frame integer NOT NULL,
    end_frame integer NOT NULL,
    key text NOT NULL,
    epoch integer NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (task_id, start_frame)
  );
  CREATE INDEX segments_job ON segments (job_id, start_frame);
  CREATE TABLE attempts (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id text NOT NULL REFERENCES tasks (id),
    job_id text NOT NULL,
    worker_id text NOT NULL,
    epoch integer NOT NULL,
    started_at bigint NOT NULL,
    ended_at bigint,
    outcome text NOT NULL,
    frames_done integer NOT NULL DEFAULT 0,
    frames_checkpointed integer NOT NULL DEFAULT 0,
    fps double precision,
    error text
  );
  CREATE UNIQUE INDEX attempts_task_epoch ON attempts (task_id, epoch);
  CREATE INDEX attempts_job ON attempts (job_id);
  `,
  // 2: access tokens (admin, worker, tenant) and the tenant that owns each job.
  `
  CREATE TABLE tokens (
    id text PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('worker', 'tenant')),
    tenant text,
    secret_hash text NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    revoked_at bigint,
    last_used_at bigint,
    CHECK ((role = 'tenant') = (tenant IS NOT NULL))
  );
  ALTER TABLE jobs ADD COLUMN tenant text;
  CREATE INDEX jobs_tenant ON jobs (tenant, created_at);
  `,
  // 3: the machine each attempt ran on (from its claim) and its latest heartbeat's GPU readings.
  `
  ALTER TABLE attempts
    ADD COLUMN cloud text,
    ADD COLUMN instance_type text,
    ADD COLUMN zone text,
    ADD COLUMN lifecycle text CHECK (lifecycle IN ('spot', 'on-demand')),
    ADD COLUMN gpu_utilization double precision,
    ADD COLUMN gpu_memory_used_mib integer,
    ADD COLUMN gpu_memory_total_mib integer;
  `,
  // 4: notifications: one webhook secret per tenant ('' for jobs without one), the outbox of deliveries
  // (one row per event and target; its id is the stable webhook-id), every delivery attempt, and the end
  // of each job (its finished_at) whose notifications have been queued.
  `
  CREATE TABLE webhook_secrets (
    tenant text PRIMARY KEY,
    secret text NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE TABLE notifications (
    id text PRIMARY KEY,
    job_id text NOT NULL REFERENCES jobs (id),
    event text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
    target text NOT NULL,
    dedupe_key text NOT NULL UNIQUE,
    payload text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    locked_by text,
    locked_until bigint,
    created_at bigint NOT NULL,
    delivered_at bigint,
    last_error text
  );
  CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
  CREATE INDEX notifications_job ON notifications (job_id, created_at);
  CREATE TABLE notification_attempts (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id text NOT NULL REFERENCES notifications (id),
    job_id text NOT NULL,
    attempt integer NOT NULL,
    attempted_at bigint NOT NULL,
    duration_ms integer NOT NULL,
    delivered boolean NOT NULL,
    status_code integer,
    error text
  );
  CREATE INDEX notification_attempts_job ON notification_attempts (job_id, id);
  ALTER TABLE jobs ADD COLUMN notified_end bigint;
  UPDATE jobs SET notified_end = finished_at;
  CREATE INDEX jobs_unnotified_end ON jobs (finished_at)
    WHERE finished_at IS NOT NULL AND notified_end IS DISTINCT FROM finished_at;
  `,
  // 5: when a job's segment blobs were deleted (retention sweep); its segment rows stay, for the record.
  `
  ALTER TABLE jobs ADD COLUMN segments_deleted_at bigint;
  `,
  // 6: lease calls whose cost grew with the queue. Whether a job has unfinished tasks (asked at every
  // completion) is read from an index of the unfinished ones, not by scanning past the done ones. Every claim
  // and completion leaves dead row versions whose index entries the next claims walk past until a vacuum
  // clears them, so tasks is vacuumed after a thousand changes rather than after a fifth of the table.
  `
  CREATE INDEX tasks_unfinished ON tasks (job_id, seq) WHERE state <> 'done';
  -- Every claim reads its chunk's few timestamps; stored uncompressed, that slice is read alone instead of
  -- decompressing the whole video's timestamps (800 KB for 100,000 frames) per claim.
  ALTER TABLE jobs ALTER COLUMN frame_pts SET STORAGE EXTERNAL;
  ALTER TABLE tasks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 5000);
  `,
  // 7: a job's claim priority in a column of its own (store.ts priorityRank: 1 urgent, 0 normal), so that no
  // claim and no queue gauge evaluates a tenant's JSON: one spec PostgreSQL cannot read (a \u0000 escape) made
  // every claim fail. The backfill matches the spec's text, so such a spec cannot stop the migration either
  // (specs are written by JSON.stringify, or as jsonb text with a space after the colon). The claim walks the
  // unfinished jobs in claim order through jobs_claim_order, which holds only them: beside 20,000 ended jobs,
  // a claim's generic plan read 8 buffers in 0.05-0.09 ms instead of scanning the table (2,865, 2.4-2.9 ms).
  `
  ALTER TABLE jobs ADD COLUMN priority smallint NOT NULL DEFAULT 0;
  UPDATE jobs SET priority = 1 WHERE spec::text ~ '"priority":\\s*"urgent"';
  CREATE INDEX jobs_claim_order ON jobs (priority DESC, created_at) INCLUDE (id)
    WHERE state IN ('running', 'merging');
  `,
  // 8: the output a completed job wrote (size and SHA-256), so that a rerun can tell it is already done.
  `
  ALTER TABLE jobs ADD COLUMN output_bytes bigint;
  ALTER TABLE jobs ADD COLUMN output_sha256 text;
  `,
  // 9: segment integrity: each segment's SHA-256 and size as its worker uploaded it (null: recorded before),
  // and the segments a merge found damaged, kept apart (their frames were queued again) for the report.
  `
  ALTER TABLE segments ADD COLUMN sha256 text;
  ALTER TABLE segments ADD COLUMN bytes bigint;
  CREATE TABLE rejected_segments (
    id bigserial PRIMARY KEY,
    task_id text NOT NULL REFERENCES tasks(id),
    job_id text NOT NULL,
    start_frame integer NOT NULL,
    end_frame integer NOT NULL,
    key text NOT NULL,
    epoch integer NOT NULL,
    reason text NOT NULL,
    rejected_at bigint NOT NULL
  );
  CREATE INDEX rejected_segments_job ON rejected_segments (job_id, id);
  `,
  // 10: a claim's first pending task of a job from an index of the pending ones. Through tasks_unfinished
  // (the plan a claim kept while every task was pending) it walked past each running task of the job, one
  // heap read each: with 500 workers 130-190 buffers and ~0.3 ms per claim, against 3 buffers here.
  `
  CREATE INDEX tasks_pending ON tasks (job_id, seq) WHERE state = 'pending';
  `,
  // 11: a tenant's share of the workers
  // (claims weigh its running tasks by it) and its cap on running tasks, set with its token.
  `
  CREATE TABLE tenant_shares (
    tenant text PRIMARY KEY,
    share double precision NOT NULL CHECK (share > 0),
    max_running integer CHECK (max_running > 0)
  );
  `,
  // 12: the engine a job runs on, beside its spec (as its priority, and backfilled from the spec's text for
  // the same reason), so that a claim gives its process tasks only to workers that announce that engine.
  `
  ALTER TABLE jobs ADD COLUMN engine text NOT NULL DEFAULT 'native';
  UPDATE jobs SET engine = 'facefusion' WHERE spec::text ~ '"engine":\\s*\\{[^}]*"name":\\s*"facefusion"';
  `,
  // 13: cancellations are told (job.cancelled) from now on; those before it are not.
  `
  UPDATE jobs SET notified_end = finished_at WHERE state = 'canceled';
  `,
  // 14: whether a segment's worker decoded it before the upload, which spares the merge decoding it again when
  // its bytes are the ones uploaded (null: recorded before, decoded by the merge).
  `
  ALTER TABLE segments ADD COLUMN decoded boolean;
  `,
];

// Any constant shared by every replica; it only has to differ from other advisory locks on the database.
const MIGRATION_LOCK = 0x5370_6f74_4675_7365n;

/** Applies the migrations not yet recorded; replicas starting at once wait for each other on the lock. */
export async function migratePostgres(client: pg.ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
    );
    const { rows } = await client.query<{ n: number }>(
      'SELECT COALESCE(MAX(version), 0) AS n FROM schema_migrations',
    );
    for (let i = rows[0].n; i < POSTGRES_MIGRATIONS.length; i++) {
      await client.query(POSTGRES_MIGRATIONS[i]);
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
        i + 1,
        Date.now(),
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}
