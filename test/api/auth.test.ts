import * as crypto from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  adminTokenFromEnv,
  authenticate,
  bearerToken,
  CachedTokenStore,
  generateToken,
  hashToken,
  issueToken,
  requireRole,
  sameSecret,
  tokenRole,
  visibleJob,
  visibleJobsFilter,
} from '../../src/api/auth.js';
import { rateLimit, TokenBuckets } from '../../src/api/rateLimit.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { Metrics } from '../../src/coordinator/metrics.js';
import type { JobSpec } from '../../src/core/types.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import type { Store } from '../../src/store/store.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { createTestDatabase } from '../store/postgresTestDb.js';

// The real functions, watched: the admin comparison must go through timingSafeEqual.
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const ADMIN = 'admin-secret-that-is-long-enough-0123456789';
const spec: JobSpec = {
  input: '/videos/in.mp4',
  sources: [],
  output: '/videos/out.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 10,
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('tokens', () => {
  it('are random, carry their role letter and hash to SHA-256 hex', () => {
    const tokens = Array.from({ length: 200 }, () => generateToken('worker'));
    expect(new Set(tokens).size).toBe(200);
    for (const t of tokens) expect(t).toMatch(/^sf_w_[A-Za-z0-9_-]{43}$/);
    const tenant = generateToken('tenant');
    expect(tenant).toMatch(/^sf_t_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(tenant.slice(5), 'base64url')).toHaveLength(32);
    expect(tokenRole(tokens[0])).toBe('worker');
    expect(tokenRole(tenant)).toBe('tenant');
    expect(tokenRole('sf_x_abc')).toBeUndefined();
    expect(tokenRole(`${tenant}x`)).toBeUndefined();
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('compares the admin token in constant time, on equal-length digests', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    expect(sameSecret(ADMIN, ADMIN)).toBe(true);
    expect(sameSecret('short', ADMIN)).toBe(false);
    expect(sameSecret(`${ADMIN}x`, ADMIN)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(3);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it('reads the bearer token and the admin token from where they are configured', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer ')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(adminTokenFromEnv({})).toBeUndefined();
    expect(adminTokenFromEnv({ SPOTFUSE_ADMIN_TOKEN: ` ${ADMIN} ` })).toBe(ADMIN);
    expect(() => adminTokenFromEnv({ SPOTFUSE_ADMIN_TOKEN: 'short' })).toThrow(/at least 24/);
  });
});

describe('token buckets', () => {
  it('grant the burst, then one request per refill interval, and say how long to wait', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 2, burst: 3 });
    expect([0, 0, 0].map(() => buckets.take('a', 0))).toEqual([0, 0, 0]);
    expect(buckets.take('a', 0)).toBe(500);
    expect(buckets.take('b', 0)).toBe(0);
    expect(buckets.take('a', 200)).toBe(300);
    expect(buckets.take('a', 500)).toBe(0);
    expect(buckets.take('a', 500)).toBe(500);
    // Idle long enough, the bucket is full again, never fuller.
    expect([0, 0, 0, 0].map(() => buckets.take('a', 60_000))).toEqual([0, 0, 0, 500]);
  });

  it('forget idle keys once too many are tracked', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 1, maxKeys: 10 });
    for (let i = 0; i < 10; i++) buckets.take(`k${i}`, 0);
    buckets.take('late', 5_000);
    expect(buckets.size).toBe(1);
    expect(() => new TokenBuckets({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
  });
});

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});

interface Backend {
  name: string;
  skip?: string;
  open(): Promise<{ store: Store; tokenRows(): Promise<Record<string, unknown>[]> }>;
}

const backends: Backend[] = [
  {
    name: 'SqliteStore',
    open: async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-auth-')), 'state.db');
      const store = new SqliteStore(path);
      return {
        store,
        tokenRows: async () => {
          const db = new Database(path, { readonly: true });
          try {
            return db.prepare('SELECT * FROM tokens').all() as Record<string, unknown>[];
          } finally {
            db.close();
          }
        },
      };
    },
  },
  'url' in pgDb
    ? {
        name: 'PostgresStore',
        open: async () => {
          const store = await PostgresStore.open(pgDb.url);
          await pgDb.reset();
          return { store, tokenRows: () => pgDb.query('SELECT * FROM tokens') };
        },
      }
    : {
        name: 'PostgresStore',
        skip: pgDb.unavailable,
        open: () => Promise.reject(new Error(pgDb.unavailable)),
      },
];

