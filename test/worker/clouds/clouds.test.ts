import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AlibabaWatcher,
  AwsWatcher,
  type AzureScheduledEvent,
  AzureWatcher,
  type Cloud,
  detectCloud,
  GcpWatcher,
  instanceFacts,
  type MetadataEndpoints,
  type PreemptionWatcher,
} from '../../../src/worker/clouds/index.js';
import { PreemptionNotice } from '../../../src/worker/preemption.js';

// ---- fake metadata servers ----------------------------------------------------------------------

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: Recorded, res: ServerResponse) => void;

interface Served {
  url: string;
  port: number;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: Handler, port = 0): Promise<Served> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://metadata');
      handler(
        {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        },
        res,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  let closed = false;
  const served: Served = {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  cleanups.push(() => served.close());
  return served;
}

function send(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
}

/** A loopback port nobody listens on: connections are refused at once. */
async function deadPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Accepts connections and never answers. */
async function blackHole(): Promise<Served> {
  return serve(() => {});
}

/**
 * Waits for something the code under test makes happen. The deadline only turns a hang into a failure:
 * it is far above what anything here takes, so that a loaded machine cannot fail a test.
 */
async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await delay(5);
  }
}

function started<W extends PreemptionWatcher>(watcher: W, notice: PreemptionNotice): W {
  watcher.start(notice);
  cleanups.push(() => watcher.stop());
  return watcher;
}

class Tokens {
  private readonly tokens = new Map<string, number>();
  issued = 0;

  issue(ttlSeconds: number): string {
    const token = randomUUID();
    this.tokens.set(token, Date.now() + ttlSeconds * 1000);
    this.issued++;
    return token;
  }

  valid(token: unknown): boolean {
    const expires = typeof token === 'string' ? this.tokens.get(token) : undefined;
    return expires !== undefined && expires > Date.now();
  }

  revokeAll(): void {
    this.tokens.clear();
  }
}

/** EC2 IMDS with IMDSv2 required: every GET needs a live token from PUT /latest/api/token. */
class FakeAws {
  readonly tokens = new Tokens();
  readonly requests: Recorded[] = [];
  unauthorized = 0;
  instanceAction: unknown;
  rebalance: unknown;
  /** Like a container behind hop limit 1: the token PUT gets no answer. */
  tokensUnreachable = false;
  /** IMDSv1 still allowed: GETs without a token are served. */
  v1Allowed = false;

  readonly handle: Handler = (request, res) => {
    this.requests.push(request);
    if (request.path === '/latest/api/token') {
      if (this.tokensUnreachable) return;
      if (request.method !== 'PUT') return send(res, 405);
      const ttl = Number(request.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400);
      const token = this.tokens.issue(ttl);
      return send(res, 200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    }
    if (request.method !== 'GET') return send(res, 405);
    const token = request.headers['x-aws-ec2-metadata-token'];
    if (!(this.v1Allowed && token === undefined) && !this.tokens.valid(token)) {
      this.unauthorized++;
      return send(res, 401);
    }
    const items: Record<string, string | undefined> = {
      'instance-id': 'i-0123456789abcdef0',
      'instance-type': 'g5.xlarge',
      'placement/availability-zone': 'us-east-1b',
      'instance-life-cycle': 'spot',
      'spot/instance-action':
        this.instanceAction === undefined ? undefined : JSON.stringify(this.instanceAction),
      'events/recommendations/rebalance':
        this.rebalance === undefined ? undefined : JSON.stringify(this.rebalance),
    };
    const value = items[request.path.replace('/latest/meta-data/', '')];
    if (!request.path.startsWith('/latest/meta-data/') || value === undefined) return send(res, 404);
    send(res, 200, value);
  };

  gets(item: string): Recorded[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path === `/latest/meta-data/${item}`);
  }
}

/** GCE metadata server: Metadata-Flavor both ways, ETags, and hanging GETs with wait_for_change. */
class FakeGcp {
  readonly requests: Recorded[] = [];
  preempted = false;
  failNext = 0;
  abortedWaits = 0;
  private version = 1;
  private readonly waiters = new Set<() => void>();

