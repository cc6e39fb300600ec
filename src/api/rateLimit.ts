import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from './auth.js';

export interface RateLimitOptions {
  /** Sustained requests per second each key may make. */
  ratePerSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
  now?: () => number;
  /** Idle buckets are dropped once more than this many keys are tracked (default 10,000). */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** One token bucket per key, refilled continuously at `ratePerSecond` up to `burst`. In memory, per process. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly maxKeys: number;

  constructor(private readonly options: Omit<RateLimitOptions, 'now'>) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError('a rate limit needs ratePerSecond > 0 and burst >= 1');
    }
    this.perMs = options.ratePerSecond / 1000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /**
   * Takes `cost` tokens (default 1, at most `burst`) for `key`: 0 when granted, else how many milliseconds
   * until that many are available (nothing is taken then).
   */
  take(key: string, now: number, cost = 1): number {
    if (!(cost > 0 && cost <= this.options.burst))
      throw new RangeError(`cost ${cost} is not within 0 < cost <= burst`);
    const bucket = this.buckets.get(key) ?? this.add(key, now);
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + Math.max(0, now - bucket.at) * this.perMs);
    bucket.at = now;
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return 0;
    }
    return Math.ceil((cost - bucket.tokens) / this.perMs);
  }

  get size(): number {
    return this.buckets.size;
  }

  private add(key: string, now: number): Bucket {
    if (this.buckets.size >= this.maxKeys) this.dropIdle(now);
    const bucket = { tokens: this.options.burst, at: now };
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Forgets buckets that have refilled completely: forgetting them changes nothing. */
  private dropIdle(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.options.burst) this.buckets.delete(key);
    }
  }
}

/** Who a rate limit counts a request against: its token, else its role, else its address. */
export function rateLimitKey(request: FastifyRequest): string {
  const p: Principal | null = request.principal;
  // The admin and the embedded worker token have no token id: one bucket per role.
  return p ? (p.tokenId ?? `role:${p.role}`) : `ip:${request.ip}`;
}

/** Answers 429 with `Retry-After` in whole seconds (at least 1). */
export function tooManyRequests(reply: FastifyReply, waitMs: number, error = 'rate limit exceeded') {
  return reply
    .code(429)
    .header('retry-after', String(Math.max(1, Math.ceil(waitMs / 1000))))
    .send({ error });
}

/**
 * A fastify hook limiting each caller to `burst` requests at once and `ratePerSecond` after that, keyed by
 * the token it authenticated with (`request.principal`, so it runs after `requireRole`: as a `preHandler`
 * behind an `onRequest` `requireRole`). Over the limit: 429 with `Retry-After` in whole seconds.
 */
export function rateLimit(options: RateLimitOptions) {
  const buckets = new TokenBuckets(options);
  const now = options.now ?? Date.now;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const waitMs = buckets.take(rateLimitKey(request), now());
    if (waitMs > 0) return tooManyRequests(reply, waitMs);
  };
}
