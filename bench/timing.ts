import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Runs a command to completion (in `env`, default this process's); rejects with the end of its stderr when it fails. */
export function run(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed:\n${stderr}`)),
    );
  });
}

/**
 * CPU seconds (user + system) of this process's finished children and their waited-for descendants
 * (/proc/self/stat's cutime and cstime, in 1/100 s): on a shared machine this moves less than wall time.
 */
export function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // Fields 16 and 17 of the whole line; the split leaves the 3rd (state) at index 0.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

export interface Timing {
  /** Seconds from start to end. */
  wall: number;
  /** CPU seconds of the child processes it ran (all their threads). */
  cpu: number;
}

/** Times `work`, which must only run child processes (their CPU time is counted once they exit). */
export async function timed(work: () => Promise<void>): Promise<Timing> {
  const start = process.hrtime.bigint();
  const cpu = childrenCpuSeconds();
  await work();
  return { wall: Number(process.hrtime.bigint() - start) / 1e9, cpu: childrenCpuSeconds() - cpu };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
