import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { UserError } from '../../src/core/errors.js';
import { LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_EXECUTION } from '../../src/vision/faceOptions.js';
import { LeaseClient } from '../../src/worker/leaseClient.js';
import { PreemptionNotice } from '../../src/worker/preemption.js';
import { runWorker, type WorkerOptions } from '../../src/worker/workerLoop.js';
import {
  type StandInCall,
  type StandInCoordinator,
  standInCoordinator,
} from '../helpers/standInCoordinator.js';

let running: StandInCoordinator | undefined;

/** A stand-in coordinator, closed after the test. */
async function coordinator(answer: Parameters<typeof standInCoordinator>[0]): Promise<StandInCoordinator> {
  running = await standInCoordinator(answer);
  return running;
}

afterEach(async () => {
  await running?.close();
  running = undefined;
});

/**
 * Runs a worker against `address` until it stops; what it logged, and the error it stopped with. By default
 * an outage ends the worker at its second failed claim, a second later (past the half second it may last;
 * a limit of 0 would end it at its first whenever the clock ticked between the failure and the check).
 */
async function workUntilStopped(
  address: string,
  token = 'secret',
  options: Partial<WorkerOptions> = { unreachableMs: 500 },
): Promise<{ lines: string[]; error: unknown }> {
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-refusals-'));
  const lines: string[] = [];
  const error = await runWorker({
    client: new LeaseClient(address, token),
    workerId: 'w1',
    pool: 'spot',
    workDir: join(dir, 'work'),
    notice: new PreemptionNotice(),
    models: { dir: join(dir, 'models'), catalog: new Map() },
    execution: DEFAULT_EXECUTION,
    instanceWaitMs: 0,
    log: (msg) => lines.push(msg),
    ...options,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { lines, error };
}

it('a worker whose claim is refused (protocol, token, role, request) stops at once with the coordinator’s words', async () => {
  const protocol = `this worker speaks lease protocol ${LEASE_PROTOCOL} and the coordinator ${LEASE_PROTOCOL + 1}: run workers and coordinator from one spotfuse release`;
  for (const [status, body, reason] of [
    [400, { error: protocol, protocol: LEASE_PROTOCOL + 1 }, protocol],
    [401, { error: 'invalid token' }, 'invalid token'],
    [403, { error: 'requires a worker or admin token' }, 'requires a worker or admin token'],
    [
      400,
      { error: 'invalid request', issues: ['workerId: too long', 'pool: spot or on-demand'] },
      'invalid request: workerId: too long; pool: spot or on-demand',
    ],
  ] as const) {
    const { address, calls } = await coordinator(() => ({ status, body }));
    const { lines, error } = await workUntilStopped(address);
    expect(error).toEqual(
      new UserError(`coordinator at ${address} refused the claim (${status}): ${reason}`),
    );
    expect(error).toBeInstanceOf(UserError);
    expect(calls).toEqual([
      {
        method: 'POST',
        path: '/v1/claim',
        body: expect.objectContaining({ protocol: LEASE_PROTOCOL }),
        at: expect.any(Number),
      },
    ]);
    expect(lines).toEqual([]);
    await running?.close();
  }
});

it('a worker with a token the real coordinator does not know stops at its first claim', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-refusals-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
    leaseTtlMs: 5000,
    maxAttempts: 3,
  });
  const app = buildApi({ leases, workerToken: 'secret' });
  try {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const { lines, error } = await workUntilStopped(address, 'mistyped');
    expect(error).toEqual(new UserError(`coordinator at ${address} refused the claim (401): invalid token`));
    expect(lines).toEqual([]);
  } finally {
    await app.close();
    await store.close();
  }
});

it('a worker retries a coordinator that answers 503, as one restarting', async () => {
  const { address, calls } = await coordinator(() => ({
    status: 503,
    body: { error: 'the database is unreachable; try again' },
  }));
  const { lines, error } = await workUntilStopped(address);
  expect((error as Error).message).toMatch(
    /^coordinator unreachable for 0m0[12]s: coordinator answered 503 to \/claim/,
  );
  expect(error).not.toBeInstanceOf(UserError);
  expect(calls.length).toBe(2);
  expect(lines).toEqual([expect.stringMatching(/^coordinator unreachable, retrying for up to 0m01s: /)]);
});

/** When the stand-in coordinator received each call, in ms after the first. */
function arrivals(calls: StandInCall[]): number[] {
  return calls.map((c) => c.at - calls[0].at);
}

it('a worker waits out a coordinator outage, pausing longer after each failed claim, and goes on when it is back', async () => {
  const { address, calls } = await coordinator(() =>
    calls.length <= 3
      ? { status: 503, body: { error: 'the database is unreachable; try again' } }
      : { status: 204 },
  );
  // Idle at its first empty claim: the worker ends by itself once the coordinator answers.
  const { lines, error } = await workUntilStopped(address, 'secret', { exitWhenIdleMs: 0 });
  expect(error).toBeUndefined();
  expect(lines).toEqual([
    expect.stringMatching(/^coordinator unreachable, retrying for up to 10m00s: coordinator answered 503/),
    expect.stringMatching(/^coordinator reachable again after 0m0[789]s$/),
  ]);
  // Pauses of 1, 2 and 4 s between the claims (timers never fire early; how late they fire is not asserted).
  const [, second, third, fourth] = arrivals(calls);
  expect(calls).toHaveLength(4);
  expect(second).toBeGreaterThanOrEqual(1000);
  expect(third - second).toBeGreaterThanOrEqual(2000);
  expect(fourth - third).toBeGreaterThanOrEqual(4000);
});

it('a worker gives up on a coordinator out of reach for longer than --unreachable-limit, and says for how long', async () => {
  const { address, calls } = await coordinator(() => ({ status: 502, body: { error: 'bad gateway' } }));
  const { lines, error } = await workUntilStopped(address, 'secret', { unreachableMs: 2400 });
  // Claims at 0, 1 and 3 s: the third fails past the limit.
  expect(calls).toHaveLength(3);
  expect((error as Error).message).toMatch(/^coordinator unreachable for 0m0[34]s: coordinator answered 502/);
  expect(lines).toEqual([expect.stringMatching(/^coordinator unreachable, retrying for up to 0m02s: /)]);
});

it('a worker names the coordinator it cannot reach and why', async () => {
  const { address, close } = await coordinator(() => ({ status: 204 }));
  await close();
  const { lines, error } = await workUntilStopped(address);
  expect((error as Error).message).toMatch(
    new RegExp(
      `^coordinator unreachable for 0m0[12]s: cannot reach the coordinator at ${address}: ECONNREFUSED$`,
    ),
  );
  expect(lines).toHaveLength(1);
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
