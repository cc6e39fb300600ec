/**
 * The statements both stores run word for word: one text each, with PostgreSQL's numbered placeholders
 * (`$1`), which the SQLite store binds by number (`numbered`). A statement a dialect writes its own way (the
 * PostgreSQL lease calls, one round trip each; SQLite's transactions of several statements) stays in its
 * store; the lease verdicts they apply are core/lease.ts's, in SQL through leaseSql.ts.
 */
import {
  ATTEMPT_COLUMNS,
  ENDED_STATES,
  JOB_COLUMNS,
  SEGMENT_COLUMNS,
  TASK_COLUMNS,
  TOKEN_COLUMNS,
} from './rows.js';

export const STATEMENTS = {
  // Jobs
  findUnfinishedJob: `SELECT ${JOB_COLUMNS} FROM jobs WHERE key = $1 AND state != 'completed'
    ORDER BY created_at DESC LIMIT 1`,
  findCompletedJob: `SELECT ${JOB_COLUMNS}, output_bytes, output_sha256 FROM jobs
    WHERE key = $1 AND state = 'completed' ORDER BY created_at DESC LIMIT 1`,
  recordOutput: `UPDATE jobs SET output_bytes = $2, output_sha256 = $3 WHERE id = $1 AND state = 'completed'`,
  getJob: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`,
  listJobs: `SELECT ${JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1`,
  listTenantJobs: `SELECT ${JOB_COLUMNS} FROM jobs WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
  getProbe: 'SELECT probe FROM jobs WHERE id = $1',
  listEndedJobsWithSegments: `SELECT j.id FROM jobs j
    WHERE j.state IN ${ENDED_STATES} AND j.finished_at <= $1 AND j.segments_deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM segments s WHERE s.job_id = j.id)
    ORDER BY j.finished_at, j.id LIMIT $2`,
  markSegmentsDeleted: `UPDATE jobs SET segments_deleted_at = $2
    WHERE id = $1 AND state IN ${ENDED_STATES} AND segments_deleted_at IS NULL`,
  // Tasks, segments, attempts
  getTask: `SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1`,
  listTasks: `SELECT ${TASK_COLUMNS} FROM tasks WHERE job_id = $1 ORDER BY seq`,
  listSegments: `SELECT ${SEGMENT_COLUMNS} FROM segments WHERE job_id = $1 ORDER BY start_frame`,
  listAttempts: `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE job_id = $1 ORDER BY id`,
  getAttempt: `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE task_id = $1 AND epoch = $2`,
  // Tokens
  createToken: `INSERT INTO tokens (id, role, tenant, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)
    RETURNING ${TOKEN_COLUMNS}`,
  findTokenByHash: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1`,
  revokeToken: 'UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1',
  touchToken:
    'UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)',
  listTokens: `SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id`,
  // Notifications
  setWebhookSecret: `INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (tenant) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`,
} as const;

/** The values of a `$1`, `$2`… statement as better-sqlite3 binds them: by number. */
export function numbered(values: readonly unknown[]): Record<number, unknown> {
  return Object.fromEntries(values.map((value, i) => [i + 1, value]));
}
