import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ProtocolViolation } from '../../src/core/lease.js';
import { planChunks } from '../../src/core/planner.js';
import type { FrameRange, ReleaseReason, Segment, Task } from '../../src/core/types.js';
import type { Store } from '../../src/store/store.js';
import { passthroughSpec } from '../helpers/jobSpec.js';
import { backends } from '../helpers/storeBackends.js';
import { propertyParams } from './runs.js';

/**
 * Any interleaving of claim, heartbeat, checkpoint, complete, release, expiry and cancel across several
 * workers, replayed against a real store: fencing holds, no frame is checkpointed twice, every task's
 * checkpoints are a contiguous chain, preemptions never count as failures, and a job merges (and
 * completes) only once every frame is covered.
 */

const TTL = 1000;
const WORKERS = 3;
const DRAIN_STEPS = 200;
const spec = passthroughSpec;

type Op =
  | { op: 'claim'; w: number; abandon: boolean }
  | { op: 'heartbeat'; w: number }
  | { op: 'checkpoint'; w: number; frames: number; shape: 'next' | 'gap' | 'overlap' | 'replay' }
  | { op: 'complete'; w: number }
  | { op: 'release'; w: number; reason: ReleaseReason }
  | { op: 'tick'; ms: number }
  | { op: 'expire' };

const worker = fc.integer({ min: 0, max: WORKERS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('claim' as const),
      w: worker,
      // A worker that claims again while holding a lease abandons it (it vanished, and came back).
      abandon: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('heartbeat' as const), w: worker }) },
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('checkpoint' as const),
      w: worker,
      frames: fc.integer({ min: 1, max: 25 }),
      shape: fc.oneof(
        { weight: 6, arbitrary: fc.constant('next' as const) },
        { weight: 1, arbitrary: fc.constantFrom('gap' as const, 'overlap' as const, 'replay' as const) },
      ),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('complete' as const), w: worker }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('release' as const),
      w: worker,
      reason: fc.constantFrom<ReleaseReason>('preempted', 'error'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 2 * TTL }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expire' as const) }) },
);

const scenario = fc.record({
  frameCount: fc.integer({ min: 1, max: 60 }),
  chunkFrames: fc.integer({ min: 1, max: 40 }),
  ops: fc.array(op, { minLength: 1, maxLength: 60 }),
  /** Where in the sequence the job is canceled, if it is. */
  /** Failures a task may have before its job fails (1: the first error fails the job). */
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  cancelAt: fc.option(fc.nat({ max: 60 }), { nil: undefined, freq: 3 }),
});

interface Held {
  taskId: string;
  epoch: number;
  kind: Task['kind'];
  range: FrameRange;
  /** The next frame this worker believes it checkpoints (a zombie's belief may be outdated). */
  next: number;
  last?: { range: FrameRange; key: string };
}

interface Snapshot {
  tasks: Task[];
  segments: Segment[];
  state: string;
}

async function snapshot(store: Store, jobId: string): Promise<Snapshot> {
  const [tasks, segments, job] = await Promise.all([
    store.listTasks(jobId),
    store.listSegments(jobId),
    store.getJob(jobId),
  ]);
  return { tasks, segments, state: job!.state };
}

/** Runs one call; a protocol violation (a malformed checkpoint or an early complete) counts as a refusal. */
async function attempt(call: () => Promise<string | ProtocolViolation>): Promise<string> {
  const result = await call();
  return typeof result === 'string' ? result : 'refused';
}

/** Job states the replays reached, so that a generator that never gets a job to merge is noticed. */
const reached = new Set<string>();

