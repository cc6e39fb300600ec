import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy that can break the service behind it: `fail` resets every open connection and refuses
 * new ones (the server is down), `stall` stops moving bytes both ways (the server hangs) until `pass`
 * again, when the held bytes flow on. It is transparent otherwise: the Host header is the proxy's, so
 * presigned URLs signed for the proxy's address stay valid.
 */
export type ProxyMode = 'pass' | 'fail' | 'stall';

export interface TcpFaultProxy {
  address: string;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  flowing: boolean;
}

function flow(pair: Pair): void {
  if (pair.flowing) return;
  pair.flowing = true;
  pair.client.pipe(pair.upstream);
  pair.upstream.pipe(pair.client);
}

/** Unpiped and paused: what arrives stays in the sockets' buffers until `flow`. */
function hold(pair: Pair): void {
  if (!pair.flowing) return;
  pair.flowing = false;
  pair.client.unpipe(pair.upstream);
  pair.upstream.unpipe(pair.client);
  pair.client.pause();
  pair.upstream.pause();
}

export async function startTcpFaultProxy(target: { host: string; port: number }): Promise<TcpFaultProxy> {
  let mode: ProxyMode = 'pass';
  const pairs = new Set<Pair>();
  const server = createServer((client) => {
    if (mode === 'fail') return void client.resetAndDestroy();
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, upstream, flowing: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (mode === 'pass') flow(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    mode: () => mode,
    setMode(next) {
      mode = next;
      for (const pair of pairs) {
        if (next === 'fail') {
          pair.client.resetAndDestroy();
          pair.upstream.destroy();
        } else if (next === 'stall') hold(pair);
        else flow(pair);
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
