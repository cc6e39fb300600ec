import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { PreemptionNotice, watchPreemption } from '../../src/worker/preemption.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function deadPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Just enough of the GCE metadata server: recognisable, and a preempted flag with hanging GETs. */
async function fakeGcp() {
  let preempted = false;
  const waiting = new Set<ServerResponse>();
  const answer = (res: ServerResponse) =>
    res
      .writeHead(200, { 'metadata-flavor': 'Google', etag: preempted ? 'b' : 'a' })
      .end(preempted ? 'TRUE' : 'FALSE');
  let requests = 0;
  const url = await listen(
    createServer((req, res) => {
      requests++;
      const target = new URL(req.url ?? '/', 'http://metadata');
      if (req.headers['metadata-flavor'] !== 'Google') return res.writeHead(403).end();
      if (target.pathname === '/computeMetadata/v1/instance/id') {
        return res.writeHead(200, { 'metadata-flavor': 'Google' }).end('42');
      }
      if (target.pathname !== '/computeMetadata/v1/instance/preempted') return res.writeHead(404).end();
      if (target.searchParams.get('wait_for_change') !== 'true' || preempted) return answer(res);
      waiting.add(res);
      res.on('close', () => waiting.delete(res));
    }),
  );
  return {
    url,
    get requests() {
      return requests;
    },
    get waiting() {
      return waiting.size;
    },
    preempt() {
      preempted = true;
      for (const res of waiting) answer(res);
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await delay(5);
  }
}

describe('watchPreemption', () => {
  it('watches signals only with cloud none, and removes its handlers on stop', async () => {
    const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
    const notice = new PreemptionNotice();
    const watch = watchPreemption(notice, { cloud: 'none' });
    expect(await watch.cloud).toBeUndefined();
    expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
    expect(process.listenerCount('SIGINT')).toBe(before.int + 1);

    // Call only our handler: emitting the signal would also reach the test runner's own.
    const handler = process.listeners('SIGTERM').at(-1) as (signal: NodeJS.Signals) => void;
    handler('SIGTERM');
    expect(notice.reason).toBe('SIGTERM');

    await watch.stop();
    expect(process.listenerCount('SIGTERM')).toBe(before.term);
    expect(process.listenerCount('SIGINT')).toBe(before.int);
  });

  it('adds no signal handlers when told not to', async () => {
    const before = process.listenerCount('SIGTERM');
    const watch = watchPreemption(new PreemptionNotice(), { cloud: 'none', signals: false });
    expect(process.listenerCount('SIGTERM')).toBe(before);
    await watch.stop();
  });

  it('detects the cloud and watches its metadata service', async () => {
    const gcp = await fakeGcp();
    const dead = await deadPort();
    const logs: string[] = [];
    const notice = new PreemptionNotice();
    const watch = watchPreemption(notice, {
      endpoints: { aws: dead, gcp: gcp.url, azure: dead, alibaba: dead },
      signals: false,
      log: (message) => logs.push(message),
    });
    cleanups.push(() => watch.stop());
    expect(await watch.cloud).toBe('gcp');
    expect(logs).toContain('watching cloud metadata for preemption');
    await waitFor(() => gcp.waiting === 1);
    expect(notice.requested).toBe(false);

    gcp.preempt();
    await waitFor(() => notice.requested);
    expect(notice.reason).toBe('gcp:preempted');
    await watch.stop();
  });

  it('falls back to signals when no metadata service answers', async () => {
    const dead = await deadPort();
    const logs: string[] = [];
    const watch = watchPreemption(new PreemptionNotice(), {
      endpoints: { aws: dead, gcp: dead, azure: dead, alibaba: dead },
      signals: false,
      log: (message) => logs.push(message),
    });
    expect(await watch.cloud).toBeUndefined();
    expect(logs).toContain('no cloud metadata service answered; watching signals only');
    await watch.stop();
  });

  it('watches a named cloud without probing, even while it does not answer', async () => {
    const notice = new PreemptionNotice();
    const watch = watchPreemption(notice, {
      cloud: 'alibaba',
      endpoints: { alibaba: await deadPort() },
      signals: false,
    });
    expect(await watch.cloud).toBe('alibaba');
    await delay(50);
    expect(notice.requested).toBe(false);
    await watch.stop();
  });

  it('stops during detection without starting a watcher', async () => {
    const hole = await listen(createServer(() => {}));
    const gcp = await fakeGcp();
    const watch = watchPreemption(new PreemptionNotice(), {
      endpoints: { aws: hole, gcp: gcp.url, azure: hole, alibaba: hole },
      detectTimeoutMs: 60_000,
      signals: false,
    });
    // Far below the detection's timeout, however busy the machine: stop does not wait for the holes.
    const since = Date.now();
    await watch.stop();
    expect(Date.now() - since).toBeLessThan(10_000);
    const requests = gcp.requests;
    await delay(50);
    expect(gcp.requests).toBe(requests);
    expect(gcp.waiting).toBe(0);
  });
});

describe('PreemptionNotice', () => {
  it('tells each listener once, at once when the notice came already, and not after it unsubscribed', () => {
    const notice = new PreemptionNotice();
    const heard: string[] = [];
    const stay = notice.onNotice((source) => heard.push(`stay:${source}`));
    const leave = notice.onNotice((source) => heard.push(`leave:${source}`));
    leave();
    notice.trigger('SIGTERM');
    notice.trigger('aws');
    notice.onNotice((source) => heard.push(`late:${source}`));
    stay();
    expect(heard).toEqual(['stay:SIGTERM', 'late:SIGTERM']);
  });
});
