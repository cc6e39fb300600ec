import { formatDuration } from './format.js';

/**
 * How long a worker or a waiting client keeps trying a coordinator (or a worker its object store) that
 * cannot be reached (`--unreachable-limit`). Long enough to ride out what a cluster meets: a managed
 * database's failover (1–2 min), a coordinator's rollout. A worker that gives up is gone with its node and
 * its downloaded models, and a fleet's workers all give up together.
 */
export const DEFAULT_UNREACHABLE_MS = 10 * 60_000;

/** Pauses between tries while something is out of reach: doubled after each failure up to the last. */
const PAUSES_MS = { first: 1000, last: 8000 };

/** Something out of reach since the first failed try: how long for, and the pause before the next try. */
export class Outage {
  readonly since = Date.now();
  private pauseMs = PAUSES_MS.first;

  /** How long it has lasted, for a line people read: `2m05s`. */
  lasted(): string {
    return formatDuration((Date.now() - this.since) / 1000);
  }

  outlasts(limitMs: number): boolean {
    return Date.now() - this.since > limitMs;
  }

  /** The pause before the next try (1, 2, 4, then 8 s each time). */
  nextPauseMs(): number {
    const pause = this.pauseMs;
    this.pauseMs = Math.min(pause * 2, PAUSES_MS.last);
    return pause;
  }
}
