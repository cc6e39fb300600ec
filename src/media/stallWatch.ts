import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { MediaError } from './errors.js';

/** How long an ffmpeg/ffprobe child may go without progress before it is killed (default 120 s). */
export const STALL_ENV = 'SPOTFUSE_TOOL_STALL_SECONDS';
const DEFAULT_STALL_SECONDS = 120;

/** The no-progress limit from `SPOTFUSE_TOOL_STALL_SECONDS`; 0 turns the watch off. */
export function toolStallMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[STALL_ENV]?.trim();
  if (!text) return DEFAULT_STALL_SECONDS * 1000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new MediaError(`${STALL_ENV} must be a number of seconds (0: no limit), not "${text}"`);
  }
  return seconds * 1000;
}

/** Bytes the process read and wrote through system calls (pipes, sockets and files alike); undefined off Linux. */
function ioCounters(pid: number): string | undefined {
  try {
    return (readFileSync(`/proc/${pid}/io`, 'latin1').match(/^[rw]char: \d+$/gm) ?? []).join(' ');
  } catch {
    return undefined;
  }
}

/** A pipe's byte count (child pipes are sockets); 0 for none. */
function bytes(pipe: Readable | Writable | null, field: 'bytesRead' | 'bytesWritten'): number {
  return (pipe as unknown as Record<string, number> | null)?.[field] ?? 0;
}

export interface StallWatchOptions {
  child: ChildProcess;
  stdin: Writable | null;
  stdout: Readable | null;
  /** True while this process is not reading what the child writes elsewhere (a pipe given as its stdout). */
  callerIdle?: () => boolean;
  limitMs: number;
  /** Called once when the child made no progress for `limitMs`. */
  onStall: () => void;
}

/**
 * Watches a child for progress: bytes on its pipes, or (on Linux) its own reads and writes of any file or
 * socket. Time the child spends waiting on this process does not count: output not yet read from its
 * stdout, or an open stdin with nothing queued. Returns the function that stops the watch.
 */
export function watchForStall(options: StallWatchOptions): () => void {
  const { child, stdin, stdout, limitMs } = options;
  if (limitMs <= 0 || child.pid === undefined) return () => {};
  const pid = child.pid;
  // Counters only: a 'data' listener would switch stdout to flowing mode under its reader's feet.
  const moved = () =>
    `${ioCounters(pid)} ${bytes(stdin, 'bytesWritten')} ${bytes(stdout, 'bytesRead')} ${bytes(child.stderr, 'bytesRead')}`;
  let lastProgress = Date.now();
  let last = moved();
  const timer = setInterval(
    () => {
      const now = moved();
      const waitingOnUs =
        (stdout !== null && stdout.readableLength > 0) ||
        (stdin !== null && !stdin.writableEnded && stdin.writableLength === 0) ||
        options.callerIdle?.() === true;
      if (now !== last || waitingOnUs) lastProgress = Date.now();
      last = now;
      if (Date.now() - lastProgress >= limitMs) {
        stop();
        options.onStall();
      }
    },
    Math.min(1000, Math.max(50, limitMs / 4)),
  );
  timer.unref();
  const stop = () => clearInterval(timer);
  child.once('exit', stop);
  return stop;
}
