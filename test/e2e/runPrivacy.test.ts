import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { openPrivateStateDir } from '../../src/app/privateStateDir.js';
import { ffmpeg } from '../fixtures/videos.js';
import { startCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

const linux = process.platform === 'linux';

/** Every process below `pid` (workers, their ffmpeg children). */
function descendants(pid: number): number[] {
  let direct: number[] = [];
  try {
    direct = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return [];
  }
  return direct.flatMap((child) => [child, ...descendants(child)]);
}

/** A process's argv or environment as /proc shows it; undefined once it has exited. */
function procList(pid: number, what: 'cmdline' | 'environ'): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'latin1').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe.skipIf(!linux)('embedded run: secrets and permissions', () => {
  const dir = useTempDir();

  it('hands the lease token to its workers by environment, never on a command line, in an owner-only state directory', async () => {
    const input = join(dir(), 'long.mp4');
    await ffmpeg([
      ...['-f', 'lavfi', '-i', 'testsrc2=s=480x360:r=30:d=15'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', input],
    ]);
    const stateDir = join(dir(), 'state');
    // A state directory an earlier version made world-readable is tightened.
    mkdirSync(stateDir, { mode: 0o755 });
    chmodSync(stateDir, 0o755);
    const run = startCli(
      [
        'run',
        '-t',
        input,
        '-o',
        join(dir(), 'out.mp4'),
        '--state-dir',
        stateDir,
        '--processors',
        'passthrough',
        '--workers',
        '2',
        '--chunk-frames',
        '150',
        '--checkpoint-frames',
        '10',
        '--output-video-preset',
        'medium',
      ],
      dir(),
    );
    try {
      // Until both workers are up and the database is in WAL mode (its -wal and -shm files exist).
      const deadline = Date.now() + 60_000;
      let workers: number[] = [];
      for (;;) {
        workers = descendants(run.child.pid!).filter((pid) => procList(pid, 'cmdline')?.includes('worker'));
        if (workers.length >= 2 && existsSync(join(stateDir, 'state.db-shm'))) break;
        if (run.child.exitCode !== null) throw new Error(`run exited early: ${run.stderr()}`);
        if (Date.now() > deadline) throw new Error('workers did not start');
        await sleep(25);
      }
      const env = procList(workers[0], 'environ') ?? [];
      const token = env.find((e) => e.startsWith('SPOTFUSE_TOKEN='))?.slice('SPOTFUSE_TOKEN='.length);
      expect(token, 'the worker has its token in its environment').toMatch(/^[\w-]{20,}$/);
      const all = [run.child.pid!, ...descendants(run.child.pid!)];
      for (const pid of all) {
        const argv = procList(pid, 'cmdline');
        if (argv === undefined) continue;
        expect(argv, `pid ${pid}: ${argv.join(' ')}`).not.toContain('--token');
        expect(argv.join(' '), `pid ${pid}`).not.toContain(token);
      }

      expect(modeOf(stateDir)).toBe(0o700);
      for (const sub of ['blobs', 'logs', 'work']) expect(modeOf(join(stateDir, sub)), sub).toBe(0o700);
      for (const file of ['state.db', 'state.db-wal', 'state.db-shm'])
        expect(modeOf(join(stateDir, file)), file).toBe(0o600);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGINT');
      await run.result;
    }
  });

  it('tightens an existing world-readable database, its WAL files and folders', () => {
    const stateDir = join(dir(), 'old');
    mkdirSync(join(stateDir, 'blobs'), { recursive: true, mode: 0o755 });
    for (const file of ['state.db', 'state.db-wal', 'state.db-shm']) {
      writeFileSync(join(stateDir, file), '', { mode: 0o644 });
      chmodSync(join(stateDir, file), 0o644);
    }
    chmodSync(stateDir, 0o755);
    chmodSync(join(stateDir, 'blobs'), 0o777);
    const database = openPrivateStateDir(stateDir, { dirs: ['blobs', 'logs'], database: 'state.db' });
    expect(database).toBe(join(stateDir, 'state.db'));
    expect(modeOf(stateDir)).toBe(0o700);
    expect(modeOf(join(stateDir, 'blobs'))).toBe(0o700);
    expect(modeOf(join(stateDir, 'logs'))).toBe(0o700);
    for (const file of ['state.db', 'state.db-wal', 'state.db-shm'])
      expect(modeOf(join(stateDir, file)), file).toBe(0o600);
  });
});
