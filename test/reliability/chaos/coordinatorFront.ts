import { createServer, request } from 'node:http';

/**
 * What a worker sees of the coordinator: a load balancer over the replicas (round robin; a replica that
 * is down answers 502, as a real balancer does), that can drop the worker's heartbeats (the requests
 * vanish: their connection is reset before they reach a replica) while its other calls go through.
 */
export interface CoordinatorFront {
  address: string;
  /** Heartbeat requests dropped so far. */
  dropped(): number;
  dropHeartbeats(drop: boolean): void;
  close(): Promise<void>;
}

export async function startCoordinatorFront(replicas: () => readonly string[]): Promise<CoordinatorFront> {
  let drop = false;
  let dropped = 0;
  let turn = 0;
  const server = createServer((req, res) => {
    if (drop && /\/heartbeat$/.test(req.url ?? '')) {
      dropped++;
      return void req.socket.resetAndDestroy();
    }
    const all = replicas();
    const target = new URL(req.url ?? '/', all[turn++ % all.length]);
    const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"replica unreachable"}');
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `http://127.0.0.1:${port}`,
    dropped: () => dropped,
    dropHeartbeats(next) {
      drop = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
