/**
 * AWS EC2, instance metadata service (IMDSv2), at http://169.254.169.254:
 * - Session token: `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..21600`; every GET
 *   then carries `X-aws-ec2-metadata-token`, and a missing or expired token gets 401 where IMDSv2 is
 *   required. Without a token (hop limit 1 inside a container drops the PUT answer) plain IMDSv1 GETs are
 *   tried. https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
 * - `GET /latest/meta-data/spot/instance-action`: 404 until the Spot Instance is marked, then 200 with
 *   `{"action": "terminate"|"stop"|"hibernate", "time": "2017-09-18T08:22:00Z"}` two minutes ahead; AWS
 *   recommends checking every 5 seconds.
 *   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
 * - `GET /latest/meta-data/events/recommendations/rebalance`: 404, then 200 `{"noticeTime": "..."}` once the
 *   instance is at elevated risk of interruption; may come before or together with the interruption notice.
 *   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/rebalance-recommendations.html
 * - Facts: `instance-type`, `placement/availability-zone`, `instance-life-cycle` (`spot` | `on-demand` | ...).
 *   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-categories.html
 */
import { type MetadataResponse, SessionToken, sleep, successText } from './http.js';
import type { InstanceFacts, Log } from './types.js';
import { HttpStatusError, MetadataWatcher } from './watcher.js';

const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const SPOT_ACTION = 'spot/instance-action';
const REBALANCE = 'events/recommendations/rebalance';

export interface AwsWatcherOptions {
  /** Base URL of the metadata service (default http://169.254.169.254). */
  endpoint: string;
  /** Pause between checks (default 5000, as AWS recommends). */
  intervalMs?: number;
  /** A rebalance recommendation counts as a notice (default true). */
  rebalance?: boolean;
  /** Lifetime asked for each IMDSv2 token (default 21600 s); renewed ahead of expiry. */
  tokenTtlSeconds?: number;
  /** Deadline per request (default 2000). */
  requestTimeoutMs?: number;
  log?: Log;
}

export function awsToken(
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

export class AwsWatcher extends MetadataWatcher {
  readonly name = 'aws';
  private readonly base: string;
  private readonly intervalMs: number;
  private readonly rebalance: boolean;
  private readonly timeoutMs: number;
  private readonly token: SessionToken;

  constructor(options: AwsWatcherOptions) {
    super(options.log);
    this.base = options.endpoint.replace(/\/+$/, '');
    this.intervalMs = options.intervalMs ?? 5000;
    this.rebalance = options.rebalance ?? true;
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.token = awsToken(this.base, {
      ttlSeconds: options.tokenTtlSeconds,
      timeoutMs: this.timeoutMs,
      unref: true,
    });
  }

  protected async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (await this.check(signal)) return;
      await sleep(this.intervalMs, signal);
    }
  }

  /** True once a notice was given. */
  private async check(signal: AbortSignal): Promise<boolean> {
    const paths = this.rebalance ? [SPOT_ACTION, REBALANCE] : [SPOT_ACTION];
    for (const path of paths) {
      let response: MetadataResponse;
      try {
        response = await this.token.metadataGet(path, {
          timeoutMs: this.timeoutMs,
          signal,
          unref: true,
        });
      } catch (error) {
        this.failed(path, error);
        return false;
      }
      if (response.status === 200) {
        this.succeeded();
        const body = parseJson(response.body);
        if (path === SPOT_ACTION) {
          this.trigger('aws:spot-interruption', { action: body?.action, time: body?.time });
        } else {
          this.trigger('aws:rebalance-recommendation', { noticeTime: body?.noticeTime });
        }
        return true;
      }
      if (response.status !== 404) {
        this.failed(path, new HttpStatusError(response.status));
        return false;
      }
    }
    this.succeeded();
    return false;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An EC2 instance answers `placement/availability-zone`. Alibaba Cloud's service has the same
 * `/latest/meta-data` layout but no `placement/` items, so it is not taken for AWS.
 */
export async function probeAws(base: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  // Half the budget for the token, so that a PUT whose answer never comes leaves time for a plain GET.
  const token = awsToken(base, { ttlSeconds: 60, timeoutMs: timeoutMs / 2 });
  const response = await token.metadataGet('placement/availability-zone', { timeoutMs, signal });
  return successText(response) !== undefined;
}

export async function awsFacts(
  base: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<InstanceFacts> {
  const token = awsToken(base, { ttlSeconds: 60, timeoutMs });
  await token.get(signal).catch(() => undefined);
  const item = (path: string) =>
    token.metadataGet(path, { timeoutMs, signal }).then(successText, () => undefined);
  const [instanceType, zone, lifecycle] = await Promise.all([
    item('instance-type'),
    item('placement/availability-zone'),
    item('instance-life-cycle'),
  ]);
  return {
    cloud: 'aws',
    instanceType,
    zone,
    lifecycle: lifecycle === 'spot' ? 'spot' : lifecycle === 'on-demand' ? 'on-demand' : undefined,
  };
}
