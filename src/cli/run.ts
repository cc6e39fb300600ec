import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UserError } from '../core/errors.js';
import { count, formatDuration } from '../core/format.js';
import { costLine } from '../cost/costText.js';
import { ENCODER_PRESETS } from '../media/encoders.js';
import { imageFormatOf } from '../media/imageFiles.js';
import { type ModelFlags, resolveModelSettings } from '../models/settings.js';
import { isWebhookSecret } from '../notify/standardWebhooks.js';
import { checkFacefusion } from '../worker/engines/facefusion/installation.js';
import { addPriceOptions, type PriceFlags, priceTableFromFlags } from './cost.js';
import {
  addDecoderOptions,
  type DecoderFlags,
  decoderArgs,
  decoderHwaccelFromFlags,
} from './decoderFlags.js';
import {
  addFacefusionOptions,
  engineFromFlags,
  type FacefusionFlags,
  facefusionLocation,
  facefusionWorkerArgs,
} from './engineFlags.js';
import {
  addExecutionOptions,
  addFrameLoopOptions,
  type ExecutionFlags,
  executionArgs,
  executionFromFlags,
  type FrameLoopFlags,
  faceOptionsFromFlags,
  frameLoopArgs,
} from './faceFlags.js';
import { addJobOptions, encoderFromFlags, type JobFlags, trimFromFlags } from './jobFlags.js';
import { createLogger } from './logger.js';
import { addModelOptions, modelArgs, terminalDownloadProgress } from './models.js';
import { addSmtpOptions, jobNotifySpec, notificationFlags, type SmtpFlags } from './notifyFlags.js';
import { mediaScale, percent, positiveInt, positiveNumber, unreachableLimitOption } from './options.js';
import { logProgress, type ProgressView, terminalProgress } from './progress.js';

interface RunFlags
  extends JobFlags,
    FacefusionFlags,
    ExecutionFlags,
    FrameLoopFlags,
    ModelFlags,
    PriceFlags,
    SmtpFlags,
    DecoderFlags {
  output: string;
  workers?: number;
  stateDir: string;
  leaseTtl: number;
  maxAttempts: number;
  report?: string;
  webhookSecret?: string;
  notifyWait: number;
  server?: string;
  token?: string;
  quiet?: boolean;
  verbose?: boolean;
  force?: boolean;
  ui?: boolean;
  outputImageQuality: number;
  outputImageScale?: number;
  unreachableLimit: number;
}

/** The frames a job worked on: the source's, which an `--output-video-fps` output does not have as many of. */
function framesWorked(frames: number, outputFps: number | undefined): string {
  return outputFps === undefined
    ? count(frames, 'frame')
    : `${count(frames, 'source frame')} (output at ${outputFps} fps)`;
}

/** Local workers that this machine can feed: encoders use several cores each, so half the cores. */
function defaultWorkers(): number {
  return Math.max(1, Math.min(8, Math.floor(availableParallelism() / 2)));
}

/**
 * `run --server`: the same job on a coordinator, followed until it ends, then downloaded to `--output`. Once
 * submitted, the job goes on there whatever happens here: a Ctrl-C, or a coordinator out of reach for longer
 * than `--unreachable-limit`, ends this command with the commands that pick the job up again.
 */
