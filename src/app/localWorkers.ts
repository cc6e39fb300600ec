import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface LocalWorkerOptions {
  count: number;
  /** Command that starts one worker; `--worker-id ID` is appended. */
  command: string[];
  /**
   * Arguments for the worker in slot 0 … count − 1 (its GPU, say), appended to the command. A worker
   * started in place of one that died takes the dead one's slot.
   */
  argsFor?: (slot: number) => string[];
  /** Added to this process's environment for each worker: how secrets reach it. */
  env?: Record<string, string>;
  logDir: string;
  /** Called when a worker exits while it was supposed to keep running. */
  onUnexpectedExit: (workerId: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

interface RunningWorker {
  id: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/**
 * The embedded mode's worker processes: children speaking the same HTTP lease protocol as remote workers.
 * An IPC channel ties them to this process: if it dies (even by kill -9), they see the channel close
 * and stop at once.
 */
export class LocalWorkers {
  private readonly workers = new Map<string, RunningWorker>();
  private stopping = false;
  private started = 0;
  /** Every worker's slot, kept after it exits for its replacement. */
  private readonly slots = new Map<string, number>();

  constructor(private readonly options: LocalWorkerOptions) {
    mkdirSync(options.logDir, { recursive: true });
  }

  start(): void {
    for (let slot = 0; slot < this.options.count; slot++) this.spawnInSlot(slot);
  }

  /** Starts a replacement for a worker that died, in its slot. */
  spawnOne(replacing?: string): string {
    const slot = (replacing === undefined ? undefined : this.slots.get(replacing)) ?? 0;
    return this.spawnInSlot(slot);
  }

  private spawnInSlot(slot: number): string {
    const id = `local-${process.pid}-${++this.started}`;
    this.slots.set(id, slot);
    const [command, ...args] = this.options.command;
    const log = createWriteStream(join(this.options.logDir, `${id}.log`));
    const slotArgs = this.options.argsFor?.(slot) ?? [];
    const child = spawn(command, [...args, ...slotArgs, '--worker-id', id], {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.workers.delete(id);
        if (!this.stopping) this.options.onUnexpectedExit(id, code, signal);
        resolve();
      });
    });
    this.workers.set(id, { id, child, exited });
    return id;
  }

  get size(): number {
    return this.workers.size;
  }

  /** Asks every worker to stop (SIGTERM: flush, release, exit) and waits; kills stragglers after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const running = [...this.workers.values()];
    for (const w of running) w.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const w of running) w.child.kill('SIGKILL');
    }, graceMs);
    await Promise.all(running.map((w) => w.exited));
    clearTimeout(timer);
  }

  pids(): number[] {
    return [...this.workers.values()].map((w) => w.child.pid ?? -1);
  }
}
