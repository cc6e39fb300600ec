import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Notification, NotificationChannel, NotificationState, OutboxStore } from '../store/store.js';
import { type BackoffOptions, DEFAULT_BACKOFF, retryDelayMs } from './backoff.js';
import type { DeliveryOutcome, Notifier } from './outbox.js';

export interface OutboxDispatcherOptions {
  store: OutboxStore;
  /** A channel without a notifier (email with no SMTP server) gives its notifications up at once. */
  notifiers: Partial<Record<NotificationChannel, Notifier>>;
  backoff?: Partial<BackoffOptions>;
  /** How long a claimed row stays this dispatcher's; a crashed dispatcher's rows come back after it. */
  lockMs?: number;
  /** Rows claimed and sent at once per round (default 20). */
  batch?: number;
  /** Pause between rounds when the outbox had nothing due (default 1 s). */
  pollMs?: number;
  /** Runs before every round: queues the notifications that are due (see coordinator/notifications.ts). */
  schedule?: () => Promise<unknown>;
  now?: () => number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Told of every recorded attempt: `delivered`, `pending` (will retry) or `dead` (given up). */
  onAttempt?: (notification: Notification, state: NotificationState) => void;
}

const NO_CHANNEL: Record<NotificationChannel, string> = {
  webhook: 'webhooks are not enabled here',
  email: 'no SMTP server is configured (--smtp-url)',
};

/**
 * Delivers the outbox: claims due rows (locked for `lockMs`, so two dispatchers on one database never
 * send the same row at once), sends each through its channel's notifier, records the attempt, and
 * reschedules a failure with exponential backoff, or gives it up as `dead` after the last try.
 */
export class OutboxDispatcher {
  /** Identifies this dispatcher's locks; a new instance (a restart) is a new owner. */
  readonly owner = `dispatcher_${randomBytes(6).toString('hex')}`;
  private readonly backoff: BackoffOptions;
  private readonly now: () => number;
  private loop: Promise<void> | undefined;
  private stopping: AbortController | undefined;

  constructor(private readonly options: OutboxDispatcherOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.now = options.now ?? Date.now;
  }

  /** One round: schedule, claim what is due, send it all, record. Returns how many rows were tried. */
  async runOnce(): Promise<number> {
    await this.options.schedule?.();
    const { store } = this.options;
    const due = await store.claimDueNotifications(
      this.owner,
      this.now(),
      this.options.lockMs ?? 60_000,
      this.options.batch ?? 20,
    );
    await Promise.all(due.map((n) => this.deliver(n)));
    return due.length;
  }

  private async deliver(notification: Notification): Promise<void> {
    const started = this.now();
    const notifier = this.options.notifiers[notification.channel];
    const outcome: DeliveryOutcome = notifier
      ? await notifier.send(notification)
      : { delivered: false, statusCode: null, error: NO_CHANNEL[notification.channel] };
    const at = this.now();
    const attempt = notification.attempts + 1;
    const delay =
      outcome.delivered || outcome.permanent || !notifier ? undefined : retryDelayMs(attempt, this.backoff);
    const state = outcome.delivered ? 'delivered' : delay === undefined ? 'dead' : 'pending';
    const recorded = await this.options.store.recordDelivery(
      this.owner,
      notification.id,
      {
        at,
        durationMs: at - started,
        delivered: outcome.delivered,
        statusCode: outcome.statusCode,
        error: outcome.error,
      },
      { state, nextAttemptAt: at + (delay ?? 0) },
    );
    if (recorded) this.options.onAttempt?.(notification, state);
    if (!recorded) {
      this.options.log?.('a notification took longer than its lock; another dispatcher may send it again', {
        id: notification.id,
      });
    } else if (!outcome.delivered) {
      this.options.log?.(state === 'dead' ? 'notification given up' : 'notification failed; will retry', {
        id: notification.id,
        jobId: notification.jobId,
        event: notification.event,
        target: notification.target,
        attempt,
        error: outcome.error,
        retryInMs: delay,
      });
    }
  }

  /** Runs rounds in the background until `stop()`; a failing round is logged and the next one runs. */
  start(): void {
    if (this.loop) return;
    const stopping = new AbortController();
    this.stopping = stopping;
    this.loop = (async () => {
      while (!stopping.signal.aborted) {
        let tried = 0;
        try {
          tried = await this.runOnce();
        } catch (error) {
          this.options.log?.('notification round failed', { error: (error as Error).message });
        }
        if (tried === 0)
          await sleep(this.options.pollMs ?? 1000, undefined, { signal: stopping.signal }).catch(() => {});
      }
    })();
  }

  /** Stops the background rounds, letting the current one finish (its sends and records). */
  async stop(): Promise<void> {
    this.stopping?.abort();
    await this.loop;
    this.loop = undefined;
  }

  /**
   * Runs rounds until none of the job's notifications is pending or `timeoutMs` has passed, and returns
   * the job's notifications as they stand (embedded `run` waits for its own before exiting).
   */
  async drain(jobId: string, timeoutMs: number): Promise<Notification[]> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      await this.runOnce();
      const rows = await this.options.store.listNotifications(jobId);
      const pending = rows.filter((n) => n.state === 'pending');
      const left = deadline - this.now();
      if (pending.length === 0 || left <= 0) return rows;
      const next = Math.min(...pending.map((n) => n.nextAttemptAt)) - this.now();
      await sleep(Math.max(20, Math.min(left, next, this.options.pollMs ?? 1000)));
    }
  }
}
