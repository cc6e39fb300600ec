import type { Notification } from '../store/store.js';
import type { DeliveryOutcome, Notifier } from './outbox.js';
import { webhookHeaders } from './standardWebhooks.js';

export interface WebhookSenderOptions {
  /** The signing secret of a tenant (null: jobs without one). */
  secretFor: (tenant: string | null) => Promise<string>;
  /** Per request, connecting included (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

/** Explains a fetch failure by its cause (ECONNREFUSED, a timeout…) rather than "fetch failed". */
function describeFetchError(error: unknown): string {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timed out';
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

/**
 * POSTs the event body, signed the Standard Webhooks way. A 2xx answer is a delivery; any other status
 * (redirects included: they are not followed) or a network error is a failure the dispatcher retries.
 */
export class WebhookSender implements Notifier {
  constructor(private readonly options: WebhookSenderOptions) {}

  async send(notification: Notification): Promise<DeliveryOutcome> {
    const secret = await this.options.secretFor(notification.tenant);
    const headers = webhookHeaders(
      secret,
      notification.id,
      notification.payload,
      (this.options.now ?? Date.now)(),
    );
    try {
      const response = await fetch(notification.target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'spotfuse-webhooks', ...headers },
        body: notification.payload,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      // The answer's body is of no interest; reading it would only hold the connection.
      await response.body?.cancel();
      const delivered = response.status >= 200 && response.status < 300;
      return { delivered, statusCode: response.status, error: delivered ? null : `HTTP ${response.status}` };
    } catch (error) {
      return { delivered: false, statusCode: null, error: describeFetchError(error) };
    }
  }
}
