import { Random } from './random.js';

/** Every kind of fault chaos injects. */
export const FAULT_KINDS = [
  /** kill -9 of a busy worker: no notice, its lease must expire. */
  'kill',
  /** SIGTERM of a busy worker: preemption with notice, it flushes and releases its task. */
  'sigterm',
  /** SIGSTOP of a busy worker until its task is someone else's, then SIGCONT: its late calls are fenced. */
  'zombie',
  /** kill -9 of a coordinator replica, then the same replica again. */
  'replica',
  /** PostgreSQL stopped at once (no checkpoint) and started again. */
  'postgres',
  /** The S3 server resets every connection for a while. */
  's3-fail',
  /** The S3 server stops answering for a while, then goes on. */
  's3-stall',
  /** A busy worker's heartbeats vanish until its lease is lost (or its task ends). */
  'heartbeats',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  kind: FaultKind;
  /** Injected once the job has this share of its frames done (checkpointed or in flight). */
  atShare: number;
  /** How long an S3 outage lasts. */
  durationMs: number;
  /** Which replica, for `replica`; which busy worker (index into the busy ones, modulo), for worker faults. */
  target: number;
}

export interface ScheduleOptions {
  /** Faults per run: from `min` to `max`. */
  faults: { min: number; max: number };
  /** Kinds to draw from (default: all). */
  kinds?: readonly FaultKind[];
}

/** The faults of one seeded run, in the order they are injected. */
export function drawSchedule(seed: number, options: ScheduleOptions): PlannedFault[] {
  const random = new Random(seed);
  const kinds = options.kinds ?? FAULT_KINDS;
  const count = random.int(options.faults.min, options.faults.max);
  const faults = Array.from({ length: count }, () => ({
    kind: random.pick(kinds),
    atShare: 0.05 + 0.8 * random.next(),
    durationMs: random.int(500, 4000),
    target: random.int(0, 1000),
  }));
  return faults.sort((a, b) => a.atShare - b.atShare);
}
