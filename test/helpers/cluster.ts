import { ACCESS_KEY } from '../blob/s3Harness.js';
import { type CliResult, type StartedCli, startCli } from './cli.js';

/**
 * A spotfuse cluster as users start one: `spotfuse server` replicas on PostgreSQL and an S3 API, and
 * `spotfuse worker` processes, all through the built CLI. Shared by the cluster end-to-end test and the
 * chaos runner.
 */

export interface ServerConfig {
  /** Working directory of the processes. */
  cwd: string;
  db: string;
  s3Endpoint: string;
  bucket: string;
  prefix: string;
  adminToken: string;
  /** More `server` flags (lease TTL, thresholds). */
  args?: string[];
}

/** Starts `spotfuse server` on `listen`, configured by flags, or (`viaEnv`) by SPOTFUSE_* as a container is. */
export function startServer(config: ServerConfig, listen: string, viaEnv = false): StartedCli {
  const secrets = {
    SPOTFUSE_ADMIN_TOKEN: config.adminToken,
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: ACCESS_KEY,
    SPOTFUSE_LOCAL_GPU_PRICE: '0.5',
  };
  const settings = {
    db: config.db,
    blob: `s3://${config.bucket}/${config.prefix}`,
    's3-endpoint': config.s3Endpoint,
    's3-region': 'us-east-1',
    listen,
  };
  const tuning = config.args ?? [];
  return viaEnv
    ? startCli(['server', ...tuning], config.cwd, {
        ...secrets,
        ...Object.fromEntries(
          Object.entries(settings).map(([k, v]) => [`SPOTFUSE_${k.toUpperCase().replace('-', '_')}`, v]),
        ),
        SPOTFUSE_S3_FORCE_PATH_STYLE: 'true',
      })
    : startCli(
        [
          'server',
          ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]),
          '--s3-force-path-style',
          ...tuning,
        ],
        config.cwd,
        secrets,
      );
}

/** The address a started server listens on, once its "listening" line is out. */
export async function listeningAddress(server: StartedCli, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = /"msg":"listening","address":"([^"]+)"/.exec(server.stderr());
    if (m) return m[1];
    if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
    if (Date.now() > deadline) throw new Error(`server did not start: ${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a client command (`submit`, `status`, `tokens` …) against `address` with `token`. */
export function clientCli(cwd: string, address: string, args: string[], token: string): Promise<CliResult> {
  return startCli(args, cwd, { SPOTFUSE_SERVER: address, SPOTFUSE_TOKEN: token }).result;
}

/** A new token of `role` (tenant tokens for `tenant`), and its id. */
export async function createToken(
  cwd: string,
  address: string,
  adminToken: string,
  role: 'worker' | 'tenant',
  tenant?: string,
): Promise<{ token: string; id: string }> {
  const args = ['tokens', 'create', '--role', role, ...(tenant ? ['--tenant', tenant] : [])];
  const made = await clientCli(cwd, address, args, adminToken);
  if (made.code !== 0) throw new Error(`tokens create failed: ${made.stderr}`);
  return { token: made.stdout.trim(), id: /token id (tok_[0-9a-f]+)/.exec(made.stderr)?.[1] ?? '' };
}

export function startWorker(
  cwd: string,
  name: string,
  coordinator: string,
  token: string,
  workDir: string,
): StartedCli {
  return startCli(['worker', '--worker-id', name, '--work-dir', workDir], cwd, {
    SPOTFUSE_SERVER: coordinator,
    SPOTFUSE_TOKEN: token,
  });
}

/** Ends the process (SIGTERM by default) unless it has already ended, and waits for it. */
export async function stopProcess(started: StartedCli | undefined, signal: NodeJS.Signals = 'SIGTERM') {
  if (!started) return;
  if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill(signal);
  await started.result;
}
