/** Embedded schema, applied in order; `PRAGMA user_version` records how many have run. */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    probe TEXT NOT NULL,
    frame_pts BLOB NOT NULL,
    frame_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    error TEXT
  );
  CREATE INDEX jobs_key ON jobs(key);
  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    start_frame INTEGER NOT NULL,
    end_frame INTEGER NOT NULL,
    next_frame INTEGER NOT NULL,
    state TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    worker_id TEXT,
    lease_expires_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    preemptions INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
  );
  CREATE INDEX tasks_runnable ON tasks(state, job_id, seq);
  CREATE INDEX tasks_job ON tasks(job_id);
  CREATE TABLE segments (
    task_id TEXT NOT NULL REFERENCES tasks(id),
    job_id TEXT NOT NULL,
    start_frame INTEGER NOT NULL,
    end_frame INTEGER NOT NULL,
    key TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, start_frame)
  );
  CREATE INDEX segments_job ON segments(job_id, start_frame);
  CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks(id),
    job_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    outcome TEXT NOT NULL,
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_checkpointed INTEGER NOT NULL DEFAULT 0,
    fps REAL,
    error TEXT
  );
  CREATE UNIQUE INDEX attempts_task_epoch ON attempts(task_id, epoch);
  CREATE INDEX attempts_job ON attempts(job_id);
  `,
  // 2: access tokens (admin, worker, tenant) and the tenant that owns each job.
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('worker', 'tenant')),
    tenant TEXT,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER,
    CHECK ((role = 'tenant') = (tenant IS NOT NULL))
  );
  ALTER TABLE jobs ADD COLUMN tenant TEXT;
  CREATE INDEX jobs_tenant ON jobs(tenant, created_at);
  `,
  // 3: the machine each attempt ran on (from its claim) and its latest heartbeat's GPU readings.
  `
  ALTER TABLE attempts ADD COLUMN cloud TEXT;
  ALTER TABLE attempts ADD COLUMN instance_type TEXT;
  ALTER TABLE attempts ADD COLUMN zone TEXT;
  ALTER TABLE attempts ADD COLUMN lifecycle TEXT CHECK (lifecycle IN ('spot', 'on-demand'));
  ALTER TABLE attempts ADD COLUMN gpu_utilization REAL;
  ALTER TABLE attempts ADD COLUMN gpu_memory_used_mib INTEGER;
  ALTER TABLE attempts ADD COLUMN gpu_memory_total_mib INTEGER;
  `,
  // 4: notifications: one webhook secret per tenant ('' for jobs without one), the outbox of deliveries
  // (one row per event and target; its id is the stable webhook-id), every delivery attempt, and the end
  // of each job (its finished_at) whose notifications have been queued.
  `
  CREATE TABLE webhook_secrets (
    tenant TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    event TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    target TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_by TEXT,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    last_error TEXT
  );
  CREATE INDEX notifications_due ON notifications(state, next_attempt_at);
  CREATE INDEX notifications_job ON notifications(job_id, created_at);
  CREATE TABLE notification_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL REFERENCES notifications(id),
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT
  );
  CREATE INDEX notification_attempts_job ON notification_attempts(job_id, id);
  ALTER TABLE jobs ADD COLUMN notified_end INTEGER;
  UPDATE jobs SET notified_end = finished_at;
  CREATE INDEX jobs_unnotified_end ON jobs(finished_at)
    WHERE finished_at IS NOT NULL AND notified_end IS NOT finished_at;
  `,
  // 5: when a job's segment blobs were deleted (retention sweep); its segment rows stay, for the record.
  `
  ALTER TABLE jobs ADD COLUMN segments_deleted_at INTEGER;
  `,
  // 6: a job's claim priority in a column of its own (store.ts priorityRank: 1 urgent, 0 normal), as in
  // PostgreSQL: claims and queue gauges read no tenant JSON.
  `
  ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  UPDATE jobs SET priority = 1 WHERE json_valid(spec) AND json_extract(spec, '$.priority') = 'urgent';
  CREATE INDEX jobs_claim_order ON jobs(priority DESC, created_at) WHERE state IN ('running', 'merging');
  `,
  // 7: the output a completed job wrote (size and SHA-256), so that a rerun can tell it is already done.
  `
  ALTER TABLE jobs ADD COLUMN output_bytes INTEGER;
  ALTER TABLE jobs ADD COLUMN output_sha256 TEXT;
  `,
  // 8: the frame timestamps in a table of their own. Stored inside the job row, a long video's (8 bytes a frame)
  // spilled onto a chain of overflow pages that SQLite walked to reach every column after it, on every claim
  // and completion: 0.6 ms a claim with 3M frames against 0.15 ms.
  `
  CREATE TABLE job_frames (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    frame_pts BLOB NOT NULL
  );
  INSERT INTO job_frames (job_id, frame_pts) SELECT id, frame_pts FROM jobs;
  ALTER TABLE jobs DROP COLUMN frame_pts;
  `,
  // 9: segment integrity: each segment's SHA-256 and size as its worker uploaded it (null: recorded before),
  // and the segments a merge found damaged, kept apart (their frames were queued again) for the report.
  `
  ALTER TABLE segments ADD COLUMN sha256 TEXT;
  ALTER TABLE segments ADD COLUMN bytes INTEGER;
  CREATE TABLE rejected_segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks(id),
    job_id TEXT NOT NULL,
    start_frame INTEGER NOT NULL,
    end_frame INTEGER NOT NULL,
    key TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    reason TEXT NOT NULL,
    rejected_at INTEGER NOT NULL
  );
  CREATE INDEX rejected_segments_job ON rejected_segments(job_id, id);
  `,
  // 10: a tenant's share of the workers and its
  // cap on running tasks, as in PostgreSQL.
  `
  CREATE TABLE tenant_shares (
    tenant TEXT PRIMARY KEY,
    share REAL NOT NULL CHECK (share > 0),
    max_running INTEGER CHECK (max_running > 0)
  );
  `,
  // 11: the engine a job runs on, beside its spec (as its priority), so that a claim gives its process
  // tasks only to workers that announce that engine.
  `
  ALTER TABLE jobs ADD COLUMN engine TEXT NOT NULL DEFAULT 'native';
  UPDATE jobs SET engine = 'facefusion' WHERE json_valid(spec) AND json_extract(spec, '$.engine.name') = 'facefusion';
  `,
  // 12: cancellations are told (job.cancelled) from now on; those before it are not.
  `
  UPDATE jobs SET notified_end = finished_at WHERE state = 'canceled';
  `,
  // 13: whether a segment's worker decoded it before the upload, which spares the merge decoding it again when
  // its bytes are the ones uploaded (null: recorded before, decoded by the merge).
  `
  ALTER TABLE segments ADD COLUMN decoded INTEGER;
  `,
];
