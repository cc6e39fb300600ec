import { randomBytes } from 'node:crypto';
import type { NotifyEvent, NotifySpec } from '../core/types.js';
import type { JobReport } from '../cost/jobReport.js';
import type { NewNotification, Notification, StoredJob } from '../store/store.js';

/** What a notifier reports of one try; the dispatcher records it and decides on a retry. */
export interface DeliveryOutcome {
  delivered: boolean;
  /** HTTP status (webhook) or SMTP reply code (email), when the other side answered. */
  statusCode: number | null;
  error: string | null;
  /** Trying again cannot help (a refused address): give the notification up now. */
  permanent?: boolean;
}

/** Sends one notification over one channel (webhook, email). Never throws: a failure is an outcome. */
export interface Notifier {
  send(notification: Notification): Promise<DeliveryOutcome>;
}

/** The `data` of every event body (Standard Webhooks: `{ type, timestamp, data }`). */
export interface EventData {
  jobId: string;
  state: JobReport['state'];
  /** Where the result is: the download route of the coordinator, or a file URL on this machine. */
  resultUrl: string | null;
  report: JobReport;
  /** `task.preempted`: the task that was given back, and the attempt (epoch) that ended. */
  taskId?: string;
  epoch?: number;
}

export interface EventBody {
  type: NotifyEvent;
  timestamp: string;
  data: EventData;
}

/** Email is for a job's end only: progress and preemptions would flood an inbox. */
const EMAILED: ReadonlySet<NotifyEvent> = new Set(['job.completed', 'job.failed', 'job.cancelled']);

/** A Standard Webhooks message id: stable across the retries of one delivery, so receivers can dedupe. */
export function newMessageId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`;
}

export function eventBody(type: NotifyEvent, data: EventData, at: number): string {
  const body: EventBody = { type, timestamp: new Date(at).toISOString(), data };
  return JSON.stringify(body);
}

export function parseEventBody(payload: string): EventBody {
  return JSON.parse(payload) as EventBody;
}

/**
 * One outbox row per target of the job for `event`. `occurrence` tells this event apart from the same
 * event of the job at another time (its end time, a progress window, a preempted attempt): with the
 * target it makes the dedupe key, so a scheduler that runs twice queues each delivery once.
 */
export function outboxRows(
  job: Pick<StoredJob, 'id'> & { spec: { notify?: NotifySpec } },
  event: NotifyEvent,
  occurrence: string,
  body: string,
): NewNotification[] {
  const notify = job.spec.notify;
  if (!notify) return [];
  const row = (channel: NewNotification['channel'], target: string): NewNotification => ({
    id: newMessageId(),
    jobId: job.id,
    event,
    channel,
    target,
    dedupeKey: `${job.id} ${event} ${occurrence} ${channel} ${target}`,
    payload: body,
  });
  return [
    ...notify.webhooks.map((url) => row('webhook', url)),
    ...(EMAILED.has(event) ? notify.emails.map((address) => row('email', address)) : []),
  ];
}
