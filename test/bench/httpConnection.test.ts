import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
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
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
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
