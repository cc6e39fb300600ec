/**
 * The statements both stores run word for word: one text each, with PostgreSQL's numbered placeholders
 * (`$1`), which the SQLite store binds by number (`numbered`). A statement a dialect writes its own way (the
 * PostgreSQL lease calls, one round trip each; SQLite's transactions of several statements) stays in its
 * store; the lease verdicts they apply are core/lease.ts's, in SQL through leaseSql.ts.
 */
import {
  ATTEMPT_COLUMNS,
  DELIVERY_ATTEMPT_COLUMNS,
  ENDED_STATES,
  JOB_COLUMNS,
  NOTIFICATION_COLUMNS,
  SEGMENT_COLUMNS,
  TASK_COLUMNS,
  TOKEN_COLUMNS,
} from './rows.js';
import { PRIORITY_RANK } from './store.js';

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
  retryFailedTasks: `UPDATE tasks SET state = 'pending', failures = 0 WHERE job_id = $1 AND state = 'failed'`,
  // A cancel: the job, then its running attempts and its unfinished tasks.
  cancelJob: `UPDATE jobs SET state = 'canceled', finished_at = $2 WHERE id = $1 AND state IN ('running', 'merging')`,
  interruptJobAttempts: `UPDATE attempts SET outcome = 'interrupted', ended_at = $2
    WHERE job_id = $1 AND outcome = 'running'`,
  cancelJobTasks: `UPDATE tasks SET state = 'canceled', worker_id = NULL, lease_expires_at = NULL
    WHERE job_id = $1 AND state IN ('pending', 'running')`,
  // Gauges
  pendingTasks: `SELECT t.kind,
      CASE WHEN j.priority >= ${PRIORITY_RANK.urgent} THEN 'urgent' ELSE 'normal' END AS priority, COUNT(*) AS count
    FROM tasks t JOIN jobs j ON j.id = t.job_id
    WHERE t.state = 'pending' AND j.state IN ('running', 'merging')
    GROUP BY 1, 2`,
  runningTasks: `SELECT a.lifecycle, COUNT(*) AS count
    FROM tasks t JOIN attempts a ON a.task_id = t.id AND a.epoch = t.epoch
    WHERE t.state = 'running' GROUP BY 1`,
  activeJobs: `SELECT state, COUNT(*) AS count FROM jobs WHERE state IN ('running', 'merging') GROUP BY 1`,
  tenantLoad: `SELECT COUNT(DISTINCT j.id) AS active_jobs, COUNT(t.id) AS queued_tasks
    FROM jobs j LEFT JOIN tasks t ON t.job_id = j.id AND t.state IN ('pending', 'running')
    WHERE j.tenant = $1 AND j.state IN ('running', 'merging')`,
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
  markEndNotified: 'UPDATE jobs SET notified_end = $2 WHERE id = $1',
  listNotifications: `SELECT ${NOTIFICATION_COLUMNS} FROM notifications n JOIN jobs j ON j.id = n.job_id
    WHERE n.job_id = $1 ORDER BY n.created_at, n.id`,
  listDeliveryAttempts: `SELECT ${DELIVERY_ATTEMPT_COLUMNS} FROM notification_attempts a
    JOIN notifications n ON n.id = a.notification_id WHERE a.job_id = $1 ORDER BY a.id`,
  setWebhookSecret: `INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (tenant) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`,
} as const;

/** The values of a `$1`, `$2`… statement as better-sqlite3 binds them: by number. */
export function numbered(values: readonly unknown[]): Record<number, unknown> {
  return Object.fromEntries(values.map((value, i) => [i + 1, value]));
}
