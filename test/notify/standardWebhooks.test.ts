import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/notify/backoff.js';
import {
  isWebhookSecret,
  newWebhookSecret,
  signWebhook,
  webhookHeaders,
} from '../../src/notify/standardWebhooks.js';
import { notifySpec } from '../../src/notify/targets.js';

describe('Standard Webhooks signing', () => {
  it('signs so that the standardwebhooks library verifies, and a changed body does not', () => {
    const secret = newWebhookSecret();
    expect(isWebhookSecret(secret)).toBe(true);
    const body = JSON.stringify({
      type: 'job.completed',
      timestamp: new Date().toISOString(),
      data: { a: 1 },
    });
    const headers = webhookHeaders(secret, 'msg_1', body, Date.now());
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
  });

  it('matches the spec example signature', () => {
    // From the Standard Webhooks reference libraries' tests.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const sig = signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('refuses secrets that are not whsec_ and base64', () => {
    expect(isWebhookSecret('whsec_short')).toBe(false);
    expect(isWebhookSecret('secret')).toBe(false);
    expect(() => signWebhook('nope', 'id', 1, '')).toThrow(RangeError);
  });
});

describe('retry backoff', () => {
  it('doubles from the base, caps at the maximum, and gives up after the last try', () => {
    const opts = { baseMs: 10_000, maxMs: 60_000, maxAttempts: 5, jitter: 0 };
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, opts))).toEqual([10_000, 20_000, 40_000, 60_000]);
    expect(retryDelayMs(5, opts)).toBeUndefined();
    const jittered = retryDelayMs(1, { ...opts, jitter: 0.2 }, () => 1);
    expect(jittered).toBe(12_000);
  });
});

describe('notification targets', () => {
  it('takes http(s) URLs and plain addresses, drops duplicates, keeps only the opt-in events', () => {
    expect(
      notifySpec(
        ['https://example.com/h', 'https://example.com/h'],
        ['a@example.com'],
        ['job.completed', 'task.preempted'],
      ),
    ).toEqual({ webhooks: ['https://example.com/h'], emails: ['a@example.com'], events: ['task.preempted'] });
    expect(notifySpec([], [])).toBeUndefined();
  });

  it('refuses other schemes, credentials, bad addresses, unknown events and too many targets', () => {
    expect(() => notifySpec(['ftp://example.com/x'], [])).toThrow(/http/);
    expect(() => notifySpec(['not a url'], [])).toThrow(/not a URL/);
    expect(() => notifySpec(['https://u:p@example.com/'], [])).toThrow(/user/);
    expect(() => notifySpec([], ['no-at-sign'])).toThrow(/email/);
    expect(() => notifySpec([], ['a@b'])).toThrow(/email/);
    expect(() => notifySpec(['https://example.com'], [], ['job.exploded'])).toThrow(/unknown event/);
    expect(() =>
      notifySpec(
        Array.from({ length: 6 }, (_, i) => `https://e.com/${i}`),
        [],
      ),
    ).toThrow(/at most/);
  });
});