  get etag(): string {
    return `etag-${this.version}`;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  preempt(): void {
    this.preempted = true;
    this.version++;
    for (const waiter of [...this.waiters]) waiter();
  }

  readonly handle: Handler = (request, res) => {
    this.requests.push(request);
    const flavor = { 'metadata-flavor': 'Google' };
    if (request.headers['metadata-flavor'] !== 'Google')
      return send(res, 403, 'Missing Metadata-Flavor', flavor);
    if (this.failNext > 0) {
      this.failNext--;
      return send(res, 503, '', flavor);
    }
    if (request.path === '/computeMetadata/v1/instance/preempted') {
      const answer = () => send(res, 200, this.preempted ? 'TRUE' : 'FALSE', { ...flavor, etag: this.etag });
      if (request.query.get('wait_for_change') !== 'true') return answer();
      const last = request.query.get('last_etag');
      if (last && last !== this.etag) return answer();
      const timeout = Number(request.query.get('timeout_sec') ?? 3600) * 1000;
      const waiter = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        answer();
      };
      const timer = setTimeout(waiter, timeout);
      this.waiters.add(waiter);
      res.on('close', () => {
        if (!res.writableEnded) {
          this.abortedWaits++;
          clearTimeout(timer);
          this.waiters.delete(waiter);
        }
      });
      return;
    }
    const items: Record<string, string> = {
      '/computeMetadata/v1/instance/id': '4520031799277581759',
      '/computeMetadata/v1/instance/machine-type': 'projects/123456/machineTypes/g2-standard-8',
      '/computeMetadata/v1/instance/zone': 'projects/123456/zones/us-central1-a',
      '/computeMetadata/v1/instance/scheduling/provisioning-model': 'SPOT',
      '/computeMetadata/v1/instance/scheduling/preemptible': 'TRUE',
    };
    const value = items[request.path];
    if (value === undefined) return send(res, 404, 'Not Found', flavor);
    send(res, 200, value, flavor);
  };
}

/** Azure IMDS: requires `Metadata: true`; Scheduled Events with approvals by POST. */
class FakeAzure {
  readonly requests: Recorded[] = [];
  readonly approvals: unknown[] = [];
  events: AzureScheduledEvent[] = [];
  name = 'spot-worker-1';
  incarnation = 1;

  readonly handle: Handler = (request, res) => {
    this.requests.push(request);
    const json = (status: number, value: unknown) =>
      send(res, status, JSON.stringify(value), { 'content-type': 'application/json; charset=utf-8' });
    if (request.headers.metadata !== 'true')
      return json(400, { error: 'Bad request. Required metadata header not specified' });
    if (!request.query.get('api-version'))
      return json(400, { error: 'Bad request. api-version was not specified' });
    if (request.path === '/metadata/scheduledevents') {
      if (request.method === 'POST') {
        this.approvals.push(JSON.parse(request.body));
        return send(res, 200);
      }
      return json(200, { DocumentIncarnation: this.incarnation, Events: this.events });
    }
    if (request.path === '/metadata/instance/compute/name' && request.query.get('format') === 'text') {
      return send(res, 200, this.name);
    }
    if (request.path === '/metadata/instance/compute') {
      return json(200, {
        name: this.name,
        vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6',
        vmSize: 'Standard_NC4as_T4_v3',
        location: 'eastus',
        zone: '2',
        priority: 'Spot',
        evictionPolicy: 'Delete',
      });
    }
    json(404, { error: 'Not found' });
  };

  schedule(
    event: Partial<AzureScheduledEvent> & Pick<AzureScheduledEvent, 'EventType'>,
  ): AzureScheduledEvent {
    const full: AzureScheduledEvent = {
      EventId: randomUUID(),
      ResourceType: 'VirtualMachine',
      Resources: [this.name],
      EventStatus: 'Scheduled',
      NotBefore: new Date(Date.now() + 30_000).toUTCString(),
      ...event,
    };
    this.events.push(full);
    this.incarnation++;
    return full;
  }

  posts(): Recorded[] {
    return this.requests.filter((r) => r.method === 'POST');
  }
}

/** Alibaba Cloud ECS metadata in security hardening mode only (tokens required). */
class FakeAlibaba {
  readonly tokens = new Tokens();
  readonly requests: Recorded[] = [];
  refused = 0;
  terminationTime: string | undefined;