async function runOnServer(
  flags: RunFlags,
  view: ProgressView | undefined,
  say: (line: string) => void,
  tty: boolean,
) {
  const { ApiClient } = await import('./client/api.js');
  const { downloadOutput, fetchReport, submitJob, waitForJob } = await import('./client/commands.js');
  const client = new ApiClient(flags);
  const outputDir = dirname(resolve(flags.output));
  if (!existsSync(outputDir)) throw new UserError(`output directory does not exist: ${outputDir}`);
  const id = await submitJob(client, flags, extname(flags.output).slice(1).toLowerCase());
  say(`submitted job ${id} to ${flags.server}; Ctrl-C leaves it running there`);
  const goesOn =
    `job ${id} goes on at ${flags.server}: spotfuse status ${id} --watch, then spotfuse download ${id} ` +
    `-o ${flags.output} (spotfuse cancel ${id} stops it)`;
  const interrupted = () => {
    view?.finish();
    say(`interrupted: ${goesOn}`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    let report = await waitForJob(client, id, {
      intervalMs: 1000,
      unreachableMs: flags.unreachableLimit,
      onReport: (r) => view?.update(r),
      onOutage: (line) => {
        view?.finish();
        say(line);
      },
    });
    if (flags.report) report = await fetchReport(client, id, true);
    if (report.state === 'completed') {
      view?.finish();
      const download = tty ? terminalDownloadProgress(process.stderr, basename(flags.output)) : undefined;
      await downloadOutput(client, id, flags.output, download);
    }
    return report;
  } catch (error) {
    if (error instanceof UserError) throw new UserError(`${error.message}; ${goesOn}`);
    throw error;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

export function registerRun(program: Command): void {
  const command = addFacefusionOptions(addJobOptions(program.command('run')), false)
    .description(
      'process a video on this machine: chunked, checkpointed, resumable (run it again to resume); or an image',
    )
    .requiredOption(
      '-o, --output <path>',
      'output video (.mp4, .m4v, .mov, .mkv, .webm), or image for an image target (.jpg, .png, .webp, .bmp, .tiff) (FaceFusion: -o/--output-path)',
    )
    .option(
      '--output-image-quality <0-100>',
      'image targets: output quality (FaceFusion scale; jpg 80 = -q:v 6)',
      percent,
      80,
    )
    .option(
      '--output-image-scale <scale>',
      "image targets: output size, times the target's (0.25 to 8 in steps of 0.25; default 1)",
      mediaScale,
    )
    .option('--workers <n>', 'local worker processes (default: half the cores)', positiveInt)
    .option('--state-dir <dir>', 'where jobs, segments and logs are kept', '.spotfuse')
    .option('--lease-ttl <seconds>', 'how long a silent worker keeps its task', positiveNumber, 30)
    .option('--max-attempts <n>', 'failed attempts per task before the job fails', positiveInt, 3)
    .option('--report <file>', 'write a JSON report of the job here, with the cost of each task')
    .option(
      '--webhook-secret <whsec>',
      'sign --webhook deliveries with this Standard Webhooks secret (SPOTFUSE_WEBHOOK_SECRET; default: one kept in the state directory)',
      process.env.SPOTFUSE_WEBHOOK_SECRET,
    )
    .option(
      '--notify-wait <seconds>',
      'how long to wait for notifications to be delivered once the job ends',
      positiveNumber,
      30,
    )
    .option('--server <url>', "run on a coordinator instead: submit, wait, download (see 'spotfuse submit')")
    .option(
      '--token <token>',
      'tenant token for --server (default: $SPOTFUSE_TOKEN)',
      process.env.SPOTFUSE_TOKEN,
    )
    .addOption(
      unreachableLimitOption(
        'given --server out of reach this long before giving up (the job goes on there)',
      ),
    )
    .option('--ui', 'serve the web dashboard on 127.0.0.1 while the job runs (prints its address)')
    .option('--force', 'do the job again even if this same command already completed it')
    .option('-q, --quiet', 'print nothing but errors')
    .option('-v, --verbose', 'print stack traces and debug logs');
  addFrameLoopOptions(command);
  addDecoderOptions(addSmtpOptions(addModelOptions(addExecutionOptions(addPriceOptions(command))))).action(
    async (flags: RunFlags) => {
      const notify = jobNotifySpec(flags);
      const notifySettings = notificationFlags(flags);
      if (flags.webhookSecret !== undefined && !isWebhookSecret(flags.webhookSecret))
        throw new UserError('--webhook-secret must be whsec_ followed by base64 (24 to 64 bytes)');
      if (flags.server && flags.decoderHwaccel !== undefined)
        throw new UserError(
          "--decoder-hwaccel sets this machine's workers: give it to the cluster's workers instead",
        );
      if (!flags.server && flags.deadline !== undefined)
        throw new UserError('--deadline needs --server: only a cluster has on-demand workers to call on');
      if (!flags.server && notify?.emails.length && !notifySettings.smtpUrl)
        throw new UserError(
          '--email needs an SMTP server: --smtp-url smtp://host:587 (or SPOTFUSE_SMTP_URL)',
        );
      if (flags.chunkFrames !== undefined && flags.chunkSeconds !== undefined) {
        throw new UserError('give --chunk-frames or --chunk-seconds, not both');
      }
      if (!(ENCODER_PRESETS as readonly string[]).includes(flags.outputVideoPreset)) {
        throw new UserError(
          `unknown --output-video-preset "${flags.outputVideoPreset}" (use ${ENCODER_PRESETS.join(', ')})`,
        );
      }
      const engine = engineFromFlags(flags);
      const logger = createLogger(flags.quiet ? 'silent' : flags.verbose ? 'debug' : 'info');
      const tty = process.stderr.isTTY && !flags.quiet;
      const view: ProgressView | undefined = flags.quiet
        ? undefined
        : tty
          ? terminalProgress(process.stderr)
          : logProgress((fields) => logger.info(fields));
      const say = (line: string) => {
        if (!flags.quiet) process.stderr.write(`${line}\n`);
      };
      // A pattern such as frame%04d.png names no file: the video checks refuse it as an image sequence.
      if (imageFormatOf(flags.target) && existsSync(flags.target)) {
        if (flags.server) throw new UserError('an image target runs on this machine: drop --server');
        if (engine) throw new UserError('the facefusion engine takes videos: run an image target natively');
        const started = Date.now();
        const { runImage } = await import('../app/imageRun.js');
        const size = await runImage({
          target: flags.target,
          sources: flags.source,
          output: flags.output,
          processors: flags.processors.join(','),
          face: faceOptionsFromFlags(flags),
          execution: executionFromFlags(flags),
          models: await resolveModelSettings(flags),
          quality: flags.outputImageQuality,
          scale: flags.outputImageScale,
          progressFor: tty ? (name) => terminalDownloadProgress(process.stderr, name) : undefined,
        });
        say(
          `done: ${resolve(flags.output)} — ${size.width}x${size.height} in ${formatDuration((Date.now() - started) / 1000)}`,
        );
        return;
      }
      if (flags.server) {
        const report = await runOnServer(flags, view, say, tty);
        view?.finish();
        if (flags.report) writeFileSync(flags.report, `${JSON.stringify(report, null, 2)}\n`);
        if (report.state !== 'completed') {
          throw new UserError(
            `job ${report.jobId} ${report.state}${report.error ? `: ${report.error}` : ''}`,
          );
        }
        say(
          `done: ${resolve(flags.output)} — job ${report.jobId}, ${framesWorked(report.frames, flags.outputVideoFps)}`,
        );
        if (report.cost) say(costLine(report.cost));
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const gpus = flags.executionDeviceIds ?? [];
      // One worker per GPU unless told otherwise; more workers than GPUs share them in turn.
      const workers = flags.workers ?? (gpus.length > 1 ? gpus.length : defaultWorkers());
      const prices = priceTableFromFlags(flags);
      const models = await resolveModelSettings(flags);
      const execution = executionFromFlags(flags);
      const decoderHwaccel = await decoderHwaccelFromFlags(flags);
      // The workers check it too; here a wrong path or version is one line before anything starts.
      const location = flags.server ? undefined : facefusionLocation(flags, execution.provider);
      const facefusion = location && (await checkFacefusion(location.path, location.python));
      // Loaded here, not at start-up: every worker process starts this same CLI and needs none of it.
      const { runEmbedded } = await import('../app/embeddedRun.js');
      const result = await runEmbedded({
        request: {
          input: flags.target,
          sources: flags.source,
          output: flags.output,
          processors: flags.processors.join(','),
          face: faceOptionsFromFlags(flags),
          encoder: encoderFromFlags(flags),
          checkpointFrames: flags.checkpointFrames,
          trim: trimFromFlags(flags),
          engine,
          notify,
        },
        notify: { ...notifySettings, webhookSecret: flags.webhookSecret, waitMs: flags.notifyWait * 1000 },
        stateDir: resolve(flags.stateDir),
        force: flags.force,
        workers,
        chunkFrames: flags.chunkFrames,
        chunkSeconds: flags.chunkSeconds,
        leaseTtlMs: flags.leaseTtl * 1000,
        maxAttempts: flags.maxAttempts,
        prices,
        taskCosts: flags.report !== undefined,
        workerCommand: [
          process.execPath,
          fileURLToPath(new URL('./main.js', import.meta.url)),
          'worker',
          ...executionArgs({ ...execution, deviceId: undefined }),
          ...frameLoopArgs(flags),
          ...decoderArgs(decoderHwaccel),
          ...modelArgs(flags),
          ...facefusionWorkerArgs(facefusion),
        ],
        workerArgs: (slot) =>
          gpus.length === 0 ? [] : ['--execution-device-ids', String(gpus[slot % gpus.length])],
        prepare: async ({ spec }) => {
          // FaceFusion loads its own models and analyses its own sources.
          if (spec.engine) return;
          const { prepareFaceJob } = await import('../vision/faceJob.js');
          await prepareFaceJob(
            spec,
            models,
            execution,
            tty ? (name) => terminalDownloadProgress(process.stderr, name) : undefined,
          );
        },
        signal: stop.signal,
        onStart: ({ job, resumed, webhookSecret }) => {
          if (webhookSecret && !flags.webhookSecret)
            say(
              `webhooks are signed with ${webhookSecret} (kept in ${resolve(flags.stateDir)}; --webhook-secret sets it)`,
            );
          if (tty)
            say(
              `${resumed ? 'resuming' : 'started'} job ${job.id}: ${count(job.frameCount, 'frame')}, ${count(workers, 'worker')}`,
            );
          else
            logger.info({
              msg: resumed ? 'resuming job' : 'job started',
              jobId: job.id,
              frames: job.frameCount,
              workers,
            });
        },
        onProgress: (report) => view?.update(report),
        ...(flags.ui && {
          // Printed even with --quiet: the address is what --ui was asked for.
          onDashboard: (url: string) => process.stderr.write(`dashboard: ${url}\n`),
        }),
        log: (msg, fields) => logger.info({ msg, ...fields }),
      });
      view?.finish();
      const { report } = result;
      if (flags.report) writeFileSync(flags.report, `${JSON.stringify(report, null, 2)}\n`);
      if (result.alreadyDone) {
        say(
          `already done: ${report.output} is unchanged since job ${report.jobId} wrote it ` +
            `(${framesWorked(report.frames, flags.outputVideoFps)}); --force does it again`,
        );
        return;
      }
      for (const n of result.notifications.filter((n) => n.state !== 'delivered')) {
        say(
          `notification not delivered: ${n.event} to ${n.target} (${n.lastError ?? 'not tried yet'}); ` +
            (n.state === 'dead'
              ? 'given up'
              : `kept in ${resolve(flags.stateDir)}: the next run there retries it`),
        );
      }
      if (result.interrupted) {
        say(
          `interrupted: ${report.framesDone}/${count(report.frames, 'frame')} are kept; run the same command to resume`,
        );
        process.exitCode = 130;
        return;
      }
      if (report.state !== 'completed') {
        const logs = join(resolve(flags.stateDir), 'logs');
        throw new UserError(`job ${report.jobId} failed: ${report.error} (worker logs: ${logs})`);
      }
      // Across interrupted runs, the time spent running and the time since the job began differ.
      const took = result.resumed
        ? `${formatDuration(report.runSeconds)} of running (${formatDuration(report.wallSeconds)} since it began)`
        : formatDuration(report.wallSeconds);
      say(
        `done: ${report.output} — ${framesWorked(report.frames, flags.outputVideoFps)} in ${took}, ` +
          `${count(report.tasks, 'chunk')}, ${count(report.segments, 'segment')}, ` +
          `${count(report.interruptions, 'interruption')}, ${count(report.failures, 'failure')}, ` +
          `${count(report.framesRedone, 'frame')} redone` +
          (report.segmentsRejected > 0
            ? ` (${count(report.segmentsRejected, 'damaged segment')} dropped and done again)`
            : ''),
      );
      say(costLine(report.cost));
    },
  );
}
