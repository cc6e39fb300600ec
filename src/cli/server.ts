import type { Command } from 'commander';
import { adminTokenFromEnv } from '../api/auth.js';
import { UserError } from '../core/errors.js';
import { createLogger } from './logger.js';
import { positiveInt, positiveNumber, wholeNumber } from './options.js';

interface ServerFlags {
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
}

const env = process.env;

function envFlag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return /^(1|true|yes|on)$/i.test(value);
}

export function registerServer(program: Command): void {
  program
    .command('server')
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
      'uploads above this size go in parts (S3)',
      wholeNumber,
      64 * 1024 * 1024,
    )
    .option(
      '--on-demand-for <work>',
      'work only on-demand workers may claim: merge, urgent, merge,urgent or none (SPOTFUSE_ON_DEMAND_FOR)',
      env.SPOTFUSE_ON_DEMAND_FOR,
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
      const logger = createLogger();
      const { parseListen, parseOnDemandFor, startClusterServer } = await import(
        '../coordinator/clusterServer.js'
      );
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
        log: (msg, fields) => logger.info({ msg, ...fields }),
        logger,
      });
      logger.info({
        msg: 'listening',
        address: server.address,
        metrics: server.metricsAddress ?? `${server.address}/metrics`,
        admin: adminToken !== undefined,
        onDemandOnly,
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
