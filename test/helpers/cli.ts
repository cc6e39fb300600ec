import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './dist.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `spotfuse ARGS` as a user would (the built bin), without a terminal. */
export function startCli(args: string[], cwd: string): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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
  return { child, result };
}

export function runCli(args: string[], cwd: string): Promise<CliResult> {
  return startCli(args, cwd).result;
}
