import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { serviceUnavailable } from '../../src/coordinator/unavailable.js';
import { ProtocolError } from '../../src/core/errors.js';
import { LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';

const TOKEN = 'error-handler-token';

/**
 * Which errors are the caller's: validation errors and ProtocolErrors answer 4xx with their message;
 * anything else, a RangeError from a bug included, is a 500 logged with the request id.
 */
describe('API error handler', () => {
  const logged: Record<string, unknown>[] = [];
  let store: SqliteStore;
  let app: ReturnType<typeof buildApi>;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-errors-'));
    store = new SqliteStore(join(dir, 'state.db'));
    const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
      leaseTtlMs: 1000,
      maxAttempts: 1,
    });
    const logger = pino({ base: undefined }, { write: (line: string) => logged.push(JSON.parse(line)) });
    app = buildApi({ leases, workerToken: TOKEN, logger });
    app.get('/throws/range', async () => {
      throw new RangeError('index out of range: a bug');
    });
    app.get('/throws/protocol', async () => {
      throw new ProtocolError('segment 10-20 does not continue task t at frame 0');
    });
    app.get('/throws/db-shutdown', async () => {
      // What node-postgres throws when the server is shutting down (SQLSTATE 57P01 admin_shutdown).
      throw Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      });
    });
    app.get('/throws/protocol-conflict', async () => {
      throw new ProtocolError('that segment was recorded already', 409);
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers a stray RangeError with a 500 and logs it with the request id', async () => {
    const res = await app.inject({ method: 'GET', url: '/throws/range' });
    expect(res.statusCode).toBe(500);
    const body = res.json() as { error: string; requestId: string };
    expect(body.error).toBe('internal error');
    expect(JSON.stringify(body)).not.toContain('a bug');
    const line = logged.find((l) => l.reqId === body.requestId);
    expect(line).toMatchObject({
      statusCode: 500,
      route: '/throws/range',
      err: { message: 'index out of range: a bug' },
    });
  });

  it('answers a ProtocolError with its status and message', async () => {
    const bad = await app.inject({ method: 'GET', url: '/throws/protocol' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'segment 10-20 does not continue task t at frame 0' });
    const conflict = await app.inject({ method: 'GET', url: '/throws/protocol-conflict' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toEqual({ error: 'that segment was recorded already' });
  });

  it("keeps Fastify's own client errors: an oversized body is a 413", async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/claim',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ protocol: LEASE_PROTOCOL, workerId: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
  });

  it('answers 503 with Retry-After while the database is unreachable, so that the call is retried', async () => {
    const shutdown = await app.inject({ method: 'GET', url: '/throws/db-shutdown' });
    expect(shutdown.statusCode).toBe(503);
    expect(shutdown.headers['retry-after']).toBe('1');
    expect(shutdown.json().error).toBe('the database is unreachable; try again');

    // A PostgreSQL store whose server is not there (a closed port): a worker's claim meets ECONNREFUSED.
    const gone = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/none', max: 1 });
    const leases = new LeaseService(
      gone,
      new LocalBlobStore(mkdtempSync(join(tmpdir(), 'spotfuse-errors-'))),
      {
        leaseTtlMs: 1000,
        maxAttempts: 1,
      },
    );
    const down = buildApi({ leases, workerToken: TOKEN });
    try {
      const claim = await down.inject({
        method: 'POST',
        url: '/v1/claim',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ protocol: LEASE_PROTOCOL, workerId: 'w' }),
      });
      expect(claim.statusCode).toBe(503);
    } finally {
      await down.close();
      await gone.close();
    }
  });

  it('tells a database that is going away from any other error', () => {
    for (const code of ['57P01', '57P02', '57P03', '08006', '08001', 'ECONNREFUSED', 'ECONNRESET'])
      expect(serviceUnavailable(Object.assign(new Error('x'), { code }))).toBe(true);
    expect(serviceUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['23505', '40001', '42P01', 'ENOENT', undefined])
      expect(serviceUnavailable(Object.assign(new Error('x'), { code }))).toBe(false);
    expect(serviceUnavailable(new RangeError('index out of range'))).toBe(false);
    expect(serviceUnavailable(undefined)).toBe(false);
  });
});
