/**
 * How long a worker waits for an unreachable coordinator (between tasks) or object store (during one)
 * before it gives up (`--unreachable-limit`). Long enough to ride out what a fleet meets: a managed
 * database's failover (1–2 min), a coordinator's rollout. A worker that gives up is gone with its node and
 * its downloaded models, and a fleet's workers all give up together.
 */
export const DEFAULT_UNREACHABLE_MS = 10 * 60_000;
