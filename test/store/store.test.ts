import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineName, OnDemandOnly, Pool } from '../../src/core/types.js';
import type { Store } from '../../src/store/store.js';
import { passthroughSpec } from '../helpers/jobSpec.js';
import { backends, type OpenedStore } from '../helpers/storeBackends.js';

const spec = passthroughSpec;
const TTL = 1000;

for (const backend of backends) {
  const title = `${backend.name} lease semantics${backend.skip ? ` (skipped: ${backend.skip})` : ''}`;
  describe.skipIf(backend.skip !== undefined)(title, () => {
    let store: Store;
    let opened: OpenedStore;

    beforeEach(async () => {
      opened = await backend.open();
      store = opened.store;
    });
    afterEach(() => store.close());

    async function newJob(
      chunks = [
        { start: 0, end: 20 },
        { start: 20, end: 30 },
      ],
    ) {
      const framePts = Array.from({ length: 30 }, (_, i) => i * 512);
      return store.createJob({ key: 'k', spec, probe: { video: { fps: 30 } }, framePts, chunks }, 0);
    }

    it('claims tasks in order, bumps the epoch and hands out frame timestamps', async () => {
      const job = await newJob();
      const a = await store.claim({ workerId: 'w1', pool: 'spot', now: 0, leaseTtlMs: TTL });
      const b = await store.claim({ workerId: 'w2', pool: 'spot', now: 0, leaseTtlMs: TTL });
      expect(a?.task.range).toEqual({ start: 0, end: 20 });
      expect(a?.task.epoch).toBe(1);
      expect(b?.task.range).toEqual({ start: 20, end: 30 });
      expect(await store.claim({ workerId: 'w3', pool: 'spot', now: 0, leaseTtlMs: TTL })).toBeUndefined();
      expect(await store.getFramePts(job.id, { start: 18, end: 21 })).toEqual([18 * 512, 19 * 512, 20 * 512]);
      // A claim carries its task's timestamps, from the frame before its next frame where there is one.
      expect(a).toMatchObject({ framePtsFrom: 0, framePts: Array.from({ length: 20 }, (_, i) => i * 512) });
      expect(b).toMatchObject({
        framePtsFrom: 19,
        framePts: Array.from({ length: 11 }, (_, i) => (19 + i) * 512),
      });
    });

    it('tells which checkpoint recorded its segment and which complete ended its task, not their retries', async () => {
      await newJob([{ start: 0, end: 30 }]);
      const c = (await store.claim({ workerId: 'w1', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
      const recorded: number[] = [];
      const seg = { range: { start: 0, end: 30 }, key: 's0' };
      expect(await store.checkpoint(c.task.id, 1, seg, 1, () => recorded.push(1))).toBe('ok');
      expect(await store.checkpoint(c.task.id, 1, seg, 2, () => recorded.push(2))).toBe('ok');
      expect(recorded).toEqual([1]);
      const ended: unknown[] = [];
      expect(await store.complete(c.task.id, 1, 3, undefined, (t) => ended.push(t))).toBe('ok');
      expect(await store.complete(c.task.id, 1, 4, undefined, (t) => ended.push(t))).toBe('ok');
      expect(ended).toEqual([
        {
          kind: 'process',
          attempt: expect.objectContaining({ workerId: 'w1', epoch: 1, outcome: 'completed', endedAt: 3 }),
        },
      ]);
      // The job is merging now: its merge task claims with no timestamps.
      const merge = (await store.claim({ workerId: 'w2', pool: 'spot', now: 5, leaseTtlMs: TTL }))!;
      expect(merge).toMatchObject({ task: { kind: 'merge' }, framePts: [], framePtsFrom: 0 });
      expect(await store.complete(merge.task.id, 1, 6, undefined, (t) => ended.push(t))).toBe('ok');
      expect(ended[1]).toMatchObject({ kind: 'merge', attempt: { workerId: 'w2', endedAt: 6 } });
    });

    it('fences calls with a stale epoch after the lease expired and was claimed again', async () => {
      await newJob([{ start: 0, end: 30 }]);
      const first = (await store.claim({ workerId: 'w1', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
      expect(await store.checkpoint(first.task.id, 1, { range: { start: 0, end: 10 }, key: 's0' }, 10)).toBe(
        'ok',
      );
      expect(await store.expireLeases(TTL + 1)).toBe(1);
      const second = (await store.claim({ workerId: 'w2', pool: 'spot', now: TTL + 2, leaseTtlMs: TTL }))!;
      expect(second.task.epoch).toBe(2);
      expect(second.task.nextFrame).toBe(10);
      // The zombie can no longer heartbeat, checkpoint, complete or release.
      expect(await store.heartbeat(first.task.id, 1, { framesDone: 20 }, TTL + 3, TTL)).toBe('stale');
      expect(
        await store.checkpoint(first.task.id, 1, { range: { start: 10, end: 20 }, key: 'z' }, TTL + 3),
      ).toBe('stale');
      expect(await store.complete(first.task.id, 1, TTL + 3)).toBe('stale');
      expect(await store.release(first.task.id, 1, 'error', 'x', TTL + 3, 3)).toBe('stale');
      const segments = await store.listSegments(second.job.id);
      expect(segments.map((s) => s.key)).toEqual(['s0']);
    });

    it('keeps the lease alive with heartbeats and expires it without', async () => {
      await newJob([{ start: 0, end: 30 }]);
      const c = (await store.claim({ workerId: 'w1', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
      expect(await store.heartbeat(c.task.id, 1, { framesDone: 5 }, 900, TTL)).toBe('ok');
      expect(await store.expireLeases(1500)).toBe(0);
      expect(await store.expireLeases(1901)).toBe(1);
      const attempts = await store.listAttempts(c.job.id);
      expect(attempts[0]).toMatchObject({ outcome: 'expired', framesDone: 5, framesCheckpointed: 0 });
      expect((await store.getTask(c.task.id))?.preemptions).toBe(1);
    });

    it('tells the sweep which leases it expired: task, job, holder, lifecycle and start', async () => {
      const job = await newJob();
      const instance = { lifecycle: 'on-demand' as const };
      await store.claim({ workerId: 'w1', pool: 'on-demand', now: 100, leaseTtlMs: TTL, instance });
      const kept = (await store.claim({ workerId: 'w2', pool: 'spot', now: 100, leaseTtlMs: TTL }))!;
      expect(await store.heartbeat(kept.task.id, 1, { framesDone: 1 }, 1000, TTL)).toBe('ok');
      const seen: unknown[] = [];
      expect(await store.expireLeases(1500, (leases) => seen.push(...leases))).toBe(1);
      expect(seen).toEqual([
        {
          taskId: `${job.id}-t0000`,
          jobId: job.id,
          epoch: 1,
          workerId: 'w1',
          lifecycle: 'on-demand',
          startedAt: 100,
          endedAt: 1500,
        },
      ]);
      expect(await store.expireLeases(1600, () => seen.push('called with nothing expired'))).toBe(0);
      expect(seen).toHaveLength(1);
    });

    it('reports queue depth by kind and priority, running tasks by lifecycle and active jobs', async () => {
      expect(await store.leaseStats()).toEqual({ pending: [], running: [], jobs: [] });
      const framePts = [0, 1, 2, 3];
      const chunks = [
        { start: 0, end: 2 },
        { start: 2, end: 4 },
      ];
      const normal = await store.createJob({ key: 'n', spec, probe: {}, framePts, chunks }, 1);
      await store.createJob(
        { key: 'u', spec: { ...spec, priority: 'urgent' } as typeof spec, probe: {}, framePts, chunks },
        2,
      );
      const failing = await store.createJob({ key: 'f', spec, probe: {}, framePts, chunks }, 3);
      const sorted = async () => {
        const stats = await store.leaseStats();
        const order = (a: object, b: object) => JSON.stringify(a).localeCompare(JSON.stringify(b));
        return { pending: stats.pending.sort(order), running: stats.running.sort(order), jobs: stats.jobs };
      };
      // The urgent job's two chunks go first: one to a spot worker, one to a worker that reported nothing.
      await store.claim({
        workerId: 'a',
        pool: 'spot',
        now: 4,
        leaseTtlMs: TTL,
        instance: { lifecycle: 'spot' },
      });
      await store.claim({ workerId: 'b', pool: 'spot', now: 4, leaseTtlMs: TTL });
      // The normal job's chunks complete: its merge is queued.
      for (const workerId of ['c', 'd']) {
        const c = (await store.claim({ workerId, pool: 'spot', now: 5, leaseTtlMs: TTL }))!;
        expect(c.job.id).toBe(normal.id);
        const { start, end } = c.task.range;
        await store.checkpoint(c.task.id, c.task.epoch, { range: { start, end }, key: `s${start}` }, 6);
        await store.complete(c.task.id, c.task.epoch, 7);
      }
      // The last job fails: its remaining pending task is nobody's work any more.
      const f = (await store.claim({ workerId: 'e', pool: 'spot', now: 8, leaseTtlMs: TTL }))!;
      expect(f.job.id).toBe(normal.id); // the merge, claimed and given back
      await store.release(f.task.id, f.task.epoch, 'preempted', null, 9, 1);
      const g = (await store.claim({
        workerId: 'g',
        pool: 'on-demand',
        now: 9,
        leaseTtlMs: TTL,
        onDemandOnly: [],
      }))!;
      expect(g.task.kind).toBe('merge');
      await store.release(g.task.id, g.task.epoch, 'preempted', null, 9, 1);
      const h = await store.claim({
        workerId: 'h',
        pool: 'spot',
        now: 9,
        leaseTtlMs: TTL,
        onDemandOnly: ['merge'],
      });
      expect(h?.job.id).toBe(failing.id);
      await store.release(h!.task.id, h!.task.epoch, 'error', 'boom', 10, 1);
      expect((await store.getJob(failing.id))?.state).toBe('failed');
      expect(await sorted()).toEqual({
        pending: [{ kind: 'merge', priority: 'normal', count: 1 }],
        running: [
          { lifecycle: 'spot', count: 1 },
          { lifecycle: null, count: 1 },
        ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
        jobs: expect.arrayContaining([
          { state: 'running', count: 1 },
          { state: 'merging', count: 1 },
        ]),
      });
      expect((await store.leaseStats()).jobs).toHaveLength(2);
    });

    it("counts a tenant's jobs under way and their tasks not yet done", async () => {
      expect(await store.tenantLoad('acme')).toEqual({ activeJobs: 0, queuedTasks: 0 });
      const framePts = [0, 1, 2, 3, 4, 5];
      const chunks = [
        { start: 0, end: 2 },
        { start: 2, end: 4 },
        { start: 4, end: 6 },
      ];
      let at = 0;
      const job = (key: string, tenant: string | null) =>
        store.createJob({ key, spec, probe: {}, framePts, chunks, tenant }, ++at);
      const a = await job('a', 'acme');
      const b = await job('b', 'acme');
      await job('c', 'globex');
      await job('d', null);
      expect(await store.tenantLoad('acme')).toEqual({ activeJobs: 2, queuedTasks: 6 });
      // A leased task still counts; a completed one does not; a canceled job counts no more.
      const c = (await store.claim({ workerId: 'w', pool: 'spot', now: 2, leaseTtlMs: TTL }))!;
      expect(c.job.id).toBe(a.id);
      expect(await store.tenantLoad('acme')).toEqual({ activeJobs: 2, queuedTasks: 6 });
      await store.checkpoint(c.task.id, c.task.epoch, { range: c.task.range, key: 's0' }, 3);
      await store.complete(c.task.id, c.task.epoch, 3);
      expect(await store.tenantLoad('acme')).toEqual({ activeJobs: 2, queuedTasks: 5 });
      await store.cancelJob(b.id, 4);
      expect(await store.tenantLoad('acme')).toEqual({ activeJobs: 1, queuedTasks: 2 });
      expect(await store.tenantLoad('globex')).toEqual({ activeJobs: 1, queuedTasks: 3 });
    });

    it('records checkpoints idempotently and only as a contiguous chain', async () => {
      await newJob([{ start: 0, end: 30 }]);
      const c = (await store.claim({ workerId: 'w1', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
      const seg = { range: { start: 0, end: 10 }, key: 's0' };
      expect(await store.checkpoint(c.task.id, 1, seg, 1)).toBe('ok');
      expect(await store.checkpoint(c.task.id, 1, seg, 2)).toBe('ok');
      expect(await store.checkpoint(c.task.id, 1, { range: { start: 15, end: 20 }, key: 'gap' }, 3)).toEqual({
        violation: expect.stringMatching(/does not continue/),
      });
      expect(await store.checkpoint(c.task.id, 1, { range: { start: 0, end: 10 }, key: 'other' }, 3)).toBe(
        'stale',
      );
      expect(await store.complete(c.task.id, 1, 4)).toEqual({
        violation: expect.stringMatching(/have no segment/),
      });
      expect(await store.listSegments(c.job.id)).toHaveLength(1);
      expect((await store.getTask(c.task.id))?.nextFrame).toBe(10);
    });

    it('counts preemptions apart from failures and fails the job after maxAttempts errors', async () => {
      const job = await newJob([{ start: 0, end: 30 }]);
      for (let i = 0; i < 5; i++) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: i, leaseTtlMs: TTL }))!;
        expect(await store.release(c.task.id, c.task.epoch, 'preempted', null, i, 3)).toBe('ok');
      }
      expect((await store.getJob(job.id))?.state).toBe('running');
      for (let i = 0; i < 3; i++) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: i, leaseTtlMs: TTL }))!;
        await store.release(c.task.id, c.task.epoch, 'error', `boom ${i}`, i, 3);
      }
      const failed = (await store.getJob(job.id))!;
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatch(/failed 3 times: boom 2/);
      const [task] = await store.listTasks(job.id);
      expect(task).toMatchObject({ state: 'failed', preemptions: 5, failures: 3 });
      expect(await store.claim({ workerId: 'w', pool: 'spot', now: 9, leaseTtlMs: TTL })).toBeUndefined();

      await store.retryFailedJob(job.id);
      expect((await store.getJob(job.id))?.state).toBe('running');
      expect(
        (await store.claim({ workerId: 'w', pool: 'spot', now: 10, leaseTtlMs: TTL }))?.task.failures,
      ).toBe(0);
    });

    it('schedules the merge when the last chunk completes and completes the job after it', async () => {
      const job = await newJob();
      for (const _ of [0, 1]) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
        const { start, end } = c.task.range;
        await store.checkpoint(c.task.id, c.task.epoch, { range: { start, end }, key: `s${start}` }, 1);
        expect(await store.complete(c.task.id, c.task.epoch, 2)).toBe('ok');
        expect(await store.complete(c.task.id, c.task.epoch, 3)).toBe('ok');
      }
      expect((await store.getJob(job.id))?.state).toBe('merging');
      const merge = (await store.claim({ workerId: 'w', pool: 'spot', now: 4, leaseTtlMs: TTL }))!;
      expect(merge.task.kind).toBe('merge');
      await store.complete(merge.task.id, merge.task.epoch, 5);
      const done = (await store.getJob(job.id))!;
      expect(done.state).toBe('completed');
      expect(done.finishedAt).toBe(5);
      expect(await store.findUnfinishedJob('k')).toBeUndefined();
    });

    it('keeps the output a completed job wrote, for the newest completed job of a key', async () => {
      const job = await newJob();
      const output = { bytes: 5_000_000_000, sha256: 'ab'.repeat(32) };
      expect(await store.recordOutput(job.id, output)).toBe(false);
      expect(await store.findCompletedJob('k')).toBeUndefined();
      for (const _ of [0, 1, 2]) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
        const { start, end } = c.task.range;
        if (c.task.kind === 'process')
          await store.checkpoint(c.task.id, c.task.epoch, { range: { start, end }, key: `s${start}` }, 1);
        await store.complete(c.task.id, c.task.epoch, 2);
      }
      expect(await store.findCompletedJob('k')).toMatchObject({ job: { id: job.id }, output: null });
      expect(await store.recordOutput(job.id, output)).toBe(true);
      expect(await store.findCompletedJob('k')).toEqual({ job: await store.getJob(job.id), output });
      expect(await store.findCompletedJob('other')).toBeUndefined();
    });

    it('records a merge output with the completion, and each segment with its SHA-256, size and decode', async () => {
      const job = await newJob();
      const sha = (n: number) => n.toString(16).padStart(64, '0');
      for (const _ of [0, 1, 2]) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
        const { start, end } = c.task.range;
        if (c.task.kind === 'process') {
          const segment = {
            range: { start, end },
            key: `s${start}`,
            sha256: sha(start),
            bytes: 3_000_000_000,
            // Only the first one's worker says it decoded it.
            ...(start === 0 ? { decoded: true } : {}),
          };
          await store.checkpoint(c.task.id, c.task.epoch, segment, 1);
          await store.complete(c.task.id, c.task.epoch, 2);
        } else {
          await store.complete(c.task.id, c.task.epoch, 2, { bytes: 6_000_000_000, sha256: sha(99) });
        }
      }
      const recorded = async () =>
        (await store.listSegments(job.id)).map((s) => [s.key, s.sha256, s.bytes, s.decoded]);
      expect(await recorded()).toEqual([
        ['s0', sha(0), 3_000_000_000, true],
        ['s20', sha(20), 3_000_000_000, false],
      ]);
      expect((await store.findCompletedJob('k'))?.output).toEqual({ bytes: 6_000_000_000, sha256: sha(99) });
      // A row recorded before the column: not decoded.
      await opened.sql("UPDATE segments SET decoded = NULL WHERE key = 's0'");
      expect((await recorded())[0]).toEqual(['s0', sha(0), 3_000_000_000, false]);
    });

    it('queues the frames of segments a merge rejects again, and merges only once they are redone', async () => {
      const job = await newJob([
        { start: 0, end: 20 },
        { start: 20, end: 30 },
      ]);
      // Task A in two segments (0-10, 10-20), task B in one (20-30).
      for (const _ of [0, 1]) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
        const { start, end } = c.task.range;
        for (let f = start; f < end; f += 10)
          await store.checkpoint(
            c.task.id,
            c.task.epoch,
            { range: { start: f, end: f + 10 }, key: `s${f}` },
            1,
          );
        await store.complete(c.task.id, c.task.epoch, 2);
      }
      const [a, b] = await store.listTasks(job.id);
      const merge = (await store.claim({ workerId: 'm', pool: 'spot', now: 3, leaseTtlMs: TTL }))!;
      expect(merge.task.kind).toBe('merge');
      // A segment the job does not have: the caller's bug.
      await expect(
        store.rejectSegments(
          merge.task.id,
          merge.task.epoch,
          [{ taskId: a.id, startFrame: 5, reason: 'x' }],
          4,
          3,
        ),
      ).rejects.toThrow(/no segment of task .* starting at frame 5/);

      const rejected = await store.rejectSegments(
        merge.task.id,
        merge.task.epoch,
        [
          { taskId: a.id, startFrame: 0, reason: 'SHA-256 differs' },
          { taskId: b.id, startFrame: 20, reason: 'cannot decode' },
        ],
        4,
        3,
      );
      expect(rejected).toEqual({ result: 'ok', dropped: ['s0', 's10', 's20'], jobFailed: false });
      expect(await store.listSegments(job.id)).toEqual([]);
      expect((await store.listRejectedSegments(job.id)).map((r) => [r.key, r.reason, r.range])).toEqual([
        ['s0', 'SHA-256 differs', { start: 0, end: 10 }],
        ['s10', 'follows the damaged segment at frame 0 of its task', { start: 10, end: 20 }],
        ['s20', 'cannot decode', { start: 20, end: 30 }],
      ]);
      expect((await store.getJob(job.id))?.state).toBe('running');
      expect(await store.getTask(a.id)).toMatchObject({ state: 'pending', nextFrame: 0, failures: 1 });
      expect(await store.getAttempt(merge.task.id, merge.task.epoch)).toMatchObject({ outcome: 'error' });
      // A repeat of the call finds the merge's lease gone.
      expect(
        (
          await store.rejectSegments(
            merge.task.id,
            merge.task.epoch,
            [{ taskId: a.id, startFrame: 0, reason: 'x' }],
            5,
            3,
          )
        ).result,
      ).toBe('stale');

      // The chunks come first; the merge waits, even with every chunk under a lease.
      const redo = [
        (await store.claim({ workerId: 'w', pool: 'spot', now: 6, leaseTtlMs: TTL }))!,
        (await store.claim({ workerId: 'w', pool: 'spot', now: 6, leaseTtlMs: TTL }))!,
      ];
      expect(redo.map((c) => [c.task.kind, c.task.nextFrame])).toEqual([
        ['process', 0],
        ['process', 20],
      ]);
      expect(
        await store.claim({ workerId: 'm', pool: 'on-demand', now: 6, leaseTtlMs: TTL }),
      ).toBeUndefined();
      for (const c of redo) {
        const { start, end } = c.task.range;
        await store.checkpoint(c.task.id, c.task.epoch, { range: { start, end }, key: `r${start}` }, 7);
        await store.complete(c.task.id, c.task.epoch, 8);
      }
      const again = (await store.claim({ workerId: 'm', pool: 'spot', now: 9, leaseTtlMs: TTL }))!;
      expect(again.task).toMatchObject({ kind: 'merge', epoch: merge.task.epoch + 1 });
      expect(await store.complete(again.task.id, again.task.epoch, 10)).toBe('ok');
      expect((await store.getJob(job.id))?.state).toBe('completed');
      expect((await store.listSegments(job.id)).map((s) => s.key)).toEqual(['r0', 'r20']);
    });

    it("fails the job with the reason once damaged segments spent a task's failure budget", async () => {
      const job = await newJob([{ start: 0, end: 30 }]);
      for (let round = 1; round <= 2; round++) {
        const c = (await store.claim({ workerId: 'w', pool: 'spot', now: round, leaseTtlMs: TTL }))!;
        await store.checkpoint(
          c.task.id,
          c.task.epoch,
          { range: { start: 0, end: 30 }, key: `s${round}` },
          round,
        );
        await store.complete(c.task.id, c.task.epoch, round);
        const merge = (await store.claim({ workerId: 'm', pool: 'spot', now: round, leaseTtlMs: TTL }))!;
        const rejected = await store.rejectSegments(
          merge.task.id,
          merge.task.epoch,
          [{ taskId: c.task.id, startFrame: 0, reason: 'frame count 29, expected 30' }],
          round,
          2,
        );
        expect(rejected.jobFailed).toBe(round === 2);
      }
      const failed = (await store.getJob(job.id))!;
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatch(/failed 2 times: frame count 29, expected 30/);
      // A retry runs the chunk again before any merge.
      await store.retryFailedJob(job.id);
      expect((await store.getJob(job.id))?.state).toBe('running');
      const next = (await store.claim({ workerId: 'w', pool: 'spot', now: 9, leaseTtlMs: TTL }))!;
      expect(next.task.kind).toBe('process');
    });

    it('ends every lease of a dead coordinator as interrupted', async () => {
      await newJob();
      await store.claim({ workerId: 'w1', pool: 'spot', now: 0, leaseTtlMs: TTL });
      await store.claim({ workerId: 'w2', pool: 'spot', now: 0, leaseTtlMs: TTL });
      expect(await store.endLeases('interrupted', 5, 'w2')).toBe(1);
      expect(await store.endLeases('interrupted', 6)).toBe(1);
      const c = await store.claim({ workerId: 'w3', pool: 'spot', now: 7, leaseTtlMs: TTL });
      expect(c?.task.epoch).toBe(2);
    });

    it('returns frame timestamps and epoch-millisecond times exactly as stored', async () => {
      const now = 1_760_000_000_123;
      const framePts = [0, 1 / 3, -0.5, 2 ** 53 + 2, 1e-300, 1001 / 30000];
      const job = await store.createJob(
        { key: 'k', spec, probe: { video: { fps: 29.97 } }, framePts, chunks: [{ start: 0, end: 6 }] },
        now,
      );
      expect(job.createdAt).toBe(now);
      expect(await store.getFramePts(job.id, { start: 0, end: Number.MAX_SAFE_INTEGER })).toEqual(framePts);
      expect(await store.getFramePts(job.id, { start: 4, end: 6 })).toEqual(framePts.slice(4));
      expect(await store.getFramePts(job.id, { start: 7, end: 9 })).toEqual([]);
      await expect(store.getFramePts('job_missing', { start: 0, end: 1 })).rejects.toThrow(/unknown job/);
      const c = (await store.claim({ workerId: 'w', pool: 'spot', now, leaseTtlMs: TTL }))!;
      expect(c.task.leaseExpiresAt).toBe(now + TTL);
      expect(c.probe).toEqual({ video: { fps: 29.97 } });
      expect(await store.getProbe(job.id)).toEqual({ video: { fps: 29.97 } });
      expect((await store.listAttempts(job.id))[0].startedAt).toBe(now);
    });

    it('records the tenant that owns a job and lists jobs per tenant, newest first', async () => {
      const framePts = [0, 1, 2];
      const chunks = [{ start: 0, end: 3 }];
      const embedded = await store.createJob({ key: 'e', spec, probe: {}, framePts, chunks }, 1);
      const a1 = await store.createJob({ key: 'a', spec, probe: {}, framePts, chunks, tenant: 'acme' }, 2);
      const b1 = await store.createJob({ key: 'b', spec, probe: {}, framePts, chunks, tenant: 'globex' }, 3);
      const a2 = await store.createJob({ key: 'a', spec, probe: {}, framePts, chunks, tenant: 'acme' }, 4);
      expect(embedded.tenant).toBeNull();
      expect(a1.tenant).toBe('acme');
      expect((await store.getJob(b1.id))?.tenant).toBe('globex');
      expect((await store.findUnfinishedJob('a'))?.id).toBe(a2.id);
      expect((await store.listJobs({ tenant: 'acme' })).map((j) => j.id)).toEqual([a2.id, a1.id]);
      expect((await store.listJobs({ tenant: 'initech' })).map((j) => j.id)).toEqual([]);
      expect((await store.listJobs()).map((j) => j.id)).toEqual([a2.id, b1.id, a1.id, embedded.id]);
      expect((await store.listJobs({ limit: 2 })).map((j) => j.id)).toEqual([a2.id, b1.id]);
      const claimed = await store.claim({ workerId: 'w', pool: 'spot', now: 5, leaseTtlMs: TTL });
      expect(claimed?.job.tenant).toBeNull();
    });

    it("claims the tasks of urgent jobs first, then the oldest job's", async () => {
      const framePts = [0, 1, 2];
      const chunks = [{ start: 0, end: 3 }];
      const old = await store.createJob({ key: 'a', spec, probe: {}, framePts, chunks }, 1);
      const normal = await store.createJob(
        { key: 'b', spec: { ...spec, priority: 'normal' } as typeof spec, probe: {}, framePts, chunks },
        2,
      );
      const urgent = await store.createJob(
        { key: 'c', spec: { ...spec, priority: 'urgent' } as typeof spec, probe: {}, framePts, chunks },
        3,
      );
      const order: string[] = [];
      for (let i = 0; i < 3; i++) {
        order.push((await store.claim({ workerId: `w${i}`, pool: 'spot', now: 4, leaseTtlMs: TTL }))!.job.id);
      }
      expect(order).toEqual([urgent.id, old.id, normal.id]);
    });

    it('shares workers between tenants: one that queued 50 times more work first does not starve the other', async () => {
      const framePts = Array.from({ length: 200 }, (_, i) => i);
      const chunks = (n: number) => Array.from({ length: n }, (_, i) => ({ start: i, end: i + 1 }));
      // The big tenant queues two jobs of 50 tasks, the first before anyone else; urgent work of its own
      // goes first within its share, not before other tenants.
      await store.createJob({ key: 'big1', spec, probe: {}, framePts, chunks: chunks(50), tenant: 'big' }, 1);
      const urgentSpec = { ...spec, priority: 'urgent' } as typeof spec;
      const bigUrgent = await store.createJob(
        { key: 'big2', spec: urgentSpec, probe: {}, framePts, chunks: chunks(50), tenant: 'big' },
        2,
      );
      await store.createJob(
        { key: 'small', spec, probe: {}, framePts, chunks: chunks(2), tenant: 'small' },
        3,
      );
      await store.createJob({ key: 'mine', spec, probe: {}, framePts, chunks: chunks(1) }, 4);
      const tenants: (string | null)[] = [];
      for (let i = 0; i < 8; i++) {
        const claimed = (await store.claim({ workerId: `w${i}`, pool: 'spot', now: 5, leaseTtlMs: TTL }))!;
        tenants.push(claimed.job.tenant);
        if (i === 0) expect(claimed.job.id).toBe(bigUrgent.id);
      }
      // The tenant with the fewest tasks under a lease takes the next worker (ties: the oldest job's);
      // jobs without a tenant share as one.
      expect(tenants).toEqual(['big', 'small', null, 'big', 'small', 'big', 'big', 'big']);
      // Once the small tenant and the jobs without one have nothing left, the big tenant takes every worker.
      const stats = await store.leaseStats();
      expect(stats.pending.reduce((n, p) => n + p.count, 0)).toBe(103 - 8);
    });

    it("weighs a tenant's turns by the share and holds it to the cap its token set", async () => {
      const framePts = Array.from({ length: 100 }, (_, i) => i);
      const chunks = Array.from({ length: 100 }, (_, i) => ({ start: i, end: i + 1 }));
      await store.createToken({ role: 'tenant', tenant: 'gold', share: 2 }, 'h1', 0);
      await store.createToken({ role: 'tenant', tenant: 'capped', maxRunning: 2 }, 'h2', 0);
      for (const [i, tenant] of ['plain', 'gold', 'capped'].entries())
        await store.createJob({ key: tenant, spec, probe: {}, framePts, chunks, tenant }, i);
      const claimed: Record<string, number> = { plain: 0, gold: 0, capped: 0 };
      for (let i = 0; i < 14; i++) {
        const c = (await store.claim({ workerId: `w${i}`, pool: 'spot', now: 5, leaseTtlMs: TTL }))!;
        claimed[c.job.tenant ?? '']++;
      }
      // The capped tenant stops at 2; the gold tenant gets two workers for each of the plain one's.
      expect(claimed).toEqual({ plain: 4, gold: 8, capped: 2 });
      // A new token for a tenant sets its share and cap anew (absent: share 1, no cap).
      await store.createToken({ role: 'tenant', tenant: 'capped', share: 1 }, 'h3', 0);
      const next = await store.claim({ workerId: 'w14', pool: 'spot', now: 5, leaseTtlMs: TTL });
      expect(next?.job.tenant).toBe('capped');
      await expect(store.createToken({ role: 'worker', share: 2 }, 'h4', 0)).rejects.toThrow(
        /goes with a tenant token/,
      );
      await expect(store.createToken({ role: 'tenant', tenant: 't', share: 0 }, 'h5', 0)).rejects.toThrow(
        /above 0/,
      );
    });

    it('keeps merge tasks and urgent jobs for on-demand workers when the pool policy says so', async () => {
      const framePts = [0, 1, 2];
      const chunks = [{ start: 0, end: 3 }];
      const normal = await store.createJob({ key: 'n', spec, probe: {}, framePts, chunks }, 1);
      const urgent = await store.createJob(
        { key: 'u', spec: { ...spec, priority: 'urgent' } as typeof spec, probe: {}, framePts, chunks },
        2,
      );
      const claim = (workerId: string, pool: Pool, onDemandOnly: OnDemandOnly[] = ['merge', 'urgent']) =>
        store.claim({ workerId, pool, now: 3, leaseTtlMs: TTL, onDemandOnly });
      // A spot worker passes over the urgent job; an on-demand one takes it first, as always.
      const spot = (await claim('s1', 'spot'))!;
      expect(spot.job.id).toBe(normal.id);
      await store.checkpoint(spot.task.id, spot.task.epoch, { range: { start: 0, end: 3 }, key: 'n0' }, 4);
      expect(await store.complete(spot.task.id, spot.task.epoch, 5)).toBe('ok');
      expect((await store.getJob(normal.id))?.state).toBe('merging');
      // Left: the normal job's merge and the urgent job's chunk, neither of them a spot worker's.
      expect(await claim('s2', 'spot')).toBeUndefined();
      // Without the policy (embedded mode), a spot worker takes anything.
      const anyWork = (await claim('s3', 'spot', []))!;
      expect(anyWork.job.id).toBe(urgent.id);
      expect(await store.release(anyWork.task.id, anyWork.task.epoch, 'preempted', null, 6, 3)).toBe('ok');
      // Merge only: the urgent chunk is a spot worker's again, the merge is not.
      const urgentOnSpot = (await claim('s4', 'spot', ['merge']))!;
      expect(urgentOnSpot.job.id).toBe(urgent.id);
      expect(await claim('s5', 'spot', ['merge'])).toBeUndefined();
      expect(
        await store.release(urgentOnSpot.task.id, urgentOnSpot.task.epoch, 'preempted', null, 7, 3),
      ).toBe('ok');
      const first = (await claim('o1', 'on-demand'))!;
      const second = (await claim('o2', 'on-demand'))!;
      expect([first.job.id, first.task.kind]).toEqual([urgent.id, 'process']);
      expect([second.job.id, second.task.kind]).toEqual([normal.id, 'merge']);
    });

    it("gives a FaceFusion job's chunks only to workers that run FaceFusion, and its merge to any", async () => {
      const framePts = [0, 1, 2];
      const chunks = [{ start: 0, end: 3 }];
      const facefusionSpec = { ...spec, engine: { name: 'facefusion' as const, args: [] } };
      const facefusion = await store.createJob(
        { key: 'f', spec: facefusionSpec, probe: {}, framePts, chunks },
        1,
      );
      const native = await store.createJob({ key: 'n', spec, probe: {}, framePts, chunks }, 2);
      const claim = (workerId: string, engines?: EngineName[]) =>
        store.claim({ workerId, pool: 'spot', now: 3, leaseTtlMs: TTL, engines });
      // A worker that names no engine runs the native one alone: it passes over the older FaceFusion job.
      expect((await claim('n1'))?.job.id).toBe(native.id);
      expect(await claim('n2', ['native'])).toBeUndefined();
      const chunk = (await claim('f1', ['native', 'facefusion']))!;
      expect(chunk.job.id).toBe(facefusion.id);
      await store.checkpoint(chunk.task.id, chunk.task.epoch, { range: { start: 0, end: 3 }, key: 'f0' }, 4);
      expect(await store.complete(chunk.task.id, chunk.task.epoch, 5)).toBe('ok');
      // The merge is ffmpeg's, which every worker runs.
      const merge = (await claim('n3', ['native']))!;
      expect([merge.job.id, merge.task.kind]).toEqual([facefusion.id, 'merge']);
    });

    it('keeps a task interrupted as often as the cap for on-demand workers', async () => {
      const job = await store.createJob(
        {
          key: 'cap',
          spec,
          probe: {},
          framePts: [0, 1, 2, 3],
          chunks: [
            { start: 0, end: 2 },
            { start: 2, end: 4 },
          ],
        },
        1,
      );
      const claim = (workerId: string, pool: Pool, now: number) =>
        store.claim({ workerId, pool, now, leaseTtlMs: TTL, spotInterruptionCap: 2 });
      for (let i = 0; i < 2; i++) {
        const spot = (await claim(`s${i}`, 'spot', 2 + i))!;
        expect(spot.task.id).toBe(`${job.id}-t0000`);
        expect(await store.release(spot.task.id, spot.task.epoch, 'preempted', null, 2 + i, 3)).toBe('ok');
      }
      // Twice interrupted: spot workers pass over the first chunk and take the second.
      const second = (await claim('s2', 'spot', 5))!;
      expect(second.task.id).toBe(`${job.id}-t0001`);
      expect(await claim('s3', 'spot', 6)).toBeUndefined();
      const onDemand = (await claim('o1', 'on-demand', 7))!;
      expect([onDemand.task.id, onDemand.task.preemptions]).toEqual([`${job.id}-t0000`, 2]);
    });

    it('records the instance a claim reports and the latest GPU readings heartbeats carry', async () => {
      const job = await newJob();
      const a = (await store.claim({
        workerId: 'w1',
        pool: 'spot',
        now: 0,
        leaseTtlMs: TTL,
        instance: { cloud: 'aws', instanceType: 'g5.xlarge', zone: 'us-east-1a', lifecycle: 'spot' },
      }))!;
      const b = (await store.claim({ workerId: 'w2', pool: 'on-demand', now: 0, leaseTtlMs: TTL }))!;
      const gpu = { gpuUtilization: 87.5, gpuMemoryUsedMiB: 6144, gpuMemoryTotalMiB: 23028 };
      expect(await store.heartbeat(a.task.id, 1, { framesDone: 4, fps: 12.5, ...gpu }, 10, TTL)).toBe('ok');
      let [first, second] = await store.listAttempts(job.id);
      expect(first).toMatchObject({
        taskId: a.task.id,
        cloud: 'aws',
        instanceType: 'g5.xlarge',
        zone: 'us-east-1a',
        lifecycle: 'spot',
        framesDone: 4,
        fps: 12.5,
        ...gpu,
      });
      expect(second).toMatchObject({
        taskId: b.task.id,
        cloud: null,
        instanceType: null,
        zone: null,
        lifecycle: null,
        fps: null,
        gpuUtilization: null,
        gpuMemoryUsedMiB: null,
        gpuMemoryTotalMiB: null,
      });
      expect(await store.getAttempt(a.task.id, a.task.epoch)).toEqual(first);
      expect(await store.getAttempt(a.task.id, a.task.epoch + 1)).toBeUndefined();
      // A heartbeat without readings keeps the last ones; a newer reading replaces them.
      await store.heartbeat(a.task.id, 1, { framesDone: 6, fps: 13 }, 20, TTL);
      await store.heartbeat(a.task.id, 1, { framesDone: 8, fps: 14, gpuUtilization: 91 }, 30, TTL);
      [first] = await store.listAttempts(job.id);
      expect(first).toMatchObject({
        framesDone: 8,
        fps: 14,
        gpuUtilization: 91,
        gpuMemoryUsedMiB: 6144,
        gpuMemoryTotalMiB: 23028,
      });
      // The row outlives the lease: it still tells where the lost work ran.
      await store.release(a.task.id, 1, 'preempted', null, 40, 3);
      [first] = await store.listAttempts(job.id);
      expect(first).toMatchObject({ outcome: 'preempted', instanceType: 'g5.xlarge', lifecycle: 'spot' });
    });

    it('cancels a running job: its leases answer canceled, nothing is claimed, it ends once', async () => {
      const job = await newJob();
      const a = (await store.claim({ workerId: 'w1', pool: 'spot', now: 1, leaseTtlMs: TTL }))!;
      const other = await newJob([{ start: 0, end: 30 }]);
      expect(await store.cancelJob(job.id, 5)).toBe(true);
      expect(await store.cancelJob(job.id, 6)).toBe(false);
      expect(await store.cancelJob('job_missing', 6)).toBe(false);
      expect(await store.getJob(job.id)).toMatchObject({ state: 'canceled', finishedAt: 5 });
      expect((await store.listTasks(job.id)).map((t) => t.state)).toEqual(['canceled', 'canceled']);
      expect((await store.listAttempts(job.id))[0]).toMatchObject({ outcome: 'interrupted', endedAt: 5 });
      expect(await store.heartbeat(a.task.id, a.task.epoch, { framesDone: 1 }, 6, TTL)).toBe('canceled');
      const next = await store.claim({ workerId: 'w2', pool: 'spot', now: 7, leaseTtlMs: TTL });
      expect(next?.job.id).toBe(other.id);
      expect(await store.expireLeases(10_000)).toBe(1);
      expect((await store.getJob(job.id))?.state).toBe('canceled');
    });

    it('keeps tokens by the hash of their secret, finds, revokes and lists them', async () => {
      const hash = (c: string) => c.repeat(64);
      const worker = await store.createToken({ role: 'worker' }, hash('a'), 10);
      const tenant = await store.createToken({ role: 'tenant', tenant: 'acme' }, hash('b'), 11);
      expect(worker).toEqual({
        id: worker.id,
        role: 'worker',
        tenant: null,
        createdAt: 10,
        revokedAt: null,
        lastUsedAt: null,
      });
      expect(worker.id).toMatch(/^tok_[0-9a-f]{16}$/);
      expect(tenant).toMatchObject({ role: 'tenant', tenant: 'acme', createdAt: 11 });
      expect(await store.findTokenByHash(hash('b'))).toEqual(tenant);
      expect(await store.findTokenByHash(hash('c'))).toBeUndefined();
      // One secret, one token; the role/tenant pairing is enforced.
      await expect(store.createToken({ role: 'worker' }, hash('a'), 12)).rejects.toThrow();
      await expect(store.createToken({ role: 'tenant' }, hash('d'), 12)).rejects.toThrow(RangeError);
      await expect(store.createToken({ role: 'worker', tenant: 'acme' }, hash('d'), 12)).rejects.toThrow(
        RangeError,
      );
      await expect(store.createToken({ role: 'tenant', tenant: 'no spaces' }, hash('d'), 12)).rejects.toThrow(
        RangeError,
      );

      expect(await store.revokeToken(worker.id, 20)).toBe(true);
      expect(await store.revokeToken(worker.id, 30)).toBe(true);
      expect(await store.revokeToken('tok_missing', 30)).toBe(false);
      expect((await store.findTokenByHash(hash('a')))?.revokedAt).toBe(20);

      await store.touchToken(tenant.id, 100_000);
      await store.touchToken(tenant.id, 130_000);
      expect((await store.findTokenByHash(hash('b')))?.lastUsedAt).toBe(100_000);
      await store.touchToken(tenant.id, 160_000);
      expect((await store.findTokenByHash(hash('b')))?.lastUsedAt).toBe(160_000);

      const listed = await store.listTokens();
      expect(listed.map((t) => t.id)).toEqual([worker.id, tenant.id]);
      expect(listed[0].revokedAt).toBe(20);
      // Neither the secret nor its hash is ever handed out.
      expect(JSON.stringify(listed)).not.toContain(hash('a'));
      expect(JSON.stringify(listed)).not.toContain(hash('b'));
    });
  });
}
