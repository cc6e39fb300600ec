import { type Command, InvalidArgumentError, Option } from 'commander';
import { adminTokenFromEnv } from '../api/auth.js';
import { DEFAULT_TENANT_LIMITS, type TenantLimits } from '../coordinator/tenantLimits.js';
import { UserError } from '../core/errors.js';
import { type ModelFlags, resolveModelSettings } from '../models/settings.js';
import { type PriceFlags, priceTableFromFlags } from './cost.js';
import { addExecutionOptions, type ExecutionFlags, executionFromFlags } from './faceFlags.js';
import { createLogger } from './logger.js';
import { addModelOptions } from './models.js';
import { addSmtpOptions, notificationFlags, type SmtpFlags } from './notifyFlags.js';
import { positiveDuration, positiveInt, positiveNumber, retention, wholeNumber } from './options.js';

interface ServerFlags extends PriceFlags, SmtpFlags, ModelFlags, ExecutionFlags {
  previewTimeout: number;
  db?: string;
  blob?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  listen: string;
  metricsListen?: string;
  leaseTtl: number;
  maxAttempts: number;
  parallelism: number;
  multipartThreshold: number;
  onDemandFor?: string;
  onDemandAfter?: number;
  spotWaitLimit?: number;
  segmentRetention: number;
  abandonedUploadAge: number;
  maxTasksPerJob: number;
  minChunkFrames: number;
  maxJobPixels: number;
  maxActiveJobs: number;
  maxQueuedTasks: number;
}

const env = process.env;

function envFlag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return /^(1|true|yes|on)$/i.test(value);
}

/** Uploads younger than this may still be in progress: aborting them would break a client's upload. */
const MIN_UPLOAD_AGE_MS = 60 * 60 * 1000;

function uploadAge(value: string): number {
  const ms = retention(value);
  if (ms < MIN_UPLOAD_AGE_MS) throw new InvalidArgumentError('must be at least 1h, or forever');
  return ms;
}

/** A limit on what tenants queue: `--flag <n>`, from SPOTFUSE_FLAG_NAME, else its default. */
function limitOption(
  flags: string,
  description: string,
  limit: keyof TenantLimits,
  parse: (value: string) => number = positiveInt,
): Option {
  const name = flags.split(' ')[0].slice(2);
  const value = DEFAULT_TENANT_LIMITS[limit];
  return new Option(flags, description)
    .env(`SPOTFUSE_${name.toUpperCase().replaceAll('-', '_')}`)
    .argParser(parse)
    .default(value, value >= 1e9 ? value.toExponential().replace('e+', 'e') : String(value));
}