async function replay(
  store: Store,
  {
    frameCount,
    chunkFrames,
    ops,
    maxAttempts,
    cancelAt,
  }: { frameCount: number; chunkFrames: number; ops: Op[]; maxAttempts: number; cancelAt?: number },
): Promise<void> {
  const framePts = Array.from({ length: frameCount }, (_, i) => i * 1000 + (i % 3) * 7); // VFR-ish
  const job = await store.createJob(
    { key: 'k', spec, probe: { video: { fps: 30 } }, framePts, chunks: planChunks(frameCount, chunkFrames) },
    0,
  );
  const held: (Held | undefined)[] = Array.from({ length: WORKERS }, () => undefined);
  const errors = new Map<string, number>();
  const preempts = new Map<string, number>();
  let now = 1;
  let keyed = 0;

  /** After the random calls, well-behaved workers finish what is left (or find that nothing can be). */
  const drain = (i: number): Op => {
    if (i === 0) return { op: 'tick', ms: 2 * TTL };
    if (i === 1) return { op: 'expire' };
    const w = i % WORKERS;
    const h = held[w];
    if (!h) return { op: 'claim', w, abandon: false };
    if (h.kind === 'process' && h.next < h.range.end)
      return { op: 'checkpoint', w, frames: h.range.end, shape: 'next' };
    return { op: 'complete', w };
  };
  let state: string = job.state;
  for (let index = 0; ; index++) {
    const ending = index >= ops.length;
    if (ending && (index >= ops.length + DRAIN_STEPS || (state !== 'running' && state !== 'merging'))) break;
    const step = ending ? drain(index - ops.length) : ops[index];
    if (index === cancelAt) await store.cancelJob(job.id, now);
    const before = await snapshot(store, job.id);
    const h = 'w' in step ? held[step.w] : undefined;
    const current = h && before.tasks.find((t) => t.id === h.taskId);
    const fenced = h !== undefined && current !== undefined && current.epoch !== h.epoch;
    let result: string | undefined;
    switch (step.op) {
      case 'claim': {
        if (held[step.w] && !step.abandon) break;
        const claimed = await store.claim({ workerId: `w${step.w}`, pool: 'spot', now, leaseTtlMs: TTL });
        if (claimed) {
          const { task } = claimed;
          expect(task.epoch).toBe(before.tasks.find((t) => t.id === task.id)!.epoch + 1);
          held[step.w] = {
            taskId: task.id,
            epoch: task.epoch,
            kind: task.kind,
            range: task.range,
            next: task.nextFrame,
          };
        }
        break;
      }
      case 'heartbeat':
        if (h)
          result = await store.heartbeat(h.taskId, h.epoch, { framesDone: h.next - h.range.start }, now, TTL);
        break;
      case 'checkpoint': {
        if (h?.kind !== 'process') break;
        let segment: { range: FrameRange; key: string };
        if (step.shape === 'replay' && h.last) segment = h.last;
        else {
          const start =
            step.shape === 'gap'
              ? h.next + 1
              : step.shape === 'overlap'
                ? Math.max(h.range.start, h.next - 1)
                : h.next;
          segment = {
            range: { start, end: Math.min(h.range.end, start + step.frames) },
            key: `seg-${keyed++}`,
          };
        }
        result = await attempt(() => store.checkpoint(h.taskId, h.epoch, segment, now));
        if (result === 'ok' && segment.range.start === h.next && segment.range.end > h.next) {
          h.next = segment.range.end;
          h.last = segment;
        }
        break;
      }
      case 'complete':
        if (h) result = await attempt(() => store.complete(h.taskId, h.epoch, now));
        break;
      case 'release':
        if (h) {
          result = await store.release(h.taskId, h.epoch, step.reason, `boom ${now}`, now, maxAttempts);
          if (result === 'ok') {
            const counts = step.reason === 'error' ? errors : preempts;
            counts.set(h.taskId, (counts.get(h.taskId) ?? 0) + 1);
            held[step.w] = undefined;
          }
        }
        break;
      case 'tick':
        now += step.ms;
        break;
      case 'expire':
        await store.expireLeases(now);
        break;
    }
    // A worker drops its task once it is done, or once the coordinator says the lease is no longer its own.
    if (
      'w' in step &&
      (result === 'stale' || result === 'canceled' || (step.op === 'complete' && result === 'ok'))
    )
      held[step.w] = undefined;
    const after = await snapshot(store, job.id);
    reached.add(after.state);
    state = after.state;

    // Fencing: a holder whose epoch is no longer the task's changes nothing.
    if (fenced && result !== undefined) {
      expect(result).not.toBe('ok');
      expect(after).toEqual(before);
    }
    // Checkpoints: per task a contiguous chain from its first frame up to nextFrame; no frame twice.
    const covered = new Set<number>();
    for (const task of after.tasks.filter((t) => t.kind === 'process')) {
      const chain = after.segments
        .filter((s) => s.taskId === task.id)
        .sort((a, b) => a.range.start - b.range.start);
      let edge = task.range.start;
      for (const s of chain) {
        expect(s.range.start).toBe(edge);
        expect(s.range.end).toBeGreaterThan(s.range.start);
        for (let f = s.range.start; f < s.range.end; f++) {
          expect(covered.has(f)).toBe(false);
          covered.add(f);
        }
        edge = s.range.end;
      }
      expect(task.nextFrame).toBe(edge);
      expect(edge).toBeLessThanOrEqual(task.range.end);
      if (task.state === 'done') expect(edge).toBe(task.range.end);
      // Preemptions (and expiries) never count as failures.
      expect(task.failures).toBe(errors.get(task.id) ?? 0);
      expect(task.preemptions).toBeGreaterThanOrEqual(preempts.get(task.id) ?? 0);
    }
    // A job merges, and completes, only once every frame is covered.
    if (after.state === 'merging' || after.state === 'completed') expect(covered.size).toBe(frameCount);
    if (after.state === 'completed') expect(after.tasks.every((t) => t.state === 'done')).toBe(true);
    if (after.state === 'failed')
      expect(after.tasks.some((t) => t.state === 'failed' && t.failures >= maxAttempts)).toBe(true);
    if (before.state !== 'running' && before.state !== 'merging') expect(after.state).toBe(before.state);
  }
  // Whatever happened before, a job neither canceled nor failed is finished by workers that behave.
  if (state !== 'canceled' && state !== 'failed') expect(state).toBe('completed');
}

const RUNS: Record<string, number> = { SqliteStore: 50, PostgresStore: 12 };

for (const backend of backends) {
  const title = `lease state machine on ${backend.name}${backend.skip ? ` (skipped: ${backend.skip})` : ''}`;
  describe.skipIf(backend.skip !== undefined)(title, () => {
    it('keeps its invariants under any interleaving of lease calls by several workers', async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const { store } = await backend.open();
          try {
            await replay(store, s);
          } finally {
            await store.close();
          }
        }),
        {
          ...propertyParams(RUNS[backend.name] ?? 25),
          // Always among the cases, so that every ending is reached whatever the seed draws.
          examples: [
            [
              {
                frameCount: 5,
                chunkFrames: 5,
                ops: [
                  { op: 'claim', w: 0, abandon: false },
                  { op: 'release', w: 0, reason: 'error' },
                ],
                maxAttempts: 1,
                cancelAt: undefined,
              },
            ],
            [
              {
                frameCount: 5,
                chunkFrames: 2,
                ops: [{ op: 'claim', w: 1, abandon: false }],
                maxAttempts: 3,
                cancelAt: 0,
              },
            ],
          ],
        },
      );
      expect([...reached]).toEqual(expect.arrayContaining(['merging', 'completed', 'failed', 'canceled']));
    }, 120_000);
  });
}
