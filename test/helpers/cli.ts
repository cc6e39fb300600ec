import { type ChildProcess, spawn } from 'node:child_process';
import { cliPath } from './dist.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StartedCli {
  child: ChildProcess;
  /** What it has printed on stderr so far (a server's "listening" line, say). */
  stderr: () => string;
  result: Promise<CliResult>;
}

export interface StartOptions {
  /** Lead a process group of its own, as a terminal's foreground command does (signal it with `-pid`). */
  ownGroup?: boolean;
}

/** Starts `spotfuse ARGS` as a user would (the built bin), without a terminal, with `env` added. */
export function startCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  options: StartOptions = {},
): StartedCli {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownGroup === true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, stderr: () => stderr, result };
}

export function runCli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, cwd, env).result;
}
