import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { loadDashboard } from '../api/dashboard.js';
import { buildApi } from '../api/server.js';
import { LocalBlobStore } from '../blob/localBlobStore.js';
import { deleteJobSegments } from '../coordinator/blobSweeps.js';
import { finishedJob, outputFile } from '../coordinator/finishedJob.js';
import { type CheckedJob, JobAdmission } from '../coordinator/jobAdmission.js';
import { checkJobRequest, type JobRequest } from '../coordinator/jobInput.js';
import { LeaseService } from '../coordinator/leaseService.js';
import { type NotificationSettings, notificationDispatcher } from '../coordinator/notifications.js';
import { jobReport } from '../coordinator/report.js';
import type { Job } from '../core/types.js';
import type { JobReport } from '../cost/jobReport.js';
import { loadPriceTable, type PriceTable } from '../cost/prices.js';
import type { BackoffOptions } from '../notify/backoff.js';
import { newWebhookSecret } from '../notify/standardWebhooks.js';
import { SqliteStore } from '../store/sqliteStore.js';
import type { Notification } from '../store/store.js';
import { LocalWorkers } from './localWorkers.js';
import { openPrivateStateDir } from './privateStateDir.js';
import { StateDirLock } from './stateDirLock.js';

export interface EmbeddedRunOptions {
  request: JobRequest;
  stateDir: string;
  workers: number;
  chunkFrames?: number;
  chunkSeconds?: number;
  leaseTtlMs: number;
  maxAttempts: number;
  /** Prices the report is costed at (default: the shipped table, local workers free). */
  prices?: PriceTable;
  /** The final report carries each task's cost (`cost.tasks`). */
  taskCosts?: boolean;
  /** Runs once the request is checked, before the job is queued: model downloads, source-face checks. */
  prepare?: (checked: CheckedJob) => Promise<void>;
  /** Command that starts one worker process (the CLI's `worker` command). */
  workerCommand: string[];
  /** Arguments for the local worker in slot 0 … workers − 1, appended to workerCommand. */
  workerArgs?: (slot: number) => string[];
  /**
   * Do the job even when this same request already completed and its output is unchanged (by default,
   * such a run only reports the finished job).
   */
  force?: boolean;
  /** Stops the run early (Ctrl-C): workers flush a checkpoint and release their tasks. */
  signal?: AbortSignal;
  /** Webhook and email delivery of this run's notifications (and any an earlier run left undelivered). */
  notify?: EmbeddedNotifyOptions;
  /** `webhookSecret`: what the job's webhooks are signed with, when it has webhooks. */
  onStart?: (info: { job: Job; resumed: boolean; workers: number; webhookSecret?: string }) => void;
  onProgress?: (report: JobReport) => void;
  /**
   * `--ui`: serve the web dashboard beside the lease API on 127.0.0.1, signed in by a one-run admin token
   * that travels in the address's fragment (never sent to the server, kept out of the browser's history).
   */
  onDashboard?: (url: string) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface EmbeddedNotifyOptions extends NotificationSettings {
  /** `whsec_…` to sign with; without it the state directory keeps a generated one. */
  webhookSecret?: string;
  /** How long the run waits, once the job has ended, for its notifications to be delivered. */
  waitMs: number;
  backoff?: Partial<BackoffOptions>;
}

export interface EmbeddedRunResult {
  report: JobReport;
  resumed: boolean;
  interrupted: boolean;
  /** The same request had completed and its output was unchanged: nothing ran, `report` is that job's. */
  alreadyDone: boolean;
  /** The job's notifications as they stood when the run stopped waiting for them. */
  notifications: Notification[];
}

const POLL_MS = 100;
const REPORT_MS = 1000;
const WORKER_STOP_GRACE_MS = 30_000;

/**
 * `spotfuse run`: the cluster protocol on loopback. Opens the state directory, creates the job (or finds
 * the unfinished one with the same inputs and options, and resumes it), serves the lease API on 127.0.0.1,
 * runs local worker processes against it, and returns when the job has completed or failed.
 */
export async function runEmbedded(options: EmbeddedRunOptions): Promise<EmbeddedRunResult> {
  const log = options.log ?? (() => {});
  const prices = options.prices ?? loadPriceTable();
  const database = openPrivateStateDir(options.stateDir, {
    dirs: ['blobs', 'logs', 'work'],
    database: 'state.db',
  });
  const lock = StateDirLock.acquire(options.stateDir);
  const store = new SqliteStore(database);
  let api: FastifyInstance | undefined;
  let workers: LocalWorkers | undefined;
  let notifications: ReturnType<typeof notificationDispatcher> | undefined;
  try {
    const finished = options.force ? undefined : await finishedJob(store, options.request);
    if (finished) {
      const report = await jobReport(store, finished.id, { prices, tasks: options.taskCosts });
      return { report, resumed: false, interrupted: false, alreadyDone: true, notifications: [] };
    }
    // Probing runs while the workers boot; its errors surface where it is awaited.
    const checking = checkJobRequest(options.request);
    checking.catch(() => {});
    if (options.notify?.webhookSecret)
      await store.setWebhookSecret(null, options.notify.webhookSecret, Date.now());
    // Running from the start: it also delivers what an earlier run in this directory left undelivered.
    notifications = notificationDispatcher(store, options.notify ?? {}, prices, {
      backoff: options.notify?.backoff,
      log,
    });
    notifications.dispatcher.start();
    // Whoever held leases in this state directory before us is gone: its work is runnable again.
    const lost = await store.endLeases('interrupted', Date.now());
    if (lost > 0) log('previous run was interrupted; resuming its tasks', { tasks: lost });
    const blobs = new LocalBlobStore(join(options.stateDir, 'blobs'));
    const leases = new LeaseService(store, blobs, {
      leaseTtlMs: options.leaseTtlMs,
      maxAttempts: options.maxAttempts,
    });
    const token = randomBytes(24).toString('base64url');
    const uiToken = options.onDashboard && randomBytes(24).toString('base64url');
    api = buildApi({
      leases,
      workerToken: token,
      ...(uiToken && {
        adminToken: uiToken,
        jobs: { store, blobs, prices },
        fleet: { store, prices },
        dashboard: loadDashboard() ?? null,
      }),
    });
    const address = await api.listen({ host: '127.0.0.1', port: 0 });
    if (uiToken) options.onDashboard?.(`${address}/#token=${uiToken}`);

    let crashes = 0;
    const pool = new LocalWorkers({
      count: options.workers,
      command: [
        ...options.workerCommand,
        '--server',
        address,
        '--work-dir',
        join(options.stateDir, 'work'),
        '--pool',
        'spot',
      ],
      argsFor: options.workerArgs,
      // Not on the command line, which every local user can read in /proc/PID/cmdline.
      env: { SPOTFUSE_TOKEN: token },
      logDir: join(options.stateDir, 'logs'),
      onUnexpectedExit: (workerId, code, signal) => {
        crashes++;
        log('worker exited unexpectedly; its task runs again elsewhere', { workerId, code, signal });
        leases.workerLost(workerId).catch(() => {});
        if (crashes <= options.workers * 3) pool.spawnOne(workerId);
      },
    });
    workers = pool;
    pool.start();
    const checked = await checking;
    await options.prepare?.(checked);
    const { job, resumed } = await new JobAdmission(store).admit({
      ...checked,
      chunking: {
        parallelism: options.workers,
        chunkFrames: options.chunkFrames,
        chunkSeconds: options.chunkSeconds,
      },
      resume: true,
    });
    const webhookSecret = checked.spec.notify?.webhooks.length
      ? await store.getWebhookSecret(null, newWebhookSecret(), Date.now())
      : undefined;
    options.onStart?.({ job, resumed, workers: options.workers, webhookSecret });

    let state = job.state;
    let reportedAt = 0;
    while (state === 'running' || state === 'merging') {
      if (options.signal?.aborted) break;
      if (pool.size === 0) {
        throw new Error(`all workers keep crashing; see the logs in ${join(options.stateDir, 'logs')}`);
      }
      await sleep(POLL_MS);
      await leases.expireLeases();
      state = (await store.getJob(job.id))?.state ?? 'failed';
      // The full report reads every segment and attempt: once a second is plenty for a progress bar.
      if (options.onProgress && Date.now() - reportedAt >= REPORT_MS) {
        options.onProgress(await jobReport(store, job.id, { prices }));
        reportedAt = Date.now();
      }
    }
    await pool.stop(WORKER_STOP_GRACE_MS);
    const report = await jobReport(store, job.id, { prices, tasks: options.taskCosts });
    if (report.state === 'completed') {
      // The output holds every frame now; the segments would only fill the disk.
      await deleteJobSegments(store, blobs, job.id);
      // What a rerun of the same command compares with, to tell that there is nothing to do.
      const output = await outputFile(job.spec.output);
      if (output) await store.recordOutput(job.id, output);
    }
    const ended = report.state === 'completed' || report.state === 'failed';
    await notifications.dispatcher.stop();
    const told = ended ? await notifications.dispatcher.drain(job.id, options.notify?.waitMs ?? 0) : [];
    return {
      report,
      resumed,
      interrupted: options.signal?.aborted === true && report.state !== 'completed',
      alreadyDone: false,
      notifications: told,
    };
  } finally {
    await notifications?.close();
    await workers?.stop(WORKER_STOP_GRACE_MS);
    await api?.close();
    await store.close();
    lock.release();
  }
}
