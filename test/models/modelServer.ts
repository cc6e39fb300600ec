import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  body: Buffer | string;
  /** `cutOnce`: the first GET sends half the body, then drops the connection. */
  behaviour?: 'ranges' | 'cutOnce' | 'ignoreRange';
}

export interface ModelServer {
  url: string;
  files: Map<string, ServedFile>;
  requests: { path: string; range?: string; status: number }[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 serving in-memory files, with Range support unless told otherwise. */
export async function startModelServer(): Promise<ModelServer> {
  const files = new Map<string, ServedFile>();
  const requests: ModelServer['requests'] = [];
  const cut = new Set<string>();

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    const range = req.headers.range;
    const reply = (status: number, headers: Record<string, string | number>, body?: Buffer | string) => {
      requests.push({ path, range, status });
      res.writeHead(status, headers);
      res.end(body);
    };
    const file = files.get(path);
    if (!file) {
      reply(404, {}, 'not found');
      return;
    }
    const body = Buffer.from(file.body);
    if (file.behaviour === 'cutOnce' && !cut.has(path)) {
      cut.add(path);
      requests.push({ path, range, status: 200 });
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, body.length / 2), () => res.socket?.destroy());
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? Number.NaN);
    if (file.behaviour === 'ignoreRange' || Number.isNaN(start)) {
      reply(200, { 'content-length': body.length }, body);
      return;
    }
    if (start >= body.length) {
      reply(416, { 'content-range': `bytes */${body.length}` });
      return;
    }
    reply(
      206,
      {
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      },
      body.subarray(start),
    );
  }

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    files,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
