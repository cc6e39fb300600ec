import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobControl } from '../../src/coordinator/jobControl.js';
import {
  notificationDispatcher,
  ScheduleMemo,
  scheduleNotifications,
} from '../../src/coordinator/notifications.js';
import { loadPriceTable } from '../../src/cost/prices.js';
import type { EventBody } from '../../src/notify/outbox.js';
import { OutboxDispatcher } from '../../src/notify/outboxDispatcher.js';
import { newWebhookSecret } from '../../src/notify/standardWebhooks.js';
import { WebhookSender } from '../../src/notify/webhookSender.js';
import type { Store, StoredJob } from '../../src/store/store.js';
import { backends, completeJob, createJob, failJob, type OpenedStore } from './backends.js';
import { type Receiver, startReceiver } from './receiver.js';

const prices = loadPriceTable();
const FAST = { baseMs: 50, maxMs: 200, maxAttempts: 5, jitter: 0 };

/** Runs dispatcher rounds until `done` holds (or a generous 10 s passes). */
async function until(done: () => Promise<boolean>, round: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the outbox');
    await round();
    await sleep(20);
  }
}

const secretOf = (store: Store) => () => store.getWebhookSecret(null, newWebhookSecret(), Date.now());

for (const backend of backends) {
  const title = `${backend.name} notification outbox${backend.skip ? ` (skipped: ${backend.skip})` : ''}`;
  describe.skipIf(backend.skip !== undefined)(title, () => {
    let opened: OpenedStore;
    let store: Store;
    const closers: (() => Promise<unknown>)[] = [];

    beforeEach(async () => {
      opened = await backend.open();
      store = opened.store;
    });
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
      await store.close();
    });

    async function receiver(answer?: (n: number) => number): Promise<Receiver> {
      const r = await startReceiver(secretOf(store), answer);
      closers.push(() => r.close());
      return r;
    }

    function dispatcher(on: Store = store, backoff = FAST) {
      const d = notificationDispatcher(on, { publicUrl: 'https://spotfuse.example' }, prices, {
        backoff,
        pollMs: 20,
      });
      closers.push(() => d.close());
      return d.dispatcher;
    }

    it('delivers job.completed signed the Standard Webhooks way, once, with the report and result link', async () => {
      const hook = await receiver();
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      const d = dispatcher();
      await until(
        async () => hook.accepted().length === 1,
        () => d.runOnce(),
      );
      await d.runOnce();
      expect(hook.received).toHaveLength(1);
      const body = hook.accepted()[0].verified as EventBody;
      expect(body.type).toBe('job.completed');
      expect(body.data.jobId).toBe(job.id);
      expect(body.data.resultUrl).toBe('file:///videos/out.mp4');
      expect(body.data.report).toMatchObject({ state: 'completed', frames: 10, interruptions: 0 });
      expect(hook.received[0].headers['webhook-id']).toMatch(/^msg_/);
      const [n] = await store.listNotifications(job.id);
      expect(n).toMatchObject({ state: 'delivered', attempts: 1, event: 'job.completed', target: hook.url });
      const attempts = await store.listDeliveryAttempts(job.id);
      expect(attempts).toMatchObject([{ attempt: 1, statusCode: 200, delivered: true, error: null }]);
    });

    it('retries a receiver that fails twice, with the same webhook-id, and records 3 attempts', async () => {
      const hook = await receiver((n) => (n < 2 ? 500 : 200));
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      const d = dispatcher();
      await until(
        async () => hook.accepted().length === 1,
        () => d.runOnce(),
      );
      expect(hook.received.map((r) => r.status)).toEqual([500, 500, 200]);
      expect(new Set(hook.received.map((r) => r.id)).size).toBe(1);
      const attempts = await store.listDeliveryAttempts(job.id);
      expect(attempts.map((a) => [a.attempt, a.statusCode, a.delivered])).toEqual([
        [1, 500, false],
        [2, 500, false],
        [3, 200, true],
      ]);
      expect(attempts[0].error).toBe('HTTP 500');
      expect((await store.listNotifications(job.id))[0].state).toBe('delivered');
    });

    it('a new dispatcher over the same database finishes a delivery the stopped one was retrying', async () => {
      const hook = await receiver((n) => (n === 0 ? 503 : 200));
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      const first = dispatcher();
      await until(
        async () => hook.received.length === 1,
        () => first.runOnce(),
      );
      await first.stop();
      const restarted = await opened.reopen();
      closers.push(() => restarted.close());
      const second = dispatcher(restarted);
      await until(
        async () => hook.accepted().length === 1,
        () => second.runOnce(),
      );
      expect(hook.received.map((r) => [r.id, r.status])).toEqual([
        [hook.received[0].id, 503],
        [hook.received[0].id, 200],
      ]);
      expect((await restarted.listDeliveryAttempts(job.id)).map((a) => a.attempt)).toEqual([1, 2]);
    });

    it('rows a crashed dispatcher had locked come back when its lock runs out; its late record is refused', async () => {
      const hook = await receiver();
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      await scheduleNotifications(store, { prices });
      const ghost = await store.claimDueNotifications('ghost', Date.now(), 300, 10);
      expect(ghost).toHaveLength(1);
      const d = dispatcher();
      expect(await d.runOnce()).toBe(0);
      await sleep(350);
      await until(
        async () => hook.accepted().length === 1,
        () => d.runOnce(),
      );
      const late = await store.recordDelivery(
        'ghost',
        ghost[0].id,
        { at: Date.now(), durationMs: 1, delivered: true, statusCode: 200, error: null },
        { state: 'delivered', nextAttemptAt: Date.now() },
      );
      expect(late).toBe(false);
      expect(await store.listDeliveryAttempts(job.id)).toHaveLength(1);
    });

    it('gives a notification up as dead after the last try', async () => {
      const hook = await receiver(() => 500);
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      const d = dispatcher(store, { ...FAST, maxAttempts: 2 });
      await until(
        async () => (await store.listNotifications(job.id))[0]?.state === 'dead',
        () => d.runOnce(),
      );
      expect(hook.received).toHaveLength(2);
      expect((await store.listNotifications(job.id))[0]).toMatchObject({
        attempts: 2,
        lastError: 'HTTP 500',
      });
    });

    it('tells a failed job, and gives email up at once where no SMTP server is configured', async () => {
      const hook = await receiver();
      const job = await createJob(store, { webhooks: [hook.url], emails: ['ops@example.com'], events: [] });
      await failJob(store, job.id);
      const d = dispatcher();
      await until(
        async () => {
          const rows = await store.listNotifications(job.id);
          return rows.length === 2 && rows.every((n) => n.state !== 'pending');
        },
        () => d.runOnce(),
      );
      const body = hook.accepted()[0].verified as EventBody;
      expect(body.type).toBe('job.failed');
      expect(body.data.report.error).toMatch(/decoder exploded/);
      const email = (await store.listNotifications(job.id)).find((n) => n.channel === 'email');
      expect(email).toMatchObject({ state: 'dead', attempts: 1, lastError: expect.stringMatching(/SMTP/) });
    });

    it('tells a job cancelled while it ran (job.cancelled, webhook and email), once, with no result link', async () => {
      const hook = await receiver();
      const job = await createJob(store, { webhooks: [hook.url], emails: ['ops@example.com'], events: [] });
      await store.claim({ workerId: 'w', pool: 'spot', now: 2000, leaseTtlMs: 60_000 });
      const control = new JobControl(store, () => 3000);
      expect(await control.cancel({ role: 'admin' }, job.id)).toEqual({ canceled: true });
      const d = dispatcher();
      await until(
        async () => hook.accepted().length === 1,
        () => d.runOnce(),
      );
      await scheduleNotifications(store, { prices });
      const body = hook.accepted()[0].verified as EventBody;
      expect(body.type).toBe('job.cancelled');
      expect(body.timestamp).toBe(new Date(3000).toISOString());
      expect(body.data).toMatchObject({ jobId: job.id, state: 'canceled', resultUrl: null });
      const rows = await store.listNotifications(job.id);
      expect(rows.map((n) => [n.event, n.channel]).sort()).toEqual([
        ['job.cancelled', 'email'],
        ['job.cancelled', 'webhook'],
      ]);
      // A second cancel is refused and tells nothing more.
      expect(await control.cancel({ role: 'admin' }, job.id)).toEqual({
        canceled: false,
        state: 'canceled',
      });
      await scheduleNotifications(store, { prices });
      expect(await store.listNotifications(job.id)).toHaveLength(2);
    });

    it('queues each end once however often and however concurrently the scheduler runs', async () => {
      const job = await createJob(store, {
        webhooks: ['http://127.0.0.1:9/a', 'http://127.0.0.1:9/b'],
        emails: [],
        events: [],
      });
      await completeJob(store, job.id);
      const quiet = await createJob(store);
      await completeJob(store, quiet.id);
      await Promise.all([scheduleNotifications(store, { prices }), scheduleNotifications(store, { prices })]);
      await scheduleNotifications(store, { prices });
      expect((await store.listNotifications(job.id)).map((n) => n.target).sort()).toEqual([
        'http://127.0.0.1:9/a',
        'http://127.0.0.1:9/b',
      ]);
      expect(await store.listNotifications(quiet.id)).toEqual([]);
      expect(await store.listUnnotifiedEnds(10)).toEqual([]);
    });

    it('sends opted-in job.progress at most once per window and task.preempted once per preemption', async () => {
      const job = await createJob(store, {
        webhooks: ['http://127.0.0.1:9/p'],
        emails: [],
        events: ['job.progress', 'task.preempted'],
      });
      const claimed = await store.claim({ workerId: 'w', pool: 'spot', now: 2000, leaseTtlMs: 60_000 });
      await store.release(claimed!.task.id, claimed!.task.epoch, 'preempted', null, 2500, 3);
      const memo = new ScheduleMemo();
      const at = (now: number) =>
        scheduleNotifications(store, { prices, now: () => now, progressIntervalMs: 30_000, memo });
      await at(60_000);
      await at(61_000);
      await at(95_000);
      const events = (await store.listNotifications(job.id)).map((n) => n.event);
      expect(events.filter((e) => e === 'job.progress')).toHaveLength(2);
      expect(events.filter((e) => e === 'task.preempted')).toHaveLength(1);
      const preempted = (await store.listNotifications(job.id)).find((n) => n.event === 'task.preempted');
      expect(JSON.parse(preempted!.payload).data).toMatchObject({ taskId: claimed!.task.id, epoch: 1 });
    });

    it('keeps one webhook secret per tenant until it is rotated; deliveries sign with the current one', async () => {
      const a = await store.getWebhookSecret('acme', newWebhookSecret(), 1);
      expect(await store.getWebhookSecret('acme', newWebhookSecret(), 2)).toBe(a);
      expect(await store.getWebhookSecret(null, newWebhookSecret(), 2)).not.toBe(a);
      const rotated = newWebhookSecret();
      await store.setWebhookSecret('acme', rotated, 3);
      expect(await store.getWebhookSecret('acme', newWebhookSecret(), 4)).toBe(rotated);
      const hook = await startReceiver(() => rotated);
      closers.push(() => hook.close());
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] }, 'acme');
      await completeJob(store, job.id);
      const d = new OutboxDispatcher({
        store,
        notifiers: {
          webhook: new WebhookSender({ secretFor: (t) => store.getWebhookSecret(t, newWebhookSecret(), 0) }),
        },
        schedule: () => scheduleNotifications(store, { prices }),
      });
      await until(
        async () => hook.accepted().length === 1,
        () => d.runOnce(),
      );
    });

    it('drain waits a bounded time for a job whose receiver is down and leaves its delivery queued', async () => {
      const hook = await receiver(() => 503);
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      const started = Date.now();
      const rows = await dispatcher().drain(job.id, 300);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(rows).toMatchObject([{ state: 'pending', lastError: 'HTTP 503' }]);
      expect(hook.received.length).toBeGreaterThanOrEqual(1);
    });

    it("replaces a job's notification targets (a resumed run notifies the targets it was given)", async () => {
      const job = await createJob(store, { webhooks: ['https://old.example/h'], emails: [], events: [] });
      const notify = { webhooks: ['https://new.example/h'], emails: [], events: ['job.progress' as const] };
      await store.setJobNotify(job.id, notify);
      expect((await store.getJob(job.id))?.spec.notify).toEqual(notify);
      expect((await store.listNotifyingJobs()).map((j) => j.id)).toEqual([job.id]);
      await store.setJobNotify(job.id, undefined);
      expect((await store.getJob(job.id))?.spec.notify).toBeUndefined();
      expect((await store.getJob(job.id))?.spec.processors).toEqual(['passthrough']);
      expect(await store.listNotifyingJobs()).toEqual([]);
    });

    it.skipIf(backend.name !== 'PostgresStore')(
      'two dispatchers on one database deliver every event exactly once',
      async () => {
        const hook = await receiver();
        const jobs: StoredJob[] = [];
        for (let i = 0; i < 12; i++) {
          const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
          await completeJob(store, job.id, 5000 + i);
          jobs.push(job);
        }
        const other = await opened.reopen();
        closers.push(() => other.close());
        const a = dispatcher(store);
        const b = dispatcher(other);
        const delivered = async () =>
          (await Promise.all(jobs.map((j) => store.listNotifications(j.id)))).every(
            (ns) => ns.length === 1 && ns.every((n) => n.state === 'delivered'),
          );
        await until(delivered, () => Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]));
        expect(hook.received).toHaveLength(12);
        expect(new Set(hook.received.map((r) => r.id)).size).toBe(12);
        expect(new Set(hook.accepted().map((r) => (r.verified as EventBody).data.jobId)).size).toBe(12);
      },
    );
  });
}
