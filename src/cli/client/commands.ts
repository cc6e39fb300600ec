import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import type { CoordinatorJobReport } from '../../coordinator/report.js';
import { UserError } from '../../core/errors.js';
import { count, formatDuration } from '../../core/format.js';
import { Outage } from '../../core/outage.js';
import { costLine, taskCostTable } from '../../cost/costText.js';
import type { DownloadView } from '../../models/download.js';
import { faceOptionsFor } from '../../vision/faceOptionGroups.js';
import { engineFromFlags } from '../engineFlags.js';
import { faceOptionsFromFlags } from '../faceFlags.js';
import { addJobOptions, encoderFromFlags, type JobFlags, trimFromFlags } from '../jobFlags.js';
import { terminalDownloadProgress } from '../models.js';
import { jobNotifyEvents, jobNotifySpec } from '../notifyFlags.js';
import { positiveInt, positiveNumber, unreachableLimitOption } from '../options.js';
import {
  ApiClient,
  addConnectionOptions,
  type ConnectionFlags,
  CoordinatorUnreachableError,
  downloadTo,
} from './api.js';

interface SubmitFlags extends JobFlags, ConnectionFlags {
  outputFormat: string;
  priority: 'urgent' | 'normal';
}

export type StatusReport = CoordinatorJobReport & { createdAt: number; finishedAt: number | null };

const ENDED = new Set(['completed', 'failed', 'canceled']);
const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function jobPath(id: string, rest = ''): string {
  return `/v1/jobs/${encodeURIComponent(id)}${rest}`;
}

function describe(r: StatusReport): string {
  const done = r.frames > 0 ? Math.floor((100 * r.framesDone) / r.frames) : 0;
  return (
    `${r.jobId} ${r.state}: ${r.framesDone}/${count(r.frames, 'frame')} (${done}%), ${r.tasksDone}/${count(r.tasks, 'chunk')}, ` +
    `${count(r.interruptions, 'interruption')}, ${count(r.failures, 'failure')}, ${formatDuration(r.wallSeconds)}` +
    `${r.error ? ` — ${r.error}` : ''}`
  );
}

function registerSubmit(program: Command): void {
  const command = addJobOptions(program.command('submit'))
    .description('upload a video (and source faces) to a coordinator and queue a job; prints the job id')
    .addOption(
      new Option('--output-format <ext>', 'output container')
        .choices(['mp4', 'm4v', 'mov', 'mkv', 'webm'])
        .default('mp4'),
    )
    .addOption(
      new Option('--priority <priority>', 'urgent or normal').choices(['urgent', 'normal']).default('normal'),
    );
  addConnectionOptions(command).action(async (flags: SubmitFlags) => {
    out(await submitJob(new ApiClient(flags), flags, flags.outputFormat, flags.priority));
  });
}

/** Uploads the video and source images through the coordinator's presigned URLs and queues the job. */
export async function submitJob(
  client: ApiClient,
  flags: JobFlags,
  outputFormat: string,
  priority: 'urgent' | 'normal' = 'normal',
): Promise<string> {
  jobNotifySpec(flags); // bad URLs and addresses fail here, before anything is uploaded
  const engine = engineFromFlags(flags);
  const trim = trimFromFlags(flags);
  const processors = flags.processors;
  const input = await client.upload(flags.target);
  const sources: string[] = [];
  for (const source of flags.source) sources.push(await client.upload(source));
  const job = await client.request<{ id: string }>('POST', '/v1/jobs', {
    input,
    sources,
    processors,
    // Only the options the chain reads: the coordinator refuses those of processors not in it.
    face: engine ? {} : faceOptionsFor(processors, faceOptionsFromFlags(flags)),
    ...(engine ? { engine } : {}),
    encoder: encoderFromFlags(flags),
    checkpointFrames: flags.checkpointFrames,
    ...(trim ? { trim } : {}),
    ...(flags.chunkFrames === undefined ? {} : { chunkFrames: flags.chunkFrames }),
    ...(flags.chunkSeconds === undefined ? {} : { chunkSeconds: flags.chunkSeconds }),
    priority,
    ...(flags.deadline === undefined ? {} : { deadline: new Date(flags.deadline).toISOString() }),
    outputFormat,
    webhooks: flags.webhook,
    emails: flags.email,
    events: jobNotifyEvents(flags),
  });
  return job.id;
}

export interface WaitOptions {
  intervalMs: number;
  /** How long the coordinator may stay out of reach before the wait gives up (`--unreachable-limit`). */
  unreachableMs: number;
  onReport?: (report: StatusReport) => void;
  /** A line for the user when the coordinator goes out of reach, and when it is back. */
  onOutage?: (line: string) => void;
}

