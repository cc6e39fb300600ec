/** When a failed delivery is tried again: exponential, capped, with jitter so retries do not march in step. */
export interface BackoffOptions {
  /** Delay after the first failure (default 10 s); doubles with every further failure. */
  baseMs: number;
  /** Longest delay (default 1 h). */
  maxMs: number;
  /** Tries in all before a notification is given up as `dead` (default 30: about a day of retries). */
  maxAttempts: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter] (default 0.2). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  baseMs: 10_000,
  maxMs: 60 * 60 * 1000,
  maxAttempts: 30,
  jitter: 0.2,
};

/** Milliseconds to wait after failed try number `attempt` (1-based), or undefined: give up. */
export function retryDelayMs(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= options.maxAttempts) return undefined;
  const exponential = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
  const factor = 1 + options.jitter * (2 * random() - 1);
  return Math.round(Math.min(options.maxMs, exponential * factor));
}
