import { setTimeout as sleep } from 'node:timers/promises';
import { messageWithCause } from '../core/errors.js';
import { storeUnreachable } from './transfer.js';

/**
 * Runs the task again (from its last checkpoint) while it fails because the object store cannot be
 * reached, backing off, for up to `until` ms after the first such failure: an outage of the store would otherwise
 * use up the task's failure budget in seconds, on every worker at once. The lease is kept meanwhile.
 */
export async function retryWhileStoreUnreachable<T>(
  run: () => Promise<T>,
  options: {
    until: number;
    stopped: () => boolean;
    signal: AbortSignal;
    log: (message: string) => void;
    /** The first pause, doubled after each failure up to 8 s (default 500 ms). */
    firstPauseMs?: number;
  },
): Promise<T> {
  let since: number | undefined;
  for (let pause = options.firstPauseMs ?? 500; ; pause = Math.min(pause * 2, 8000)) {
    try {
      return await run();
    } catch (error) {
      since ??= Date.now();
      if (!storeUnreachable(error) || options.stopped() || Date.now() - since + pause > options.until)
        throw error;
      options.log(`object store unreachable (${messageWithCause(error).slice(0, 200)})`);
      await sleep(pause, undefined, { signal: options.signal }).catch(() => {});
    }
  }
}
