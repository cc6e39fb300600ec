import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { DEFAULT_EXECUTION } from '../../src/vision/faceOptions.js';
import { LeaseClient } from '../../src/worker/leaseClient.js';
import { PreemptionNotice } from '../../src/worker/preemption.js';
import { runWorker } from '../../src/worker/workerLoop.js';

/** A coordinator of another release, on loopback: what it was asked, and its answers by path. */
interface Call {
  path: string;
  body: Record<string, unknown>;
}
let server: Server | undefined;

async function coordinator(
  answer: (call: Call) => { status: number; body?: unknown },
): Promise<{ address: string; calls: Call[] }> {
  const calls: Call[] = [];
  server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const call = { path: request.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) };
    calls.push(call);
    const { status, body } = answer(call);
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

afterEach(async () => {
  server?.close();
  server = undefined;
});

it('a worker refused for its protocol stops at once with the coordinator’s words, not retrying as if it were unreachable', async () => {
  const refusal = `this worker speaks lease protocol ${LEASE_PROTOCOL} and the coordinator ${LEASE_PROTOCOL + 1}: run workers and coordinator from one spotfuse release`;
  const { address, calls } = await coordinator(() => ({
    status: 400,
    body: { error: refusal, protocol: LEASE_PROTOCOL + 1 },
  }));
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-protocol-'));
  const lines: string[] = [];
  const run = runWorker({
    client: new LeaseClient(address, 'secret'),
    workerId: 'w1',
    pool: 'spot',
    workDir: join(dir, 'work'),
    notice: new PreemptionNotice(),
    models: { dir: join(dir, 'models'), catalog: new Map() },
    execution: DEFAULT_EXECUTION,
    instanceWaitMs: 0,
    // Were the refusal taken for an outage, the second failed claim would end the worker as unreachable.
    unreachableMs: 0,
    log: (msg) => lines.push(msg),
  });
  await expect(run).rejects.toThrow(new UserError(`coordinator: ${refusal}`));
  expect(calls).toEqual([{ path: '/v1/claim', body: expect.objectContaining({ protocol: LEASE_PROTOCOL }) }]);
  expect(lines.filter((l) => l.includes('unreachable'))).toEqual([]);
});

it('a claim handed over by a coordinator older than the protocol check is released at once, then the worker stops', async () => {
  const task = {
    id: 'j1-t0000',
    jobId: 'j1',
    kind: 'merge',
    startFrame: 0,
    endFrame: 10,
    nextFrame: 0,
    epoch: 3,
  };
  const { address, calls } = await coordinator((call) =>
    call.path === '/v1/claim'
      ? { status: 200, body: { leaseTtlMs: 60_000, task, merge: { segments: [{ url: 'http://x/s.mp4' }] } } }
      : { status: 200, body: { ok: true } },
  );
  const claim = new LeaseClient(address, 'secret').claim('w1', 'spot');
  await expect(claim).rejects.toThrow(
    new UserError(
      `this worker speaks lease protocol ${LEASE_PROTOCOL} and the coordinator 1: run workers and coordinator from one spotfuse release`,
    ),
  );
  expect(calls.map((c) => c.path)).toEqual(['/v1/claim', '/v1/tasks/j1-t0000/release']);
  expect(calls[1].body).toEqual({ epoch: 3, reason: 'preempted' });
});
