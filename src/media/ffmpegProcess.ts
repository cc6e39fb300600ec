import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { MediaError } from './errors.js';
import { STALL_ENV, toolStallMs, watchForStall } from './stallWatch.js';

const STDERR_TAIL_BYTES = 4096;

export interface ToolOptions {
  /** Give the child a writable stdin; otherwise stdin is closed. */
  stdin?: boolean;
  /**
   * Keep stdout for the caller to read; or a file descriptor to write it to (a pipe the caller reads, see
   * FramePipe); otherwise it is discarded.
   */
  stdout?: boolean | number;
  /** For a stdout given as a descriptor: true while the caller is not reading it, so a full pipe is no stall. */
  callerIdle?: () => boolean;
  /** Aborting kills the child with SIGKILL; `done` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Start of the error message when the tool fails, e.g. `cannot encode out.mp4`. */
  failure: string;
  /**
   * Kill the tool after this long without progress (see watchForStall); default `SPOTFUSE_TOOL_STALL_SECONDS`
   * (120 s), 0: never.
   */
  noProgressMs?: number;
}

export interface ToolProcess {
  child: ChildProcess;
  stdin: Writable | null;
  stdout: Readable | null;
  /** Settles when the child has exited: resolves on exit code 0, rejects with a MediaError otherwise. */
  done: Promise<void>;
  /** The last few KB of what the child wrote to stderr. */
  stderrTail(): string;
  kill(): void;
}

/** Tools still running, killed when this process exits. */
const running = new Set<ChildProcess>();
let killOnExit = false;

function track(child: ChildProcess): void {
  if (!killOnExit) {
    killOnExit = true;
    process.once('exit', () => {
      for (const tool of running) tool.kill('SIGKILL');
    });
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
}

/**
 * Spawns ffmpeg or ffprobe and turns a failed exit into a one-line MediaError.
 *
 * The tool gets a process group of its own, so that a terminal's Ctrl-C (SIGINT to the whole foreground
 * group) reaches only spotfuse, which stops the tool when it sees fit: a worker flushes the segment it
 * is encoding instead of losing it. The tool still ends with this process: on any exit it is killed, and
 * after a kill -9 its pipes break (a decoder fails writing, an encoder reads the end of its input).
 */
export function spawnTool(binary: string, args: string[], options: ToolOptions): ToolProcess {
  const child = spawn(binary, args, {
    stdio: [options.stdin ? 'pipe' : 'ignore', stdoutOf(options.stdout), 'pipe'],
    detached: true,
  });
  track(child);
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL_BYTES);
  });
  // A child that exits early breaks the pipe; the exit code is what gets reported.
  child.stdin?.on('error', () => {});

  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // The whole group: whatever the tool started goes with it.
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  const onAbort = () => kill();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) kill();
  const limitMs = options.noProgressMs ?? toolStallMs();
  let stalled = false;
  watchForStall({
    child,
    stdin: child.stdin,
    stdout: child.stdout,
    callerIdle: options.callerIdle,
    limitMs,
    onStall: () => {
      stalled = true;
      kill();
    },
  });

  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => {
      reject(new MediaError(`${options.failure}: cannot run ${binary}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal?.aborted) reject(options.signal.reason);
      else if (stalled)
        reject(
          new MediaError(
            `${options.failure}: no progress for ${limitMs / 1000} s, stopped (a stalled input or output; ${STALL_ENV} sets the limit)`,
          ),
        );
      else if (code === 0) resolve();
      else reject(new MediaError(`${options.failure}: ${relevantLine(tail) ?? `exit ${code ?? signal}`}`));
    });
  });
  // Callers that only stream may await `done` late; never let it count as unhandled meanwhile.
  done.catch(() => {});

  return { child, stdin: child.stdin, stdout: child.stdout, done, stderrTail: () => tail, kill };
}

function stdoutOf(stdout: ToolOptions['stdout']): 'pipe' | 'ignore' | number {
  if (typeof stdout === 'number') return stdout;
  return stdout ? 'pipe' : 'ignore';
}

/** Runs a tool to completion and returns everything it wrote to stdout. */
export async function runTool(binary: string, args: string[], options: ToolOptions): Promise<Buffer> {
  const tool = spawnTool(binary, args, { ...options, stdout: true });
  const chunks: Buffer[] = [];
  for await (const chunk of tool.stdout!) chunks.push(chunk as Buffer);
  await tool.done;
  return Buffer.concat(chunks);
}

// ffmpeg's closing remarks after the line that names the actual problem.
const WRAP_UP =
  /^(conversion failed|error initializing output stream|could not write header|exiting normally)/i;

/** Non-empty stderr lines without ffmpeg's `[demuxer @ 0x…]` prefixes. */
export function stderrLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n|\r/)
    .map((line) => line.replace(/^\[[^\]]* @ (0x)?[0-9a-f]+\]\s*/i, '').trim())
    .filter((line) => line !== '');
}

/**
 * Picks the stderr line that best explains a failure: with `-v error` that is the last one, unless
 * ffmpeg only summed up after it.
 */
export function relevantLine(stderr: string): string | undefined {
  const lines = stderrLines(stderr);
  return lines.filter((line) => !WRAP_UP.test(line)).at(-1) ?? lines.at(-1);
}
