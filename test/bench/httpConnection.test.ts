import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpConnection } from '../../bench/httpConnection.js';

interface Seen {
  method?: string;
  url?: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server | undefined;

/** A node:http server on loopback that answers each request with `answer`, and counts its connections. */
async function serve(answer: (seen: Seen, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  let connections = 0;
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const request = { method: req.method, url: req.url, headers: req.headers, body };
      seen.push(request);
      answer(request, res);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, seen, connections: () => connections };
}

afterEach(async () => {
  const running = server;
  server = undefined;
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

describe('HttpConnection', () => {
  it('posts JSON with its headers and reads answers by content-length, on one kept-alive connection', async () => {
    const { port, seen, connections } = await serve((request, res) => {
      const text = JSON.stringify({ echo: JSON.parse(request.body), n: seen.length, note: 'é' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    const connection = new HttpConnection('127.0.0.1', port, { authorization: 'Bearer t0k' });
    const first = await connection.post('/v1/claim', { workerId: 'w-1' });
    const second = await connection.post('/v1/tasks/a/heartbeat', { epoch: 2 });
    connection.close();
    expect(first).toEqual({
      status: 200,
      body: JSON.stringify({ echo: { workerId: 'w-1' }, n: 1, note: 'é' }),
    });
    expect(JSON.parse(second.body)).toEqual({ echo: { epoch: 2 }, n: 2, note: 'é' });
    expect(seen.map((s) => [s.method, s.url])).toEqual([
      ['POST', '/v1/claim'],
      ['POST', '/v1/tasks/a/heartbeat'],
    ]);
    expect(seen[0].headers).toMatchObject({
      authorization: 'Bearer t0k',
      'content-type': 'application/json',
      host: `127.0.0.1:${port}`,
    });
    expect(connections()).toBe(1);
  });

  it('reads a 204 without a body, and reconnects after the server closed the connection', async () => {
    const { port, connections } = await serve((_request, res) => {
      res.shouldKeepAlive = false;
      res.writeHead(204);
      res.end();
    });
    const connection = new HttpConnection('127.0.0.1', port, {});
    expect(await connection.post('/a', {})).toEqual({ status: 204, body: '' });
    expect(await connection.post('/b', {})).toEqual({ status: 204, body: '' });
    connection.close();
    expect(connections()).toBe(2);
  });

  it('reads a large answer that arrives in many pieces, joining them once, then the next answer', async () => {
    // 2 MB with a two-byte character split between writes; the head itself arrives in two pieces. A raw
    // server, as node:http writes an answer's head in one piece.
    const body = Buffer.from(`{"text":"${'é'.repeat(1024 * 1024)}"}`);
    let requests = 0;
    const raw = createServer((socket) => {
      socket.on('data', async () => {
        requests++;
        if (requests === 2) {
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}');
          return;
        }
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n`);
        await sleep(5);
        socket.write('connection: keep-alive\r\n\r\n');
        for (let at = 0; at < body.length; at += 65_537) {
          socket.write(body.subarray(at, at + 65_537));
          await sleep(1);
        }
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const connection = new HttpConnection('127.0.0.1', (raw.address() as AddressInfo).port, {});
    const concat = vi.spyOn(Buffer, 'concat');
    try {
      const large = await connection.post('/merge', {});
      expect(large.status).toBe(200);
      expect(large.body).toBe(body.toString('utf8'));
      // Once for the head's two pieces, once for the body's 33: not once per piece.
      expect(concat.mock.calls.length).toBeLessThanOrEqual(2);
      expect(await connection.post('/next', {})).toEqual({ status: 200, body: '{}' });
    } finally {
      concat.mockRestore();
      connection.close();
      await new Promise((resolve) => raw.close(resolve));
    }
  });

  it('refuses an answer without a content-length (chunked)', async () => {
    const { port } = await serve((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part');
      res.end();
    });
    const connection = new HttpConnection('127.0.0.1', port, {});
    await expect(connection.post('/a', {})).rejects.toThrow('answer 200 without a content-length');
    connection.close();
  });
});
