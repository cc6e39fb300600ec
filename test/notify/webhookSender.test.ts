import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedIpv4, isPrivateAddress } from '../../src/notify/addressGuard.js';
import { newWebhookSecret } from '../../src/notify/standardWebhooks.js';
import { WebhookSender } from '../../src/notify/webhookSender.js';
import type { Notification } from '../../src/store/store.js';
import { type Receiver, startReceiver } from './receiver.js';

const secret = newWebhookSecret();

function notification(target: string): Notification {
  return {
    id: 'msg_test',
    jobId: 'job_1',
    event: 'job.completed',
    channel: 'webhook',
    target,
    dedupeKey: 'k',
    payload: JSON.stringify({ type: 'job.completed', timestamp: new Date().toISOString(), data: {} }),
    tenant: 'acme',
    state: 'pending',
    attempts: 0,
    nextAttemptAt: 0,
    createdAt: 0,
    deliveredAt: null,
    lastError: null,
  };
}

describe('webhook sender', () => {
  let hook: Receiver | undefined;
  afterEach(async () => {
    await hook?.close();
  });

  it('classifies loopback, private, link-local and mapped addresses as private, others not', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:1.1.1.1'])
      expect(isPrivateAddress(a), a).toBe(false);
  });

  it('sees the IPv4 address inside every IPv6 form that embeds one, in any notation', () => {
    const embedding = [
      ['::ffff:7f00:1', '127.0.0.1'], // IPv4-mapped, as new URL() writes [::ffff:127.0.0.1]
      ['::127.0.0.1', '127.0.0.1'], // IPv4-compatible
      ['::a9fe:a9fe', '169.254.169.254'],
      ['::ffff:0:10.0.0.1', '10.0.0.1'], // IPv4-translated
      ['::ffff:0:c0a8:101', '192.168.1.1'],
      ['64:ff9b::127.0.0.1', '127.0.0.1'], // NAT64
      ['64:ff9b::a9fe:a9fe', '169.254.169.254'],
      ['2002:7f00:1::', '127.0.0.1'], // 6to4
      ['2002:a9fe:a9fe:1::1', '169.254.169.254'],
      ['2001:0:4136:e378:8000:63bf:80ff:fffe', '127.0.0.1'], // Teredo: the client address, inverted
    ] as const;
    for (const [address, v4] of embedding) {
      expect(embeddedIpv4(address), address).toBe(v4);
      expect(isPrivateAddress(address), address).toBe(true);
    }
    expect(isPrivateAddress('fe80::1%eth0')).toBe(true);
    expect(isPrivateAddress('64:ff9b:1::a00:1')).toBe(true);
    // The same forms around public IPv4 addresses stay public, as do plain global IPv6 addresses.
    for (const address of [
      '64:ff9b::808:808',
      '2002:808:808::1',
      '::ffff:0:1.1.1.1',
      '2001:4860:4860::8888',
    ]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
    expect(embeddedIpv4('2606:4700::1111')).toBeUndefined();
    expect(embeddedIpv4('127.0.0.1')).toBeUndefined();
  });

  it('posts a signed body and reports the status; refuses private addresses when told to, for good', async () => {
    hook = await startReceiver(() => secret);
    const open = new WebhookSender({ secretFor: async () => secret });
    expect(await open.send(notification(hook.url))).toEqual({
      delivered: true,
      statusCode: 200,
      error: null,
    });
    expect(hook.accepted()).toHaveLength(1);

    const guarded = new WebhookSender({ secretFor: async () => secret, allowPrivateNetworks: false });
    const byAddress = await guarded.send(notification(hook.url));
    expect(byAddress).toMatchObject({
      delivered: false,
      permanent: true,
      error: expect.stringMatching(/127\.0\.0\.1 is a private address/),
    });
    const byName = await guarded.send(notification(hook.url.replace('127.0.0.1', 'localhost')));
    expect(byName).toMatchObject({
      delivered: false,
      permanent: true,
      error: expect.stringMatching(/private address/),
    });
    const v6 = await guarded.send(notification('http://[::1]:1/hook'));
    expect(v6).toMatchObject({ delivered: false, permanent: true });
    expect(hook.received).toHaveLength(1);
  });

  it('reports a receiver that does not answer in time as a failure to retry', async () => {
    const slow = new WebhookSender({ secretFor: async () => secret, timeoutMs: 200 });
    hook = await startReceiver(async () => {
      await new Promise((r) => setTimeout(r, 1000));
      return secret;
    });
    expect(await slow.send(notification(hook.url))).toEqual({
      delivered: false,
      statusCode: null,
      error: 'timed out',
    });
  });
});

/** Hostile receivers on loopback (the sender allows private addresses, as embedded runs do, to reach them). */
describe('webhook sender against hostile receivers', () => {
  const servers: (Server | TcpServer)[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const server of servers.splice(0)) {
      (server as Server).closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function listen<S extends Server | TcpServer>(server: S): Promise<string> {
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  }

  const sender = (timeoutMs = 10_000) => new WebhookSender({ secretFor: async () => secret, timeoutMs });

  it('gives up on a receiver that accepts the connection and stalls halfway through its headers', async () => {
    const url = await listen(
      createTcpServer((socket) => {
        sockets.push(socket);
        socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nX-Slow: '));
      }),
    );
    expect(await sender(300).send(notification(url))).toEqual({
      delivered: false,
      statusCode: null,
      error: 'timed out',
    });
  });

  it('does not follow a redirect to a loopback address (or anywhere else)', async () => {
    let innerHits = 0;
    const inner = await listen(
      createServer((_req, res) => {
        innerHits++;
        res.writeHead(200).end();
      }),
    );
    const outer = await listen(
      createServer((req, res) => {
        req.resume();
        res.writeHead(307, { location: inner.replace('127.0.0.1', 'localhost') }).end();
      }),
    );
    expect(await sender().send(notification(outer))).toEqual({
      delivered: false,
      statusCode: 307,
      error: 'HTTP 307 (redirects are not followed)',
    });
    expect(innerHits).toBe(0);
  });

  it('reads a bounded part of an endless answer, then drops the connection', async () => {
    let written = 0;
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const url = await listen(
      createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.on('close', closed);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) written += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      }),
    );
    // The sender's timeout is far beyond the test's own: only the sender dropping the answer closes it in time.
    expect(await sender(600_000).send(notification(url))).toEqual({
      delivered: true,
      statusCode: 200,
      error: null,
    });
    await connectionClosed;
    // What the sender read, plus what the kernel's socket buffers held: megabytes, never the endless stream.
    expect(written).toBeLessThan(32 * 1024 * 1024);
  });
});
