import { errorText } from './http.js';
import type { Log, NoticeSink, PreemptionWatcher } from './types.js';

/**
 * Background loop around one metadata service: `run` is called once with a signal that aborts on
 * `stop()` or on any notice (the first notice is final, so there is nothing left to watch for).
 * Errors never leave the loop: a watcher that cannot reach its metadata service logs it and keeps trying.
 */
export abstract class MetadataWatcher implements PreemptionWatcher {
  abstract readonly name: string;
  protected readonly log: Log;
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private notice: NoticeSink | undefined;
  private failing = false;

  constructor(log: Log | undefined) {
    this.log = log ?? (() => {});
  }

  start(notice: NoticeSink): void {
    if (this.running) throw new Error(`${this.name} preemption watcher already started`);
    this.notice = notice;
    notice.onNotice(() => this.controller.abort());
    this.running = this.run(this.controller.signal).catch((error: unknown) => {
      if (!this.controller.signal.aborted) {
        this.log('preemption watcher stopped by an error', { cloud: this.name, error: errorText(error) });
      }
    });
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }

  protected abstract run(signal: AbortSignal): Promise<void>;

  protected trigger(source: string, fields?: Record<string, unknown>): void {
    this.log('preemption notice from metadata service', { cloud: this.name, source, ...fields });
    this.notice?.trigger(source);
  }

  /** Logs the first failure of a run of failures, not each one. */
  protected failed(what: string, error: unknown): void {
    if (this.controller.signal.aborted || this.failing) return;
    this.failing = true;
    this.log('metadata service unavailable, still watching', {
      cloud: this.name,
      request: what,
      error: errorText(error),
    });
  }

  protected succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log('metadata service available again', { cloud: this.name });
  }
}

export class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
