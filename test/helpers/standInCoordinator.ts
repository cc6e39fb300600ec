import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A call a stand-in coordinator was sent. */
export interface StandInCall {
  method: string;
  path: string;
  /** Its JSON body; undefined without one. */
  body: Record<string, unknown> | undefined;
  /** When it arrived (Date.now()). */
  at: number;
}

export interface StandInCoordinator {
  address: string;
  calls: StandInCall[];
  /** Stops listening: later calls are refused (ECONNREFUSED). */
  close(): Promise<void>;
}

/** A coordinator on loopback that answers each call with what `answer` says; the calls it was sent. */
export async function standInCoordinator(
  answer: (call: StandInCall) => { status: number; body?: unknown },
): Promise<StandInCoordinator> {
  const calls: StandInCall[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const call = {
      method: request.method ?? '',
      path: request.url ?? '',
      body: text === '' ? undefined : JSON.parse(text),
      at: Date.now(),
    };
    calls.push(call);
    const { status, body } = answer(call);
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    async close() {
      server.closeAllConnections();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}
