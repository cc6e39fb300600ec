import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What `standardwebhooks` made of it; undefined when the signature did not verify. */
  verified: unknown;
  status: number;
}

export interface Receiver {
  url: string;
  received: ReceivedWebhook[];
  /** Deliveries answered 2xx and verified. */
  accepted(): ReceivedWebhook[];
  close(): Promise<void>;
}

/**
 * A webhook receiver on loopback that verifies each delivery with the `standardwebhooks` library, as a
 * user's would. `answer(n)` picks the status of the n-th request (0-based); default 200.
 */
export async function startReceiver(
  secret: () => Promise<string> | string,
  answer: (n: number) => number = () => 200,
): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified: unknown;
      try {
        verified = new Webhook(await secret()).verify(body, req.headers as Record<string, string>);
      } catch {
        verified = undefined;
      }
      const status = verified === undefined ? 401 : answer(received.length);
      received.push({ id: String(req.headers['webhook-id']), headers: req.headers, body, verified, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    accepted: () => received.filter((r) => r.verified !== undefined && r.status < 300),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
