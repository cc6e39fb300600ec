import {
  type Cloud,
  type CloudWatcherOptions,
  createCloudWatcher,
  detectCloud,
  endpointFor,
  type Log,
  type MetadataEndpoints,
  type PreemptionWatcher,
} from './clouds/index.js';

/**
 * The exit status of a worker that stopped on a preemption notice (EX_TEMPFAIL: try again later). A
 * Kubernetes Job's podFailurePolicy retries such a pod without spending its backoff budget, and a
 * per-chunk Job does not count as done while its task is back in the queue.
 */
export const PREEMPTED_EXIT_CODE = 75;

/**
 * A notice that this worker is going away. The first notice is final: the worker stops claiming, flushes
 * its current segment as a checkpoint and releases its task as `preempted`.
 */
export class PreemptionNotice {
  private source: string | undefined;
  private readonly listeners: ((source: string) => void)[] = [];

  get requested(): boolean {
    return this.source !== undefined;
  }

  get reason(): string | undefined {
    return this.source;
  }

  trigger(source: string): void {
    if (this.source !== undefined) return;
    this.source = source;
    for (const listener of this.listeners) listener(source);
  }

  /** Calls `listener` on the notice (at once if it came already); the returned function unsubscribes it. */
  onNotice(listener: (source: string) => void): () => void {
    if (this.source !== undefined) listener(this.source);
    else this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }
}

/** SIGTERM (Kubernetes, systemd, docker stop) and SIGINT count as a preemption notice. */
export function watchSignals(notice: PreemptionNotice): () => void {
  const onSignal = (signal: NodeJS.Signals) => notice.trigger(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

export interface WatchPreemptionOptions {
  /**
   * `auto` (default) probes the metadata services and watches the one that answers; `none` watches
   * signals only; a cloud's name watches that cloud without probing.
   */
  cloud?: 'auto' | 'none' | Cloud;
  /** Base URL per cloud's metadata service, e.g. `{ aws: 'http://127.0.0.1:8080' }`. */
  endpoints?: MetadataEndpoints;
  /** Budget of auto-detection (default 1000 ms). */
  detectTimeoutMs?: number;
  /** Also treat SIGTERM/SIGINT as a notice (default true). */
  signals?: boolean;
  /** Per-cloud settings (poll intervals, AWS rebalance, Azure acknowledgement, ...). */
  watchers?: CloudWatcherOptions;
  log?: Log;
}

export interface PreemptionWatch {
  /** The cloud being watched once detection is over; undefined when only signals are watched. */
  readonly cloud: Promise<Cloud | undefined>;
  /**
   * Stops watching: signal handlers removed, polling ended. Call it once the worker is done: on Azure it
   * also approves the Scheduled Event that gave the notice, so the eviction need not wait its full notice.
   */
  stop(): Promise<void>;
}

/**
 * Watches every source of notice that applies: signals at once, and the cloud's metadata service once
 * detected (in the background, so a worker can start claiming meanwhile). Never throws on network errors.
 */
export function watchPreemption(
  notice: PreemptionNotice,
  options: WatchPreemptionOptions = {},
): PreemptionWatch {
  const log = options.log ?? (() => {});
  const stopSignals = options.signals === false ? () => {} : watchSignals(notice);
  const detection = new AbortController();
  let stopped = false;
  let watcher: PreemptionWatcher | undefined;
  const choice = options.cloud ?? 'auto';
  const cloud = (async (): Promise<Cloud | undefined> => {
    if (choice === 'none') return undefined;
    const found =
      choice === 'auto'
        ? await detectCloud(options.endpoints, options.detectTimeoutMs ?? 1000, detection.signal)
        : choice;
    if (stopped) return found;
    if (found === undefined) {
      log('no cloud metadata service answered; watching signals only');
      return undefined;
    }
    watcher = createCloudWatcher(found, { endpoints: options.endpoints, log, watchers: options.watchers });
    watcher.start(notice);
    log('watching cloud metadata for preemption', {
      cloud: found,
      endpoint: endpointFor(found, options.endpoints),
    });
    return found;
  })();
  return {
    cloud,
    async stop() {
      if (stopped) return;
      stopped = true;
      stopSignals();
      detection.abort();
      await cloud;
      await watcher?.stop();
    },
  };
}