for (const backend of backends) {
  const title = `API auth on ${backend.name}${backend.skip ? ` (skipped: ${backend.skip})` : ''}`;
  describe.skipIf(backend.skip !== undefined)(title, () => {
    let store: Store;
    let tokenRows: () => Promise<Record<string, unknown>[]>;
    let app: FastifyInstance;
    let clock = 0;
    let dir: string;

    function api(
      extra: { bodyLimitBytes?: number } = {},
      extend: (app: FastifyInstance) => void = () => {},
    ): FastifyInstance {
      // With metrics, as `spotfuse server` runs it: lease holders are then remembered from their claims.
      const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
        leaseTtlMs: 1000,
        maxAttempts: 3,
        now: () => clock,
        metrics: new Metrics(),
      });
      const built = buildApi({ leases, store, adminToken: ADMIN, now: () => clock, ...extra });
      extend(built);
      return built;
    }

    /** Replaces the app with one that also serves the routes `extend` adds. */
    async function withRoutes(extend: (app: FastifyInstance) => void): Promise<void> {
      await app.close();
      app = api({}, extend);
    }

    beforeEach(async () => {
      clock = 1_000_000;
      dir = mkdtempSync(join(tmpdir(), 'spotfuse-auth-api-'));
      ({ store, tokenRows } = await backend.open());
      app = api();
    });
    afterEach(async () => {
      await app.close();
      await store.close();
    });

    const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, payload?: unknown) =>
      app.inject({ method, url, headers: token ? bearer(token) : {}, payload: payload as object });

    async function newToken(body: { role: string; tenant?: string }): Promise<string> {
      const r = await call('POST', '/v1/tokens', ADMIN, body);
      expect(r.statusCode).toBe(201);
      return r.json().token;
    }

    async function newJob(tenant: string | null = 'acme', chunks = [{ start: 0, end: 20 }]) {
      return store.createJob(
        {
          key: 'k',
          spec,
          probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
          framePts: Array.from({ length: 20 }, (_, i) => i),
          chunks,
          tenant,
        },
        clock,
      );
    }

    it("sets a tenant's cap on running tasks with its token: claims pass over its work at the cap", async () => {
      const r = await call('POST', '/v1/tokens', ADMIN, { role: 'tenant', tenant: 'acme', maxRunning: 1 });
      expect(r.statusCode).toBe(201);
      await newJob('acme', [
        { start: 0, end: 10 },
        { start: 10, end: 20 },
      ]);
      expect(await store.claim({ workerId: 'w1', pool: 'spot', now: clock, leaseTtlMs: 1000 })).toBeDefined();
      expect(
        await store.claim({ workerId: 'w2', pool: 'spot', now: clock, leaseTtlMs: 1000 }),
      ).toBeUndefined();
    });
    it('lets the admin issue tokens whose secret is shown once and stored only as a hash', async () => {
      const r = await call('POST', '/v1/tokens', ADMIN, { role: 'tenant', tenant: 'acme' });
      expect(r.statusCode).toBe(201);
      const issued = r.json() as { id: string; token: string; role: string; tenant: string };
      expect(issued).toMatchObject({ role: 'tenant', tenant: 'acme' });
      expect(issued.token).toMatch(/^sf_t_[A-Za-z0-9_-]{43}$/);
      clock += 1;
      const worker = await newToken({ role: 'worker' });
      expect(worker).toMatch(/^sf_w_/);

      const rows = await tokenRows();
      expect(rows).toHaveLength(2);
      const dump = JSON.stringify(rows);
      for (const secret of [issued.token, worker]) {
        expect(dump).not.toContain(secret);
        expect(dump).not.toContain(secret.slice(5));
        expect(dump).toContain(hashToken(secret));
      }

      const listed = await call('GET', '/v1/tokens', ADMIN);
      expect(listed.statusCode).toBe(200);
      const { tokens } = listed.json() as { tokens: Record<string, unknown>[] };
      expect(tokens.map((t) => t.role)).toEqual(['tenant', 'worker']);
      expect(tokens[0]).toEqual({
        id: issued.id,
        role: 'tenant',
        tenant: 'acme',
        createdAt: clock - 1,
        revokedAt: null,
        lastUsedAt: null,
      });
      expect(JSON.stringify(tokens)).not.toContain(hashToken(worker));
    });

    it('answers 401 without a valid token and 403 for the wrong role', async () => {
      const worker = await newToken({ role: 'worker' });
      const tenant = await newToken({ role: 'tenant', tenant: 'acme' });
      // Only the admin manages tokens.
      for (const token of [worker, tenant]) {
        const r = await call('POST', '/v1/tokens', token, { role: 'worker' });
        expect(r.statusCode).toBe(403);
        expect(r.json()).toEqual({ error: 'requires an admin token' });
        expect((await call('GET', '/v1/tokens', token)).statusCode).toBe(403);
      }
      expect((await call('POST', '/v1/tokens', undefined, { role: 'worker' })).json()).toEqual({
        error: 'missing token',
      });
      for (const token of ['nope', generateToken('worker'), `${ADMIN}x`, worker.replace('sf_w_', 'sf_t_')]) {
        const r = await call('POST', '/v1/tokens', token, { role: 'worker' });
        expect(r.statusCode).toBe(401);
        expect(r.json()).toEqual({ error: 'invalid token' });
        expect(r.headers['www-authenticate']).toBe('Bearer');
      }
      // A tenant cannot claim work; a worker and the admin can.
      await newJob();
      const denied = await call('POST', '/v1/claim', tenant, { protocol: LEASE_PROTOCOL, workerId: 'w' });
      expect(denied.statusCode).toBe(403);
      expect(denied.json()).toEqual({ error: 'requires a worker or admin token' });
      expect(
        (await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w' })).statusCode,
      ).toBe(200);
      expect(
        (await call('POST', '/v1/claim', ADMIN, { protocol: LEASE_PROTOCOL, workerId: 'w' })).statusCode,
      ).toBe(204);
      expect((await store.listTokens()).find((t) => t.role === 'worker')?.lastUsedAt).toBe(clock);
    });

    it('refuses a revoked token on its very next request', async () => {
      const worker = await newToken({ role: 'worker' });
      expect(
        (await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w' })).statusCode,
      ).toBe(204);
      const [{ id }] = await store.listTokens();
      clock += 5;
      expect((await call('DELETE', `/v1/tokens/${id}`, ADMIN)).statusCode).toBe(204);
      const r = await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w' });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({ error: 'invalid token' });
      expect((await store.listTokens())[0].revokedAt).toBe(clock);
      expect((await call('DELETE', '/v1/tokens/tok_0000000000000000', ADMIN)).statusCode).toBe(404);
      expect((await call('DELETE', `/v1/tokens/${id}`, worker)).statusCode).toBe(401);
    });

    it('validates every body with a JSON 400 and bounds its size', async () => {
      for (const body of [
        {},
        { role: 'admin' },
        { role: 'tenant' },
        { role: 'tenant', tenant: '' },
        { role: 'tenant', tenant: 'has spaces' },
        { role: 'tenant', tenant: 'x'.repeat(65) },
        { role: 'worker', tenant: 'acme' },
        { role: 'worker', extra: 1 },
        { role: 'worker', share: 2 },
        { role: 'tenant', tenant: 'acme', share: 0 },
        { role: 'tenant', tenant: 'acme', maxRunning: 1.5 },
      ]) {
        const r = await call('POST', '/v1/tokens', ADMIN, body);
        expect(r.statusCode, JSON.stringify(body)).toBe(400);
        expect(r.json().error).toBe('invalid request');
      }
      const garbage = await app.inject({
        method: 'POST',
        url: '/v1/tokens',
        payload: '{nope',
        headers: { ...bearer(ADMIN), 'content-type': 'application/json' },
      });
      expect(garbage.statusCode).toBe(400);
      const worker = await newToken({ role: 'worker' });
      expect(
        (await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 7 })).statusCode,
      ).toBe(400);
      expect(
        (await call('POST', '/v1/tasks/x/heartbeat', worker, { epoch: -1, framesDone: 0 })).statusCode,
      ).toBe(400);

      await app.close();
      app = api({ bodyLimitBytes: 1024 });
      const big = { workerId: 'w', pad: 'x'.repeat(2048) };
      expect((await call('POST', '/v1/claim', worker, big)).statusCode).toBe(413);
      // Without a token the body is never read: 401, not 413.
      expect((await call('POST', '/v1/claim', undefined, big)).statusCode).toBe(401);
    });

    it('fences a worker presenting a stale epoch with 409', async () => {
      const worker = await newToken({ role: 'worker' });
      await newJob();
      const first = (
        await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1' })
      ).json() as ClaimResponse;
      const id = first.task.id;
      clock += 5000;
      await store.expireLeases(clock);
      const second = (
        await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w2' })
      ).json() as ClaimResponse;
      expect(second.task).toMatchObject({ id, epoch: 2 });
      for (const [path, body] of [
        ['heartbeat', { epoch: 1, framesDone: 1 }],
        ['segment-url', { epoch: 1, startFrame: 0 }],
        ['checkpoint', { epoch: 1, startFrame: 0, endFrame: 10, key: 'k' }],
        ['complete', { epoch: 1 }],
        ['release', { epoch: 1, reason: 'error' }],
      ] as const) {
        const r = await call('POST', `/v1/tasks/${id}/${path}`, worker, body);
        expect(r.statusCode, path).toBe(409);
        expect(r.json()).toEqual({ error: 'stale' });
      }
      expect(
        (await call('POST', `/v1/tasks/${id}/heartbeat`, worker, { epoch: 2, framesDone: 1 })).statusCode,
      ).toBe(200);
    });

    it('lets a worker touch only the blobs of the task its token holds the lease on', async () => {
      const mine = await newToken({ role: 'worker' });
      const other = await newToken({ role: 'worker' });
      await newJob('acme', [
        { start: 0, end: 10 },
        { start: 10, end: 20 },
      ]);
      const claim = (
        await call('POST', '/v1/claim', mine, { protocol: LEASE_PROTOCOL, workerId: 'w1' })
      ).json() as ClaimResponse;
      const id = claim.task.id;
      const unclaimed = id.replace(/t0000$/, 't0001');
      expect(unclaimed).not.toBe(id);
      // A task nobody holds: no upload URL, no checkpoint, whatever the epoch.
      for (const epoch of [0, 1]) {
        expect(
          (await call('POST', `/v1/tasks/${unclaimed}/segment-url`, mine, { epoch, startFrame: 10 }))
            .statusCode,
        ).toBe(409);
      }
      const foreignKey = `jobs/${claim.task.jobId}/segments/${unclaimed}-e0-f00000010.mp4`;
      expect(
        (
          await call('POST', `/v1/tasks/${unclaimed}/checkpoint`, mine, {
            epoch: 0,
            startFrame: 10,
            endFrame: 20,
            key: foreignKey,
          })
        ).statusCode,
      ).toBe(409);

      // Another worker token that knows the task id and the current epoch still gets nothing.
      const theirs = [
        ['segment-url', { epoch: 1, startFrame: 0 }],
        ['heartbeat', { epoch: 1, framesDone: 1 }],
        [
          'checkpoint',
          {
            epoch: 1,
            startFrame: 0,
            endFrame: 10,
            key: `jobs/${claim.task.jobId}/segments/${id}-e1-f00000000.mp4`,
          },
        ],
        ['release', { epoch: 1, reason: 'error' }],
        ['complete', { epoch: 1 }],
        ['output-upload', { epoch: 1, size: 10 }],
        ['output-complete', { epoch: 1, uploadId: 'u', etags: ['"e"'] }],
      ] as const;
      for (const [path, body] of theirs) {
        const r = await call('POST', `/v1/tasks/${id}/${path}`, other, body);
        expect(r.statusCode, path).toBe(409);
      }
      expect((await store.getTask(id))?.state).toBe('running');
      expect((await store.listSegments(claim.task.jobId)).length).toBe(0);

      // The holder can; a retried complete stays idempotent.
      const url = await call('POST', `/v1/tasks/${id}/segment-url`, mine, { epoch: 1, startFrame: 0 });
      expect(url.statusCode).toBe(200);
      const { key } = url.json() as { key: string };
      const seg = { epoch: 1, startFrame: 0, endFrame: 10, key };
      expect((await call('POST', `/v1/tasks/${id}/checkpoint`, mine, seg)).statusCode).toBe(200);
      expect((await call('POST', `/v1/tasks/${id}/complete`, mine, { epoch: 1 })).statusCode).toBe(200);
      expect((await call('POST', `/v1/tasks/${id}/complete`, mine, { epoch: 1 })).statusCode).toBe(200);
      const [attempt] = await store.listAttempts(claim.task.jobId);
      expect(attempt.workerId).toMatch(/^tok_[0-9a-f]{16}:w1$/);
    });

    it("shows a tenant only its own jobs, and another tenant's job is a 404", async () => {
      // Stand-ins for the tenant job routes, built from the same pieces.
      await withRoutes((a) => {
        a.get('/v1/jobs/:id', { onRequest: requireRole('tenant', 'admin') }, async (request, reply) => {
          const found = await visibleJob(store, request.principal!, (request.params as { id: string }).id);
          return found
            ? { id: found.id, tenant: found.tenant }
            : reply.code(404).send({ error: 'no such job' });
        });
        a.get('/v1/jobs', { onRequest: requireRole('tenant', 'admin') }, async (request) => {
          const filter = visibleJobsFilter(request.principal!);
          return { jobs: filter ? (await store.listJobs(filter)).map((j) => j.id) : [] };
        });
      });
      const acme = await newToken({ role: 'tenant', tenant: 'acme' });
      const globex = await newToken({ role: 'tenant', tenant: 'globex' });
      const worker = await newToken({ role: 'worker' });
      const job = await newJob('acme');
      const embedded = await newJob(null);
      expect((await call('GET', `/v1/jobs/${job.id}`, acme)).json()).toEqual({ id: job.id, tenant: 'acme' });
      const theirs = await call('GET', `/v1/jobs/${job.id}`, globex);
      expect(theirs.statusCode).toBe(404);
      expect(theirs.json()).toEqual((await call('GET', '/v1/jobs/job_missing', globex)).json());
      expect((await call('GET', `/v1/jobs/${embedded.id}`, acme)).statusCode).toBe(404);
      expect((await call('GET', `/v1/jobs/${embedded.id}`, ADMIN)).statusCode).toBe(200);
      expect((await call('GET', `/v1/jobs/${job.id}`, worker)).statusCode).toBe(403);
      expect((await call('GET', '/v1/jobs', acme)).json()).toEqual({ jobs: [job.id] });
      expect((await call('GET', '/v1/jobs', globex)).json()).toEqual({ jobs: [] });
      expect((await call('GET', '/v1/jobs', ADMIN)).json().jobs).toHaveLength(2);
      expect(visibleJobsFilter({ role: 'worker' })).toBeUndefined();
    });

    it('rate-limits submissions per token with 429 and Retry-After, and recovers', async () => {
      await withRoutes((a) => {
        a.post(
          '/v1/submit-test',
          {
            onRequest: requireRole('tenant'),
            preHandler: rateLimit({ ratePerSecond: 0.5, burst: 3, now: () => clock }),
          },
          async () => ({ ok: true }),
        );
      });
      const acme = await newToken({ role: 'tenant', tenant: 'acme' });
      const globex = await newToken({ role: 'tenant', tenant: 'globex' });
      const submit = (token: string) => call('POST', '/v1/submit-test', token, {});
      for (let i = 0; i < 3; i++) expect((await submit(acme)).statusCode).toBe(200);
      const limited = await submit(acme);
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['retry-after']).toBe('2');
      expect(limited.json()).toEqual({ error: 'rate limit exceeded' });
      // Buckets are per token.
      expect((await submit(globex)).statusCode).toBe(200);
      clock += 1000;
      expect((await submit(acme)).headers['retry-after']).toBe('1');
      clock += 1000;
      expect((await submit(acme)).statusCode).toBe(200);
      expect((await submit(acme)).statusCode).toBe(429);
      clock += 60_000;
      for (let i = 0; i < 3; i++) expect((await submit(acme)).statusCode).toBe(200);
    });
  });
}