/**
 * Polls a job until it ends, passing every report on; returns the last one. A coordinator out of reach (a
 * restart, a rollout, a network blip) is asked again, less and less often, for up to `unreachableMs`: the
 * job goes on there meanwhile.
 */
export async function waitForJob(client: ApiClient, id: string, options: WaitOptions): Promise<StatusReport> {
  let outage: Outage | undefined;
  for (;;) {
    let report: StatusReport;
    try {
      report = await client.request<StatusReport>('GET', jobPath(id));
    } catch (error) {
      if (!(error instanceof CoordinatorUnreachableError)) throw error;
      if (!outage) {
        const limit = formatDuration(options.unreachableMs / 1000);
        options.onOutage?.(`${error.message}; asking again for up to ${limit}, the job goes on there`);
        outage = new Outage();
      }
      if (outage.outlasts(options.unreachableMs))
        throw new UserError(`${error.message}, for ${outage.lasted()}`);
      await sleep(outage.nextPauseMs());
      continue;
    }
    if (outage) options.onOutage?.(`coordinator back after ${outage.lasted()}`);
    outage = undefined;
    if (ENDED.has(report.state)) return report;
    options.onReport?.(report);
    await sleep(options.intervalMs);
  }
}

/** A job's report; with `tasks`, each task's cost as well (`cost.tasks`). */
export function fetchReport(client: ApiClient, id: string, tasks = false): Promise<StatusReport> {
  return client.request<StatusReport>('GET', jobPath(id, tasks ? '?tasks=true' : ''));
}

/**
 * Downloads job `id`'s output to `output`. What an interrupted download received is kept under a name of
 * the job's own (`out.mp4.job_….partial`), so that downloading it again resumes it and another job's output
 * written to the same name never continues it.
 */
export async function downloadOutput(
  client: ApiClient,
  id: string,
  output: string,
  view?: DownloadView,
): Promise<void> {
  const { url } = await client.request<{ url: string }>('GET', jobPath(id, '/download'));
  try {
    await downloadTo(url, output, `${output}.${id}.partial`, view?.onProgress);
  } finally {
    view?.finish();
  }
}

function registerStatus(program: Command): void {
  const command = program
    .command('status <id>')
    .description("a job's state and progress")
    .option('--watch', 'follow the job until it ends; exits non-zero when it fails or is canceled')
    .option('--json', 'print the report as JSON')
    .option('--tasks', 'add the cost of each task')
    .option('--interval <seconds>', 'how often --watch asks', positiveNumber, 2)
    .addOption(
      unreachableLimitOption('out of reach this long before --watch gives up (the job goes on there)'),
    );
  addConnectionOptions(command).action(
    async (
      id: string,
      flags: ConnectionFlags & {
        watch?: boolean;
        json?: boolean;
        tasks?: boolean;
        interval: number;
        unreachableLimit: number;
      },
    ) => {
      const client = new ApiClient(flags);
      let report = flags.watch
        ? await waitForJob(client, id, {
            intervalMs: flags.interval * 1000,
            unreachableMs: flags.unreachableLimit,
            onReport: (r) => {
              if (!flags.json) err(describe(r));
            },
            onOutage: err,
          })
        : await fetchReport(client, id, flags.tasks);
      if (flags.watch && flags.tasks) report = await fetchReport(client, id, true);
      if (flags.json) out(JSON.stringify(report));
      else {
        out(describe(report));
        if (report.deadline) out(`deadline ${report.deadline}`);
        if (report.onDemand)
          out(`on-demand workers wanted: ${report.onDemand.workers} — ${report.onDemand.detail}`);
        // A coordinator from before cost accounting sends no cost.
        if (report.cost) out(costLine(report.cost));
        if (flags.tasks) out(taskCostTable(report.cost));
      }
      if (flags.watch && report.state !== 'completed') {
        throw new UserError(`job ${report.jobId} ${report.state}${report.error ? `: ${report.error}` : ''}`);
      }
    },
  );
}

function registerList(program: Command): void {
  const command = program
    .command('list')
    .description('your jobs, newest first')
    .option('--json', 'print JSON');
  addConnectionOptions(command).action(async (flags: ConnectionFlags & { json?: boolean }) => {
    const { jobs } = await new ApiClient(flags).request<{
      jobs: { id: string; state: string; frames: number; createdAt: number; processors: string[] }[];
    }>('GET', '/v1/jobs');
    if (flags.json) {
      out(JSON.stringify(jobs));
      return;
    }
    for (const j of jobs)
      out(
        `${j.id}\t${j.state}\t${count(j.frames, 'frame')}\t${j.processors.join(',')}\t${new Date(j.createdAt).toISOString()}`,
      );
  });
}