export function registerServer(program: Command): void {
  addExecutionOptions(addModelOptions(addSmtpOptions(program.command('server'))))
    .description('run the cluster coordinator: lease API, tenant job API, token admin, background sweeps')
    .option('--db <url>', 'PostgreSQL URL (SPOTFUSE_DB)', env.SPOTFUSE_DB)
    .option('--blob <location>', 's3://bucket[/prefix] or a directory (SPOTFUSE_BLOB)', env.SPOTFUSE_BLOB)
    .option(
      '--s3-endpoint <url>',
      'S3 API endpoint for non-AWS services (SPOTFUSE_S3_ENDPOINT)',
      env.SPOTFUSE_S3_ENDPOINT,
    )
    .option('--s3-region <region>', 'S3 region (SPOTFUSE_S3_REGION)', env.SPOTFUSE_S3_REGION)
    .option(
      '--s3-force-path-style',
      'path-style S3 URLs: MinIO, Ceph (SPOTFUSE_S3_FORCE_PATH_STYLE)',
      envFlag(env.SPOTFUSE_S3_FORCE_PATH_STYLE),
    )
    .option(
      '--listen <host:port>',
      'address to serve on (SPOTFUSE_LISTEN)',
      env.SPOTFUSE_LISTEN ?? '0.0.0.0:8080',
    )
    .option(
      '--metrics-listen <host:port>',
      'serve /metrics here instead of on --listen (SPOTFUSE_METRICS_LISTEN)',
      env.SPOTFUSE_METRICS_LISTEN,
    )
    .option('--lease-ttl <seconds>', 'how long a silent worker keeps its task', positiveNumber, 30)
    .option('--max-attempts <n>', 'failed attempts per task before the job fails', positiveInt, 3)
    .option('--parallelism <n>', 'workers a job is planned for: at least this many chunks', positiveInt, 8)
    .option(
      '--multipart-threshold <bytes>',
      'uploads and merged outputs above this size go in parts (S3)',
      wholeNumber,
      64 * 1024 * 1024,
    )
    .option(
      '--on-demand-for <work>',
      'work only on-demand workers may claim: merge, urgent, merge,urgent or none (SPOTFUSE_ON_DEMAND_FOR)',
      env.SPOTFUSE_ON_DEMAND_FOR,
    )
    .addOption(
      new Option(
        '--on-demand-after <interruptions>',
        'keep a task that spot workers lost this many times for on-demand workers (default: never)',
      )
        .env('SPOTFUSE_ON_DEMAND_AFTER')
        .argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--spot-wait-limit <duration>',
        'ask for on-demand workers (spotfuse_on_demand_wanted) for tasks waiting longer than this, e.g. 10m (default: never)',
      )
        .env('SPOTFUSE_SPOT_WAIT_LIMIT')
        .argParser(positiveDuration),
    )
    .option(
      '--prices <file>',
      'YAML price table whose entries replace or add to the shipped GPU prices (SPOTFUSE_PRICES)',
      env.SPOTFUSE_PRICES,
    )
    .option(
      '--local-gpu-price <usd>',
      'hourly price of a worker off any cloud, default 0 (SPOTFUSE_LOCAL_GPU_PRICE)',
      env.SPOTFUSE_LOCAL_GPU_PRICE,
    )
    .addOption(
      new Option(
        '--segment-retention <duration>',
        'keep segments this long after their job ends: 0 (delete right after the merge), e.g. 24h or 7d, or forever',
      )
        .env('SPOTFUSE_SEGMENT_RETENTION')
        .argParser(retention)
        .default(0, '0'),
    )
    .addOption(
      new Option(
        '--abandoned-upload-age <duration>',
        'abort multipart uploads older than this (S3), e.g. 24h, or forever',
      )
        .env('SPOTFUSE_ABANDONED_UPLOAD_AGE')
        .argParser(uploadAge)
        .default(24 * 60 * 60 * 1000, '24h'),
    )
    .addOption(limitOption('--max-tasks-per-job <n>', 'tasks one job may be split into', 'maxTasks'))
    .addOption(
      limitOption('--min-chunk-frames <n>', 'fewest frames per task a job may ask for', 'minChunkFrames'),
    )
    .addOption(
      limitOption(
        '--max-job-pixels <n>',
        'width x height x frames of one job (4e12 is about 2 h of 4K at 60 fps)',
        'maxJobPixels',
        positiveNumber,
      ),
    )
    .addOption(
      limitOption('--max-active-jobs <n>', 'jobs one tenant may have under way at once', 'maxActiveJobs'),
    )
    .addOption(
      limitOption(
        '--max-queued-tasks <n>',
        "tasks waiting or running over all of one tenant's jobs",
        'maxQueuedTasks',
      ),
    )
    .option(
      '--public-url <url>',
      'address users reach this coordinator at, for result links in notifications (SPOTFUSE_PUBLIC_URL)',
      env.SPOTFUSE_PUBLIC_URL,
    )
    .option(
      '--webhook-allow-private',
      "let tenants' webhooks reach loopback, private and link-local addresses (SPOTFUSE_WEBHOOK_ALLOW_PRIVATE)",
      envFlag(env.SPOTFUSE_WEBHOOK_ALLOW_PRIVATE) ?? false,
    )
    .option(
      '--preview-timeout <seconds>',
      "stop a tenant's one-frame preview (run here, with the models of --model-dir) after this long",
      positiveNumber,
      60,
    )
    .action(async (flags: ServerFlags) => {
      if (!flags.db) throw new UserError('--db (or SPOTFUSE_DB) is required: postgres://user@host/database');
      if (!flags.blob)
        throw new UserError('--blob (or SPOTFUSE_BLOB) is required: s3://bucket/prefix or a directory');
      let adminToken: string | undefined;
      try {
        adminToken = adminTokenFromEnv();
      } catch (error) {
        throw new UserError((error as Error).message);
      }
      const prices = priceTableFromFlags(flags);
      const logger = createLogger();
      const { parseListen, parseOnDemandFor, startClusterServer } = await import('../app/clusterServer.js');
      const { host, port } = parseListen(flags.listen);
      const onDemandOnly = parseOnDemandFor(flags.onDemandFor);
      const server = await startClusterServer({
        db: flags.db,
        blob: flags.blob,
        s3: {
          endpoint: flags.s3Endpoint,
          region: flags.s3Region,
          forcePathStyle: flags.s3ForcePathStyle,
        },
        host,
        port,
        metricsListen:
          flags.metricsListen === undefined
            ? undefined
            : parseListen(flags.metricsListen, '--metrics-listen'),
        adminToken,
        leaseTtlMs: flags.leaseTtl * 1000,
        maxAttempts: flags.maxAttempts,
        parallelism: flags.parallelism,
        multipartThresholdBytes: flags.multipartThreshold,
        onDemandOnly,
        spotInterruptionCap: flags.onDemandAfter,
        spotWaitLimitMs: flags.spotWaitLimit,
        prices,
        tenantLimits: {
          maxTasks: flags.maxTasksPerJob,
          minChunkFrames: flags.minChunkFrames,
          maxJobPixels: flags.maxJobPixels,
          maxActiveJobs: flags.maxActiveJobs,
          maxQueuedTasks: flags.maxQueuedTasks,
        },
        segmentRetentionMs: flags.segmentRetention,
        abandonedUploadAgeMs: flags.abandonedUploadAge,
        notify: notificationFlags(flags),
        previews: {
          models: await resolveModelSettings(flags),
          execution: executionFromFlags(flags),
          timeoutMs: flags.previewTimeout * 1000,
        },
        log: (msg, fields) => logger.info({ msg, ...fields }),
        logger,
      });
      logger.info({
        msg: 'listening',
        address: server.address,
        metrics: server.metricsAddress ?? `${server.address}/metrics`,
        admin: adminToken !== undefined,
        onDemandOnly,
        onDemandAfter: flags.onDemandAfter,
        spotWaitLimitMs: flags.spotWaitLimit,
      });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ msg: 'stopping', signal });
          resolve();
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      await server.close();
    });
}
