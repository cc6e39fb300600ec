/**
 * Alibaba Cloud ECS instance metadata, http://100.100.100.200 (not 169.254.169.254):
 * - Security hardening mode: `PUT /latest/api/token` with `X-aliyun-ecs-metadata-token-ttl-seconds: 1..21600`,
 *   then GETs carry `X-aliyun-ecs-metadata-token`; normal mode (plain GETs) is the fallback.
 *   https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata
 * - `GET /latest/meta-data/instance/spot/termination-time`: 404 while the preemptible (spot) instance is
 *   safe; a UTC time such as `2015-01-05T18:02:00Z` once it is to be reclaimed (about 5 minutes ahead).
 *   An empty answer also means safe, so only a parseable time counts.
 *   https://www.alibabacloud.com/help/en/ecs/user-guide/best-practices-for-preemptible-instances
 * - Facts: `instance/instance-type`, `zone-id`; `region-id` exists here and not on AWS, which tells the two
 *   apart. No metadata item says whether the instance is preemptible, so `lifecycle` stays undefined.
 *   https://www.alibabacloud.com/help/en/ecs/user-guide/instance-metadata-items
 */
import { SessionToken, sleep, successText } from './http.js';
import type { InstanceFacts, Log } from './types.js';
import { HttpStatusError, MetadataWatcher } from './watcher.js';

const TTL_HEADER = 'x-aliyun-ecs-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aliyun-ecs-metadata-token';
const TERMINATION_TIME = 'instance/spot/termination-time';

export interface AlibabaWatcherOptions {
  /** Base URL of the metadata service (default http://100.100.100.200). */
  endpoint: string;
  /** Pause between checks (default 5000; the notice comes about 5 minutes ahead). */
  intervalMs?: number;
  /** Lifetime asked for each token (default 21600 s). */
  tokenTtlSeconds?: number;
  /** Deadline per request (default 2000). */
  requestTimeoutMs?: number;
  log?: Log;
}

function alibabaToken(
  base: string,
  options: { ttlSeconds?: number; timeoutMs: number; unref?: boolean },
): SessionToken {
  return new SessionToken(base, {
    ttlHeader: TTL_HEADER,
    tokenHeader: TOKEN_HEADER,
    ttlSeconds: options.ttlSeconds ?? 21600,
    timeoutMs: options.timeoutMs,
    unref: options.unref,
  });
}

export class AlibabaWatcher extends MetadataWatcher {
  readonly name = 'alibaba';
  private readonly base: string;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly token: SessionToken;

  constructor(options: AlibabaWatcherOptions) {
    super(options.log);
    this.base = options.endpoint.replace(/\/+$/, '');
    this.intervalMs = options.intervalMs ?? 5000;
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.token = alibabaToken(this.base, {
      ttlSeconds: options.tokenTtlSeconds,
      timeoutMs: this.timeoutMs,
      unref: true,
    });
  }

  protected async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const response = await this.token.metadataGet(TERMINATION_TIME, {
          timeoutMs: this.timeoutMs,
          signal,
          unref: true,
        });
        if (response.status === 200) {
          this.succeeded();
          const time = response.body.trim();
          if (time !== '' && !Number.isNaN(Date.parse(time))) {
            this.trigger('alibaba:termination-time', { time });
            return;
          }
        } else if (response.status !== 404) {
          throw new HttpStatusError(response.status);
        }
        this.succeeded();
      } catch (error) {
        this.failed(TERMINATION_TIME, error);
      }
      await sleep(this.intervalMs, signal);
    }
  }
}

export async function probeAlibaba(base: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  // Half the budget for the token, so that a PUT whose answer never comes leaves time for a plain GET.
  const token = alibabaToken(base, { ttlSeconds: 60, timeoutMs: timeoutMs / 2 });
  const response = await token.metadataGet('region-id', { timeoutMs, signal });
  return successText(response) !== undefined;
}

export async function alibabaFacts(
  base: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<InstanceFacts> {
  const token = alibabaToken(base, { ttlSeconds: 60, timeoutMs });
  await token.get(signal).catch(() => undefined);
  const item = (path: string) =>
    token.metadataGet(path, { timeoutMs, signal }).then(successText, () => undefined);
  const [instanceType, zone] = await Promise.all([item('instance/instance-type'), item('zone-id')]);
  return { cloud: 'alibaba', instanceType, zone, lifecycle: undefined };
}
