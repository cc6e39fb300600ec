import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { StateDirLock } from '../../src/app/stateDirLock.js';
import { UserError } from '../../src/core/errors.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { distPath } from '../helpers/dist.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();
const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** A script that takes the lock on argv[2], says `locked <pid>` (or the error line, exit 1) and holds it. */
function holderScript(): string {
  const path = join(dir(), 'holder.mjs');
  const lockModule = pathToFileURL(distPath('src/app/stateDirLock.js')).href;
  writeFileSync(
    path,
    `const { StateDirLock } = await import(${JSON.stringify(lockModule)});
try { StateDirLock.acquire(process.argv[2]); } catch (e) { console.log(e.message); process.exit(1); }
console.log('locked ' + process.pid);
setInterval(() => {}, 60_000);
`,
  );
  return path;
}

function stateDir(name: string): string {
  const path = join(dir(), name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** Resolves with the child's first stdout line. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const end = out.indexOf('\n');
      if (end >= 0) resolve(out.slice(0, end));
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`exited ${code} before a line: ${out}`)));
  });
}

/** `Z` while the process is a zombie (dead, not yet reaped by its parent). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/**
 * Whether `pid` is dead and every thread of it has exited. A killed multi-threaded process shows its main
 * thread as a zombie while its other threads are still exiting, and the open files (with their locks) are
 * closed only when the last thread is gone.
 */
function deadWithAllThreads(pid: number): boolean {
  return processState(pid) === 'Z' && readdirSync(`/proc/${pid}/task`).length === 1;
}

describe('state directory lock', () => {
  it('refuses a second holder with one line naming the first, and is free again once released', () => {
    const state = stateDir('twice');
    const lock = StateDirLock.acquire(state);
    let refused: unknown;
    try {
      StateDirLock.acquire(state);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as Error).message).toBe(
      `another spotfuse run (pid ${process.pid}) is using the state directory ${state}`,
    );
    lock.release();
    StateDirLock.acquire(state).release();
  });

  it('admits a rerun at once after kill -9, while the killed holder is still an unreaped zombie', async () => {
    const state = stateDir('zombie');
    // No init to reap it: the holder's parent execs into `sleep`, which never waits for its children.
    const parent = spawn(
      'sh',
      ['-c', `"${process.execPath}" "${holderScript()}" "${state}" & exec sleep 300`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    started.push(parent);
    const line = await firstLine(parent);
    const holder = Number(line.replace('locked ', ''));
    expect(line).toBe(`locked ${holder}`);
    expect(() => StateDirLock.acquire(state)).toThrow(`another spotfuse run (pid ${holder})`);

    process.kill(holder, 'SIGKILL');
    while (!deadWithAllThreads(holder)) await new Promise((r) => setImmediate(r));
    // The dead holder still answers kill(pid, 0), which is what fooled the PID-file lock.
    expect(() => process.kill(holder, 0)).not.toThrow();
    const lock = StateDirLock.acquire(state);
    expect(processState(holder)).toBe('Z');
    lock.release();
  });

  it('lets exactly one of several runs started together win; the others get the one-line error', async () => {
    const state = stateDir('race');
    const script = holderScript();
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, [script, state], { stdio: ['ignore', 'pipe', 'inherit'] });
      started.push(child);
      return child;
    });
    const lines = await Promise.all(children.map(firstLine));
    const winners = lines.filter((l) => l.startsWith('locked '));
    expect(winners).toHaveLength(1);
    const winner = Number(winners[0].replace('locked ', ''));
    for (const line of lines.filter((l) => !l.startsWith('locked ')))
      expect(line).toMatch(
        new RegExp(`^another spotfuse run( \\(pid ${winner}\\))? is using the state directory ${state}$`),
      );
  });

  it('admits a rerun at once after kill -9 of a run started through npx', async () => {
    const input = await cfrWithAudio(dir());
    const state = join(dir(), 'npx-state');
    const args = ['run', '-t', input, '-o', join(dir(), 'npx.mp4'), '--state-dir', state];
    const repo = fileURLToPath(new URL('../..', import.meta.url));
    const npx = spawn('npx', ['--no-install', 'spotfuse', ...args, '--processors', 'passthrough'], {
      cwd: repo,
      stdio: 'ignore',
    });
    started.push(npx);
    // The run writes its pid beside the lock once it holds it.
    const pidFile = join(state, 'lock.pid');
    while (!existsSync(pidFile) || !readFileSync(pidFile, 'utf8'))
      await new Promise((r) => setTimeout(r, 20));
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');

    const rerun = await runCli([...args, '--processors', 'passthrough', '--workers', '1'], dir());
    expect(rerun.stderr).not.toContain('another spotfuse run');
    expect(rerun.code).toBe(0);
    expect(existsSync(join(dir(), 'npx.mp4'))).toBe(true);
  }, 90_000);
});