function registerCancel(program: Command): void {
  const command = program.command('cancel <id>').description('cancel a job');
  addConnectionOptions(command).action(async (id: string, flags: ConnectionFlags) => {
    await new ApiClient(flags).request('POST', jobPath(id, '/cancel'));
    out(`${id} canceled`);
  });
}

function registerRetry(program: Command): void {
  const command = program
    .command('retry <id>')
    .description('run a failed job again: it resumes from its checkpoints, nothing is uploaded again');
  addConnectionOptions(command).action(async (id: string, flags: ConnectionFlags) => {
    const { state } = await new ApiClient(flags).request<{ state: string }>('POST', jobPath(id, '/retry'));
    out(`${id} ${state}`);
  });
}

function registerDownload(program: Command): void {
  const command = program
    .command('download <id>')
    .description("download a completed job's output")
    .requiredOption('-o, --output <file>', 'where to write it');
  addConnectionOptions(command).action(async (id: string, flags: ConnectionFlags & { output: string }) => {
    const view = process.stderr.isTTY
      ? terminalDownloadProgress(process.stderr, basename(flags.output))
      : undefined;
    await downloadOutput(new ApiClient(flags), id, flags.output, view);
  });
}

function registerLogs(program: Command): void {
  const command = program.command('logs <id>').description("a job's attempts and errors");
  addConnectionOptions(command).action(async (id: string, flags: ConnectionFlags) => {
    const { lines } = await new ApiClient(flags).request<{ lines: string[] }>('GET', jobPath(id, '/logs'));
    for (const line of lines) out(line);
  });
}

function registerTokens(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('issue and revoke worker and tenant tokens (admin token)');
  const adminEnv = ['SPOTFUSE_TOKEN', 'SPOTFUSE_ADMIN_TOKEN'];
  addConnectionOptions(
    tokens
      .command('create')
      .description('issue a token; prints it alone (it is shown this once)')
      .addOption(
        new Option('--role <role>', 'worker or tenant').choices(['worker', 'tenant']).makeOptionMandatory(),
      )
      .option('--tenant <name>', 'the tenant a tenant token acts for')
      .option('--share <n>', "the tenant's share of the workers from now on (default 1)", positiveNumber)
      .option(
        '--max-running <n>',
        'most tasks the tenant may have running at once (default: no cap)',
        positiveInt,
      ),
    adminEnv,
  ).action(
    async (
      flags: ConnectionFlags & {
        role: 'worker' | 'tenant';
        tenant?: string;
        share?: number;
        maxRunning?: number;
      },
    ) => {
      if (flags.role === 'tenant' && !flags.tenant) throw new UserError('a tenant token needs --tenant NAME');
      if (
        flags.role === 'worker' &&
        (flags.tenant || flags.share !== undefined || flags.maxRunning !== undefined)
      )
        throw new UserError('a worker token has no --tenant, --share or --max-running');
      const issued = await new ApiClient(flags).request<{ id: string; token: string }>('POST', '/v1/tokens', {
        role: flags.role,
        ...(flags.tenant ? { tenant: flags.tenant } : {}),
        ...(flags.share === undefined ? {} : { share: flags.share }),
        ...(flags.maxRunning === undefined ? {} : { maxRunning: flags.maxRunning }),
      });
      err(`token id ${issued.id} (revoke with: spotfuse tokens revoke ${issued.id})`);
      out(issued.token);
    },
  );
  addConnectionOptions(
    tokens.command('revoke <id>').description('revoke a token by its id'),
    adminEnv,
  ).action(async (id: string, flags: ConnectionFlags) => {
    await new ApiClient(flags).request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
    err(`revoked ${id}`);
  });
  addConnectionOptions(
    tokens.command('list').description('list tokens (never their secrets)'),
    adminEnv,
  ).action(async (flags: ConnectionFlags) => {
    const { tokens: list } = await new ApiClient(flags).request<{
      tokens: { id: string; role: string; tenant: string | null; revokedAt: number | null }[];
    }>('GET', '/v1/tokens');
    for (const t of list)
      out(`${t.id}\t${t.role}\t${t.tenant ?? '-'}\t${t.revokedAt === null ? 'active' : 'revoked'}`);
  });
}

/** The client commands: each talks to a coordinator at --server (SPOTFUSE_SERVER) with --token (SPOTFUSE_TOKEN). */
export function registerClient(program: Command): void {
  registerSubmit(program);
  registerStatus(program);
  registerList(program);
  registerCancel(program);
  registerRetry(program);
  registerDownload(program);
  registerLogs(program);
  registerTokens(program);
}
