import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NotifyEvent } from '../core/types.js';
import type { PriceTable } from '../cost/prices.js';
import { EmailSender } from '../notify/emailSender.js';
import { type EventData, eventBody, type Notifier, outboxRows } from '../notify/outbox.js';
import { OutboxDispatcher, type OutboxDispatcherOptions } from '../notify/outboxDispatcher.js';
import { newWebhookSecret } from '../notify/standardWebhooks.js';
import { WebhookSender } from '../notify/webhookSender.js';
import type { JobStore, OutboxStore, StoredJob } from '../store/store.js';
import { blobKeyOf } from './leaseService.js';
import { jobReport } from './report.js';

export interface NotificationScheduleOptions {
  /** Prices the reports in event bodies and emails are costed at. */
  prices: PriceTable;
  /** The coordinator's address as users reach it (`--public-url`), for result links. */
  publicUrl?: string;
  /** At most one `job.progress` per job per this long (default 30 s). */
  progressIntervalMs?: number;
  memo?: ScheduleMemo;
  now?: () => number;
}

const END_EVENT: Partial<Record<StoredJob['state'], NotifyEvent>> = {
  completed: 'job.completed',
  failed: 'job.failed',
  canceled: 'job.cancelled',
};

/** Where a job's result can be fetched: the coordinator's download route, or the output file here. */
export function resultUrl(
  job: { id: string; spec: { output: string } },
  publicUrl: string | undefined,
): string | null {
  if (blobKeyOf(job.spec.output) !== undefined) {
    const route = `/v1/jobs/${encodeURIComponent(job.id)}/download`;
    return publicUrl ? `${publicUrl.replace(/\/+$/, '')}${route}` : route;
  }
  return isAbsolute(job.spec.output) ? pathToFileURL(job.spec.output).href : null;
}

async function eventData(
  store: JobStore & OutboxStore,
  job: StoredJob,
  now: number,
  options: NotificationScheduleOptions,
): Promise<EventData> {
  const report = await jobReport(store, job.id, { prices: options.prices }, now);
  // A cancelled job has no result to fetch.
  const url = job.state === 'canceled' ? null : resultUrl(job, options.publicUrl);
  return { jobId: job.id, state: report.state, resultUrl: url, report };
}

/**
 * Queues every notification that is due, idempotently: each row's dedupe key is (job, event, occurrence,
 * target), so coordinators running this at once, or again after a crash, queue each delivery once.
 * - `job.completed` / `job.failed` / `job.cancelled`: every ended job whose end (its finishedAt) is not yet told; queuing
 *   the rows and marking the end happen in one transaction, so a crash between the two loses nothing.
 * - `job.progress` (opt-in): one per job per progress window while it runs.
 * - `task.preempted` (opt-in): one per attempt that ended with its worker giving the task back.
 */
export async function scheduleNotifications(
  store: JobStore & OutboxStore,
  options: NotificationScheduleOptions,
): Promise<void> {
  const now = (options.now ?? Date.now)();
  for (const job of await store.listUnnotifiedEnds(100)) {
    const event: NotifyEvent = END_EVENT[job.state] ?? 'job.failed';
    const rows = job.spec.notify
      ? outboxRows(
          job,
          event,
          String(job.finishedAt),
          eventBody(event, await eventData(store, job, now, options), job.finishedAt ?? now),
        )
      : [];
    await store.queueEndNotifications(job.id, job.finishedAt!, rows, now);
  }
  const memo = options.memo;
  const active = await store.listNotifyingJobs();
  memo?.forget(new Set(active.map((j) => j.id)));
  for (const job of active) {
    const events = job.spec.notify?.events ?? [];
    if (events.includes('job.progress')) {
      const window = Math.floor(now / (options.progressIntervalMs ?? 30_000));
      if (memo?.progressWindow.get(job.id) !== window) {
        const data = await eventData(store, job, now, options);
        await store.queueNotifications(
          outboxRows(job, 'job.progress', `window ${window}`, eventBody('job.progress', data, now)),
          now,
        );
        memo?.progressWindow.set(job.id, window);
      }
    }
    if (events.includes('task.preempted')) {
      const preempted = (await store.listAttempts(job.id)).filter((a) => a.outcome === 'preempted');
      if (preempted.length === 0 || memo?.preemptionsQueued.get(job.id) === preempted.length) continue;
      const data = await eventData(store, job, now, options);
      await store.queueNotifications(
        preempted.flatMap((a) =>
          outboxRows(
            job,
            'task.preempted',
            `${a.taskId} epoch ${a.epoch}`,
            eventBody('task.preempted', { ...data, taskId: a.taskId, epoch: a.epoch }, a.endedAt ?? now),
          ),
        ),
        now,
      );
      memo?.preemptionsQueued.set(job.id, preempted.length);
    }
  }
}

/**
 * What this process already queued for running jobs, so that a scheduler running every second builds a
 * job's report only when there is something new to queue. Only a shortcut: the dedupe keys decide.
 */
export class ScheduleMemo {
  readonly progressWindow = new Map<string, number>();
  readonly preemptionsQueued = new Map<string, number>();

  /** Drops jobs that are no longer running, so the memo stays as small as the running jobs. */
  forget(running: ReadonlySet<string>): void {
    for (const map of [this.progressWindow, this.preemptionsQueued]) {
      for (const id of map.keys()) if (!running.has(id)) map.delete(id);
    }
  }
}

export interface NotificationSettings {
  /** `smtp://…` or `smtps://…`; without it, email notifications are refused at submit. */
  smtpUrl?: string;
  smtpFrom?: string;
  publicUrl?: string;
  progressIntervalMs?: number;
  webhookTimeoutMs?: number;
  /** Whether webhooks may go to loopback, private and link-local addresses (default true). */
  allowPrivateWebhooks?: boolean;
}

/** A dispatcher over `store` with a webhook sender (signing with each tenant's secret) and, given SMTP, email. */
export function notificationDispatcher(
  store: JobStore & OutboxStore,
  settings: NotificationSettings,
  prices: PriceTable,
  extra: Partial<OutboxDispatcherOptions> = {},
): { dispatcher: OutboxDispatcher; close(): Promise<void> } {
  const now = extra.now ?? Date.now;
  const email = settings.smtpUrl
    ? new EmailSender({
        smtpUrl: settings.smtpUrl,
        from: settings.smtpFrom ?? 'spotfuse <spotfuse@localhost>',
      })
    : undefined;
  const notifiers: Partial<Record<'webhook' | 'email', Notifier>> = {
    webhook: new WebhookSender({
      secretFor: (tenant) => store.getWebhookSecret(tenant, newWebhookSecret(), now()),
      timeoutMs: settings.webhookTimeoutMs,
      allowPrivateNetworks: settings.allowPrivateWebhooks ?? true,
      now,
    }),
    ...(email ? { email } : {}),
  };
  const memo = new ScheduleMemo();
  const dispatcher = new OutboxDispatcher({
    store,
    notifiers,
    schedule: () =>
      scheduleNotifications(store, {
        prices,
        publicUrl: settings.publicUrl,
        progressIntervalMs: settings.progressIntervalMs,
        memo,
        now,
      }),
    ...extra,
  });
  return {
    dispatcher,
    async close() {
      await dispatcher.stop();
      email?.close();
    },
  };
}
