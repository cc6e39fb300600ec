import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Notification } from '../store/store.js';
import { isPrivateAddress, PrivateAddressError, publicOnlyLookup } from './addressGuard.js';
import type { DeliveryOutcome, Notifier } from './outbox.js';
import { webhookHeaders } from './standardWebhooks.js';

export interface WebhookSenderOptions {
  /** The signing secret of a tenant (null: jobs without one). */
  secretFor: (tenant: string | null) => Promise<string>;
  /**
   * Whether webhooks may go to loopback, private and link-local addresses (default true: embedded runs
   * notify the user's own machine). A coordinator serving tenants turns it off (`--webhook-allow-private`).
   */
  allowPrivateNetworks?: boolean;
  /** Per request, connecting included (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

/** Bytes of a receiver's answer read (and thrown away) before the connection is dropped. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs the event body, signed the Standard Webhooks way. A 2xx answer is a delivery; any other status
 * (redirects included: they are never followed, wherever they point) or a network error is a failure the
 * dispatcher retries. A receiver cannot hold a sender longer than `timeoutMs`, nor make it read more than
 * `MAX_ANSWER_BYTES` of its answer.
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
      const status = await this.post(new URL(notification.target), notification.payload, headers);
      const delivered = status >= 200 && status < 300;
      const redirect = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
      return { delivered, statusCode: status, error: delivered ? null : `HTTP ${status}${redirect}` };
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      if (err instanceof PrivateAddressError)
        return { delivered: false, statusCode: null, error: err.message, permanent: true };
      return { delivered: false, statusCode: null, error: err.code ?? err.message };
    }
  }

  private post(url: URL, body: string, signature: Record<string, string>): Promise<number> {
    const guard = this.options.allowPrivateNetworks === false;
    // An address literal is never looked up, so the guard checks it here.
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (guard && isIP(literal) && isPrivateAddress(literal))
      return Promise.reject(new PrivateAddressError(literal));
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'spotfuse-webhooks',
            ...signature,
          },
          ...(guard ? { lookup: publicOnlyLookup } : {}),
          signal: AbortSignal.timeout(timeoutMs),
        },
        (response) => {
          resolve(response.statusCode ?? 0);
          // The answer's body is of no interest: a small one is drained (freeing the connection for the next
          // delivery), a bigger one dropped; the timeout still ends one that trickles.
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER_BYTES) request.destroy();
          });
          response.on('error', () => {});
        },
      );
      request.on('error', (error) => reject(error.name === 'AbortError' ? new Error('timed out') : error));
      request.end(body);
    });
  }
}
