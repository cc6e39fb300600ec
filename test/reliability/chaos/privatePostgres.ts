import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of its own (initdb into a scratch folder, its own port), so that chaos can stop
 * and restart it without touching the machine's shared server. Binaries from SPOTFUSE_PG_BIN, else the
 * newest /usr/lib/postgresql/N/bin. PostgreSQL refuses to run as root: as root, it runs as `postgres`.
 */
export interface PrivatePostgres {
  url: string;
  /** Stops the server at once (as a crash would: no checkpoint) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  if (process.env.SPOTFUSE_PG_BIN) return process.env.SPOTFUSE_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

/** Why no private PostgreSQL can be started here, or undefined when one can. */
export function privatePostgresUnavailable(): string | undefined {
  return binDir()
    ? undefined
    : 'no PostgreSQL binaries (initdb) in /usr/lib/postgresql/*/bin or SPOTFUSE_PG_BIN';
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** In a scratch folder of its own (the `postgres` user may not enter the caller's), removed by `stop`. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  if (!bin) throw new Error(privatePostgresUnavailable());
  const user = await postgresUser();
  const dir = await mkdtemp(join(tmpdir(), 'spotfuse-pg-'));
  if (user) await chown(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const pg = (tool: string, args: string[]) =>
    run(join(bin, tool), args, { ...(user ?? {}), cwd: dir, env: { ...process.env, LC_ALL: 'C' } });
  await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c max_connections=200',
  ].join(' ');
  const start = () => pg('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart() {
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      await start();
    },
    async stop() {
      await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