describe('authenticate', () => {
  it('tells missing tokens from invalid ones (unknown and revoked alike) and the admin, and never looks up malformed ones', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'spotfuse-authn-')), 'state.db'));
    try {
      const find = vi.spyOn(store, 'findTokenByHash');
      expect(await authenticate(store, undefined, ADMIN)).toEqual({ error: 'missing token' });
      expect(await authenticate(store, ADMIN, ADMIN)).toEqual({ principal: { role: 'admin' } });
      expect(await authenticate(store, ADMIN, undefined)).toEqual({ error: 'invalid token' });
      expect(await authenticate(store, 'garbage', ADMIN)).toEqual({ error: 'invalid token' });
      expect(find).not.toHaveBeenCalled();
      const { token, record } = await issueToken(store, 'tenant', 'acme', 5);
      expect(await authenticate(store, token, ADMIN, 6)).toEqual({
        principal: { role: 'tenant', tenant: 'acme', tokenId: record.id },
      });
      expect(await authenticate(store, generateToken('tenant'), ADMIN)).toEqual({ error: 'invalid token' });
      await store.revokeToken(record.id, 7);
      expect(await authenticate(store, token, ADMIN)).toEqual({ error: 'invalid token' });
      await expect(issueToken(store, 'tenant')).rejects.toThrow(RangeError);
    } finally {
      await store.close();
    }
  });

  it('serves repeated lookups from the token cache, forgets a token revoked through it, caches no misses', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'spotfuse-authcache-')), 'state.db'));
    try {
      const find = vi.spyOn(store, 'findTokenByHash');
      const touch = vi.spyOn(store, 'touchToken');
      const cache = new CachedTokenStore(store, 60_000);
      const { token, record } = await issueToken(cache, 'worker', undefined, 1);
      for (let i = 0; i < 5; i++) {
        expect(await authenticate(cache, token, ADMIN, 10 + i)).toEqual({
          principal: { role: 'worker', tokenId: record.id },
        });
      }
      expect(find).toHaveBeenCalledTimes(1);
      expect(touch).toHaveBeenCalledTimes(1);
      expect((await store.listTokens())[0].lastUsedAt).toBe(10);
      // Marked used again once the touch interval has passed.
      await authenticate(cache, token, ADMIN, 10 + 61_000);
      expect(touch).toHaveBeenCalledTimes(2);

      const unknown = generateToken('worker');
      for (let i = 0; i < 3; i++)
        expect(await authenticate(cache, unknown, ADMIN)).toEqual({ error: 'invalid token' });
      expect(find).toHaveBeenCalledTimes(4);

      expect(await cache.revokeToken(record.id, 100_000)).toBe(true);
      expect(await authenticate(cache, token, ADMIN)).toEqual({ error: 'invalid token' });
    } finally {
      await store.close();
    }
  });

  it('looks a token up once for all the requests that arrive while its cache entry is refreshed', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'spotfuse-authcache-')), 'state.db'));
    try {
      const find = vi.spyOn(store, 'findTokenByHash');
      // A zero lifetime: every lookup after the first finds its entry expired.
      const cache = new CachedTokenStore(store, 0);
      const { token, record } = await issueToken(cache, 'worker', undefined, 1);
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => authenticate(cache, token, ADMIN, 2)),
      );
      expect(answers.every((a) => 'principal' in a && a.principal.tokenId === record.id)).toBe(true);
      expect(find).toHaveBeenCalledTimes(1);
      // A lookup that overlaps a revocation is not kept: the next request sees the token revoked.
      const lasting = new CachedTokenStore(store, 60_000);
      let revoked = () => {};
      const revocation = new Promise<void>((resolve) => {
        revoked = resolve;
      });
      const found = await store.findTokenByHash(hashToken(token));
      // The store read the token before the revocation and answers after it.
      find.mockImplementationOnce(async () => {
        await revocation;
        return found;
      });
      const overlapping = lasting.findTokenByHash(hashToken(token));
      await lasting.revokeToken(record.id, 3);
      revoked();
      expect((await overlapping)?.id).toBe(record.id);
      expect(await authenticate(lasting, token, ADMIN, 4)).toEqual({ error: 'invalid token' });
    } finally {
      await store.close();
    }
  });

  it('keeps the embedded single worker token working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-embedded-'));
    const store = new SqliteStore(join(dir, 'state.db'));
    const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
      leaseTtlMs: 1000,
      maxAttempts: 3,
    });
    const app = buildApi({ leases, workerToken: 'local-worker-token' });
    try {
      const claim = await app.inject({
        method: 'POST',
        url: '/v1/claim',
        payload: { protocol: LEASE_PROTOCOL, workerId: 'w' },
        headers: bearer('local-worker-token'),
      });
      expect(claim.statusCode).toBe(204);
      // No token store: no token management either.
      const tokens = await app.inject({
        method: 'GET',
        url: '/v1/tokens',
        headers: bearer('local-worker-token'),
      });
      expect(tokens.statusCode).toBe(404);
      expect(() => buildApi({ leases })).toThrow(/needs a worker token/);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