  readonly handle: Handler = (request, res) => {
    this.requests.push(request);
    if (request.path === '/latest/api/token') {
      if (request.method !== 'PUT') return send(res, 405);
      const ttl = Number(request.headers['x-aliyun-ecs-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400);
      return send(res, 200, this.tokens.issue(ttl));
    }
    if (!this.tokens.valid(request.headers['x-aliyun-ecs-metadata-token'])) {
      this.refused++;
      return send(res, 403);
    }
    const items: Record<string, string | undefined> = {
      'instance-id': 'i-bp1hygp5b04o7m3c3z0c',
      'region-id': 'cn-hangzhou',
      'zone-id': 'cn-hangzhou-i',
      'instance/instance-type': 'ecs.gn7i-c8g1.2xlarge',
      'instance/spot/termination-time': this.terminationTime,
    };
    const value = items[request.path.replace('/latest/meta-data/', '')];
    if (!request.path.startsWith('/latest/meta-data/') || value === undefined) return send(res, 404);
    send(res, 200, value);
  };
}

// ---- AWS ----------------------------------------------------------------------------------------

describe('AWS watcher', () => {
  it('stays quiet on 404 and gives the notice on the first poll that sees instance-action', async () => {
    const fake = new FakeAws();
    const server = await serve(fake.handle);
    // The fake, like IMDS with IMDSv2 required, refuses a GET without a token.
    const bare = await fetch(`${server.url}/latest/meta-data/instance-id`);
    expect(bare.status).toBe(401);
    fake.unauthorized = 0;

    const notice = new PreemptionNotice();
    started(new AwsWatcher({ endpoint: server.url, intervalMs: 50 }), notice);
    await waitFor(() => fake.gets('spot/instance-action').length >= 3);
    expect(notice.requested).toBe(false);

    const before = fake.gets('spot/instance-action').length;
    fake.instanceAction = { action: 'terminate', time: '2026-01-05T18:02:00Z' };
    await waitFor(() => notice.requested);
    // The first poll that sees the action gives the notice, and the watcher then stops polling.
    expect(fake.gets('spot/instance-action').length - before).toBe(1);
    expect(notice.reason).toBe('aws:spot-interruption');
    expect(fake.unauthorized).toBe(0);
    expect(fake.tokens.issued).toBe(1);
    const get = fake.gets('spot/instance-action')[0]!;
    expect(get.headers['x-aws-ec2-metadata-token']).toEqual(expect.any(String));
  });

  it('treats a rebalance recommendation as a notice unless told not to', async () => {
    const fake = new FakeAws();
    fake.rebalance = { noticeTime: '2026-01-05T18:00:00Z' };
    const server = await serve(fake.handle);

    const ignoring = new PreemptionNotice();
    started(new AwsWatcher({ endpoint: server.url, intervalMs: 20, rebalance: false }), ignoring);
    await waitFor(() => fake.gets('spot/instance-action').length >= 3);
    expect(ignoring.requested).toBe(false);
    expect(fake.gets('events/recommendations/rebalance')).toHaveLength(0);

    const notice = new PreemptionNotice();
    started(new AwsWatcher({ endpoint: server.url, intervalMs: 20 }), notice);
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('aws:rebalance-recommendation');
  });

  it('renews the token before it expires, and after the service drops it', async () => {
    const fake = new FakeAws();
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    started(new AwsWatcher({ endpoint: server.url, intervalMs: 25, tokenTtlSeconds: 1 }), notice);
    await waitFor(() => fake.tokens.issued >= 2);
    expect(fake.unauthorized).toBe(0);

    fake.tokens.revokeAll();
    const issued = fake.tokens.issued;
    await waitFor(() => fake.tokens.issued > issued);
    fake.instanceAction = { action: 'stop', time: '2026-01-05T18:02:00Z' };
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('aws:spot-interruption');
  });

  it('falls back to IMDSv1 when no token can be had', async () => {
    const fake = new FakeAws();
    fake.tokensUnreachable = true;
    fake.v1Allowed = true;
    const server = await serve(fake.handle);
    expect(
      // Half the budget goes to the token PUT that never gets an answer, the rest to the plain GET.
      await detectCloud({ aws: server.url, gcp: server.url, azure: server.url, alibaba: server.url }, 2000),
    ).toBe('aws');
    const puts = () => fake.requests.filter((r) => r.path === '/latest/api/token').length;
    const putsBefore = puts();
    const notice = new PreemptionNotice();
    started(new AwsWatcher({ endpoint: server.url, intervalMs: 20, requestTimeoutMs: 100 }), notice);
    await waitFor(() => fake.gets('spot/instance-action').length >= 1);
    fake.instanceAction = { action: 'terminate', time: '2026-01-05T18:02:00Z' };
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('aws:spot-interruption');
    // The token is not asked for on every poll while it cannot be had.
    expect(fake.gets('spot/instance-action').length).toBeGreaterThan(1);
    expect(puts() - putsBefore).toBe(1);
  });

  it('survives the metadata service going away and coming back', async () => {
    const fake = new FakeAws();
    const server = await serve(fake.handle);
    const logs: [string, Record<string, unknown> | undefined][] = [];
    const notice = new PreemptionNotice();
    started(
      new AwsWatcher({ endpoint: server.url, intervalMs: 20, log: (m, f) => logs.push([m, f]) }),
      notice,
    );
    await waitFor(() => fake.gets('spot/instance-action').length >= 2);
    await server.close();
    const unavailable = () => logs.filter(([m]) => m === 'metadata service unavailable, still watching');
    await waitFor(() => unavailable().length > 0);
    expect(notice.requested).toBe(false);

    fake.instanceAction = { action: 'hibernate', time: '2026-01-05T18:02:00Z' };
    await serve(fake.handle, server.port);
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('aws:spot-interruption');
    // One line for the whole outage, however many polls failed, and one when it ended.
    expect(unavailable()).toHaveLength(1);
    expect(logs.filter(([m]) => m === 'metadata service available again')).toHaveLength(1);
  });

  it('never gives a notice when nothing answers', async () => {
    const notice = new PreemptionNotice();
    started(new AwsWatcher({ endpoint: await deadPort(), intervalMs: 10 }), notice);
    await delay(150);
    expect(notice.requested).toBe(false);
  });

  it('sends nothing after stop()', async () => {
    const fake = new FakeAws();
    const server = await serve(fake.handle);
    const watcher = new AwsWatcher({ endpoint: server.url, intervalMs: 10 });
    watcher.start(new PreemptionNotice());
    await waitFor(() => fake.requests.length >= 5);
    await watcher.stop();
    const count = fake.requests.length;
    await delay(100);
    expect(fake.requests.length).toBe(count);
  });
});

// ---- GCP ----------------------------------------------------------------------------------------

describe('GCP watcher', () => {
  it('holds a long-poll and gives the notice as soon as preempted turns TRUE', async () => {
    const fake = new FakeGcp();
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    started(new GcpWatcher({ endpoint: server.url }), notice);
    await waitFor(() => fake.waiting === 1);
    await delay(100);
    expect(notice.requested).toBe(false);
    // One plain read for the current value and its ETag, then one hanging GET: no polling.
    expect(fake.requests).toHaveLength(2);
    const poll = fake.requests[1]!;
    expect(poll.path).toBe('/computeMetadata/v1/instance/preempted');
    expect(poll.query.get('wait_for_change')).toBe('true');
    expect(poll.query.get('last_etag')).toBe('etag-1');
    expect(poll.headers['metadata-flavor']).toBe('Google');

    fake.preempt();
    await waitFor(() => notice.requested);
    // The pending long-poll itself carried the change: no new request was needed.
    expect(fake.requests).toHaveLength(2);
    expect(notice.reason).toBe('gcp:preempted');
  });

  it('notices a preemption that happened between two reads (ETag)', async () => {
    const fake = new FakeGcp();
    fake.preempted = true;
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    started(new GcpWatcher({ endpoint: server.url }), notice);
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('gcp:preempted');
  });

  it('reconnects with backoff after errors', async () => {
    const fake = new FakeGcp();
    fake.failNext = 3;
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    started(new GcpWatcher({ endpoint: server.url, backoffMs: 10, maxBackoffMs: 40 }), notice);
    await waitFor(() => fake.waiting === 1);
    expect(fake.requests.length).toBe(5);
    fake.preempt();
    await waitFor(() => notice.requested);
  });

  it('does not throw or give a notice when the server goes away mid-poll', async () => {
    const fake = new FakeGcp();
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    started(new GcpWatcher({ endpoint: server.url, backoffMs: 10, maxBackoffMs: 20 }), notice);
    await waitFor(() => fake.waiting === 1);
    await server.close();
    await delay(150);
    expect(notice.requested).toBe(false);
  });

  it('stop() ends the pending long-poll and sends nothing more', async () => {
    const fake = new FakeGcp();
    const server = await serve(fake.handle);
    const watcher = new GcpWatcher({ endpoint: server.url });
    watcher.start(new PreemptionNotice());
    await waitFor(() => fake.waiting === 1);
    // The fake holds the long-poll for an hour: stop() can only return by ending it.
    await watcher.stop();
    await waitFor(() => fake.abortedWaits === 1);
    const count = fake.requests.length;
    await delay(100);
    expect(fake.requests.length).toBe(count);
  });
});

// ---- Azure --------------------------------------------------------------------------------------

describe('Azure watcher', () => {
  it('gives the notice for a Preempt event of this VM and approves it on stop()', async () => {
    const fake = new FakeAzure();
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    const watcher = started(new AzureWatcher({ endpoint: server.url, intervalMs: 20 }), notice);
    await waitFor(() => fake.requests.filter((r) => r.path === '/metadata/scheduledevents').length >= 3);
    expect(notice.requested).toBe(false);
    expect(fake.requests.every((r) => r.headers.metadata === 'true')).toBe(true);

    const event = fake.schedule({ EventType: 'Preempt' });
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('azure:Preempt');
    // Approving lets Azure evict at once: not before the worker is done.
    await delay(50);
    expect(fake.posts()).toHaveLength(0);

    await watcher.stop();
    expect(fake.approvals).toEqual([{ StartRequests: [{ EventId: event.EventId }] }]);
    expect(fake.posts()[0]!.query.get('api-version')).toBe('2020-07-01');
  });

  it('ignores events for other VMs and other event types; an event without Resources counts', async () => {
    const fake = new FakeAzure();
    fake.schedule({ EventType: 'Preempt', Resources: ['another-vm'] });
    fake.schedule({ EventType: 'Reboot' });
    fake.schedule({ EventType: 'Freeze', Resources: [] });
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    const watcher = started(new AzureWatcher({ endpoint: server.url, intervalMs: 20 }), notice);
    await waitFor(() => fake.requests.filter((r) => r.path === '/metadata/scheduledevents').length >= 3);
    expect(notice.requested).toBe(false);

    const event = fake.schedule({ EventType: 'Preempt', Resources: [] });
    await waitFor(() => notice.requested);
    await watcher.stop();
    expect(fake.approvals).toEqual([{ StartRequests: [{ EventId: event.EventId }] }]);
  });

  it('can approve at once, and treats Terminate as a notice too', async () => {
    const fake = new FakeAzure();
    const event = fake.schedule({ EventType: 'Terminate', Resources: ['SPOT-WORKER-1'] });
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    const watcher = started(
      new AzureWatcher({ endpoint: server.url, intervalMs: 20, acknowledge: 'immediately' }),
      notice,
    );
    await waitFor(() => fake.approvals.length === 1);
    expect(notice.reason).toBe('azure:Terminate');
    expect(fake.approvals).toEqual([{ StartRequests: [{ EventId: event.EventId }] }]);
    await watcher.stop();
    expect(fake.approvals).toHaveLength(1);
  });

  it('approves nothing when stopped without a notice, and survives a dead service', async () => {
    const notice = new PreemptionNotice();
    const watcher = started(new AzureWatcher({ endpoint: await deadPort(), intervalMs: 10 }), notice);
    await delay(100);
    await watcher.stop();
    expect(notice.requested).toBe(false);

    const fake = new FakeAzure();
    const server = await serve(fake.handle);
    const quiet = started(new AzureWatcher({ endpoint: server.url, intervalMs: 10 }), new PreemptionNotice());
    await waitFor(() => fake.requests.length >= 3);
    await quiet.stop();
    const count = fake.requests.length;
    await delay(60);
    expect(fake.requests.length).toBe(count);
    expect(fake.posts()).toHaveLength(0);
  });
});

// ---- Alibaba ------------------------------------------------------------------------------------

describe('Alibaba Cloud watcher', () => {
  it('stays quiet on 404 and gives the notice once termination-time holds a time', async () => {
    const fake = new FakeAlibaba();
    const server = await serve(fake.handle);
    const notice = new PreemptionNotice();
    started(new AlibabaWatcher({ endpoint: server.url, intervalMs: 20 }), notice);
    const polls = () => fake.requests.filter((r) => r.path.endsWith('/spot/termination-time')).length;
    await waitFor(() => polls() >= 3);
    expect(notice.requested).toBe(false);

    fake.terminationTime = '';
    const before = polls();
    await waitFor(() => polls() >= before + 3);
    expect(notice.requested).toBe(false);

    fake.terminationTime = '2026-01-05T18:02:00Z';
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('alibaba:termination-time');
    expect(fake.refused).toBe(0);
    expect(fake.tokens.issued).toBe(1);
  });

  it('never gives a notice when nothing answers', async () => {
    const notice = new PreemptionNotice();
    started(new AlibabaWatcher({ endpoint: await deadPort(), intervalMs: 10 }), notice);
    await delay(100);
    expect(notice.requested).toBe(false);
  });
});

// ---- detection and facts ------------------------------------------------------------------------

async function fakes(): Promise<Record<Cloud, string>> {
  return {
    aws: (await serve(new FakeAws().handle)).url,
    gcp: (await serve(new FakeGcp().handle)).url,
    azure: (await serve(new FakeAzure().handle)).url,
    alibaba: (await serve(new FakeAlibaba().handle)).url,
  };
}

describe('detectCloud', () => {
  it('picks the cloud whose metadata service answers', async () => {
    const urls = await fakes();
    const dead = await deadPort();
    for (const cloud of ['aws', 'gcp', 'azure', 'alibaba'] as const) {
      const endpoints: MetadataEndpoints = {
        aws: dead,
        gcp: dead,
        azure: dead,
        alibaba: dead,
        [cloud]: urls[cloud],
      };
      expect(await detectCloud(endpoints, 30_000)).toBe(cloud);
    }
  });

  it('does not take one cloud for another when all probes reach the same service', async () => {
    // Real AWS and Alibaba share the /latest/meta-data layout; AWS, GCP and Azure share 169.254.169.254.
    const urls = await fakes();
    for (const cloud of ['aws', 'gcp', 'azure', 'alibaba'] as const) {
      const url = urls[cloud];
      expect(await detectCloud({ aws: url, gcp: url, azure: url, alibaba: url }, 30_000)).toBe(cloud);
    }
  });

  it('is undefined as soon as every probe has failed, without waiting for its deadline', async () => {
    const dead = await deadPort();
    // A deadline past the test's own timeout: only the failed probes can end the detection.
    const endpoints = { aws: dead, gcp: dead, azure: dead, alibaba: dead };
    expect(await detectCloud(endpoints, 600_000)).toBeUndefined();
  });

  it('is undefined at its deadline when nothing answers, and not before', async () => {
    const hole = (await blackHole()).url;
    // Timers of the same length fire in the order they were set: this one is set first.
    let deadlinePassed = false;
    setTimeout(() => {
      deadlinePassed = true;
    }, 300);
    expect(await detectCloud({ aws: hole, gcp: hole, azure: hole, alibaba: hole }, 300)).toBeUndefined();
    expect(deadlinePassed).toBe(true);
  });

  it('stops when aborted, long before its deadline', async () => {
    const asked: Recorded[] = [];
    const hole = (await serve((request) => asked.push(request))).url;
    const controller = new AbortController();
    const endpoints = { aws: hole, gcp: hole, azure: hole, alibaba: hole };
    // A deadline past the test's own timeout: only the abort can end the detection.
    const result = detectCloud(endpoints, 600_000, controller.signal);
    await waitFor(() => asked.length > 0);
    controller.abort();
    expect(await result).toBeUndefined();
  });
});

describe('instanceFacts', () => {
  it('reads machine type, zone and lifecycle from each cloud', async () => {
    const endpoints = await fakes();
    expect(await instanceFacts('aws', { endpoints })).toEqual({
      cloud: 'aws',
      instanceType: 'g5.xlarge',
      zone: 'us-east-1b',
      lifecycle: 'spot',
    });
    expect(await instanceFacts('gcp', { endpoints })).toEqual({
      cloud: 'gcp',
      instanceType: 'g2-standard-8',
      zone: 'us-central1-a',
      lifecycle: 'spot',
    });
    expect(await instanceFacts('azure', { endpoints })).toEqual({
      cloud: 'azure',
      instanceType: 'Standard_NC4as_T4_v3',
      zone: 'eastus-2',
      lifecycle: 'spot',
    });
    expect(await instanceFacts('alibaba', { endpoints })).toEqual({
      cloud: 'alibaba',
      instanceType: 'ecs.gn7i-c8g1.2xlarge',
      zone: 'cn-hangzhou-i',
      lifecycle: undefined,
    });
  });

  it('leaves what it cannot learn undefined', async () => {
    const dead = await deadPort();
    const hole = (await blackHole()).url;
    expect(await instanceFacts('aws', { endpoints: { aws: dead } })).toEqual({
      cloud: 'aws',
      instanceType: undefined,
      zone: undefined,
      lifecycle: undefined,
    });
    // The black hole never answers: only instanceFacts' own deadline can end this.
    expect((await instanceFacts('gcp', { endpoints: { gcp: hole }, timeoutMs: 200 })).zone).toBeUndefined();
  });
});
