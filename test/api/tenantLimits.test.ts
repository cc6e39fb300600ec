import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { ApiClient } from '../../src/cli/client/api.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { Metrics } from '../../src/coordinator/metrics.js';
import { DEFAULT_TENANT_LIMITS, type TenantLimits } from '../../src/coordinator/tenantLimits.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const ADMIN = 'admin-secret-admin-secret-0123';
/** cfrWithAudio: 320x240, 90 frames. */
const FRAMES = 90;

describe('tenant limits on the work a submission creates', () => {
  const dir = useTempDir();
  let store: SqliteStore;
  let blobs: LocalBlobStore;
  let video: string;
  const apps: FastifyInstance[] = [];
  const metrics = () => new Metrics({ store });

  beforeAll(async () => {
    store = new SqliteStore(join(dir(), 'state.db'));
    blobs = new LocalBlobStore(join(dir(), 'blobs'));
    video = await cfrWithAudio(dir());
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await store.close();
  });

  /** A coordinator with these limits (the rest default), and a fresh tenant on it. */
  async function coordinator(limits: Partial<TenantLimits> = {}, m = metrics()) {
    const app = buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 5000, maxAttempts: 3 }),
      store,
      adminToken: ADMIN,
      metrics: m,
      jobs: {
        store,
        blobs,
        parallelism: 8,
        rateLimit: { ratePerSecond: 1000, burst: 1000 },
        limits: { ...DEFAULT_TENANT_LIMITS, ...limits },
        metrics: m,
      },
    });
    apps.push(app);
    const tenant = `t${apps.length}`;
    const token = (await issueToken(store, 'tenant', tenant)).token;
    const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
      app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, payload });
    const res = await call('POST', '/v1/uploads', { name: 'in.mp4', size: statSync(video).size });
    const { key, url } = res.json() as { key: string; url: string };
    mkdirSync(dirname(fileURLToPath(url)), { recursive: true });
    copyFileSync(video, fileURLToPath(url));
    const submit = (options: object = {}) =>
      call('POST', '/v1/jobs', { input: key, processors: ['passthrough'], checkpointFrames: 10, ...options });
    return { app, tenant, token, key, call, submit };
  }

  it('refuses tasks of fewer frames than the minimum, however asked for, with one clear line and nothing queued', async () => {
    const { tenant, submit } = await coordinator();
    for (const [options, message] of [
      [{ chunkFrames: 1 }, 'chunkFrames 1 makes tasks of 1 frames: at least 25 frames per task'],
      [{ chunkSeconds: 1e-300 }, 'chunkSeconds 1e-300 makes tasks of 1 frames: at least 25 frames per task'],
      [{ chunkSeconds: 0.5 }, 'chunkSeconds 0.5 makes tasks of 15 frames: at least 25 frames per task'],
    ] as const) {
      const res = await submit(options);
      expect(res.statusCode, JSON.stringify(options)).toBe(400);
      expect(res.json()).toEqual({ error: message, limit: 'chunk_frames' });
    }
    expect(await store.tenantLoad(tenant)).toEqual({ activeJobs: 0, queuedTasks: 0 });
    expect(await store.listJobs({ tenant })).toEqual([]);
    const ok = await submit({ chunkFrames: 25 });
    expect(ok.statusCode).toBe(201);
    expect(await store.tenantLoad(tenant)).toEqual({ activeJobs: 1, queuedTasks: 4 });
  });

  it('rejects chunk sizes that are not finite positive bounded numbers at the schema', async () => {
    const { app, token, key, submit } = await coordinator();
    for (const options of [
      { chunkFrames: 0 },
      { chunkFrames: 1.5 },
      { chunkFrames: 1e12 },
      { chunkSeconds: -1 },
      { chunkSeconds: 1e300 },
    ]) {
      const res = await submit(options);
      expect(res.statusCode, JSON.stringify(options)).toBe(400);
      expect(res.json().error).toBe('invalid request');
    }
    // JSON has no Infinity, but 1e999 parses as one.
    const infinite = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: `{"input":"${key}","processors":["passthrough"],"chunkSeconds":1e999}`,
    });
    expect(infinite.statusCode).toBe(400);
    expect(infinite.json().error).toBe('invalid request');
  });

  it('caps the tasks of one job: asked-for chunks over the cap are refused, planned ones grow to fit', async () => {
    const { submit } = await coordinator({ maxTasks: 3 });
    const refused = await submit({ chunkFrames: 25 });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      error:
        'chunkFrames 25 makes 4 tasks of 90 frames: at most 3 per job (ask for at least 30 frames per task)',
      limit: 'tasks_per_job',
    });
    // Planned for 8 workers, 90 frames would be 8 tasks of 12: at most 3 tasks of at least 25 instead.
    const planned = await submit();
    expect(planned.statusCode).toBe(201);
    const tasks = await store.listTasks(planned.json().id);
    expect(tasks.map((t) => [t.range.start, t.range.end])).toEqual([
      [0, 30],
      [30, 60],
      [60, 90],
    ]);
  });

  it('refuses a job of more pixels (width x height x frames) than the limit', async () => {
    const { submit } = await coordinator({ maxJobPixels: 320 * 240 * FRAMES - 1 });
    const res = await submit();
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: '320x240 x 90 frames is 6.91e+6 pixels: at most 6.91e+6 per job (split the video)',
      limit: 'job_pixels',
    });
  });

  it("bounds a tenant's jobs and tasks under way (429 without Retry-After), not other tenants'", async () => {
    const m = metrics();
    const acme = await coordinator({ maxActiveJobs: 2, maxQueuedTasks: 5 }, m);
    expect((await acme.submit({ chunkFrames: 45 })).statusCode).toBe(201); // 2 tasks
    const second = await acme.submit({ chunkFrames: 30 }); // 3 tasks: 5 in all
    expect(second.statusCode).toBe(201);
    const third = await acme.submit({ chunkFrames: 90 });
    expect(third.statusCode).toBe(429);
    expect(third.headers['retry-after']).toBeUndefined();
    expect(third.json()).toEqual({
      error: '2 of your jobs are under way: at most 2 at once (wait for one to end)',
      limit: 'active_jobs',
    });
    // The real client gives up at once with the coordinator's line (it retries only a rate limit's 429).
    const address = await acme.app.listen({ host: '127.0.0.1', port: 0 });
    const client = new ApiClient({ server: address, token: acme.token });
    await expect(
      client.request('POST', '/v1/jobs', { input: acme.key, processors: ['passthrough'] }),
    ).rejects.toThrow('2 of your jobs are under way: at most 2 at once (wait for one to end) (HTTP 429)');

    // Another tenant on the same coordinator is not held back by acme's load.
    const globex = await coordinator({ maxActiveJobs: 2, maxQueuedTasks: 5 }, m);
    expect((await globex.submit()).statusCode).toBe(201);

    // A canceled job no longer counts; its 3 tasks are gone from the queue: 2 queued + 4 would be 6 > 5.
    expect((await acme.call('POST', `/v1/jobs/${second.json().id}/cancel`)).statusCode).toBe(200);
    const over = await acme.submit({ chunkFrames: 25 });
    expect(over.statusCode).toBe(429);
    expect(over.json()).toEqual({
      error: '2 of your tasks are queued and this job adds 4: at most 5 at once (wait for some to finish)',
      limit: 'queued_tasks',
    });
    expect((await acme.submit({ chunkFrames: 30 })).statusCode).toBe(201);

    const text = await (await acme.app.inject({ method: 'GET', url: '/metrics' })).payload;
    expect(text).toContain('spotfuse_admission_refusals_total{limit="active_jobs"} 2');
    expect(text).toContain('spotfuse_admission_refusals_total{limit="queued_tasks"} 1');
    expect(text).toContain('spotfuse_admission_refusals_total{limit="chunk_frames"} 0');
  });

  it('admits one submission of a tenant at a time: two at once under a cap of one job make one job', async () => {
    const { tenant, submit } = await coordinator({ maxActiveJobs: 1 });
    const results = await Promise.all([submit(), submit(), submit()]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 429, 429]);
    expect((await store.tenantLoad(tenant)).activeJobs).toBe(1);
  });
});
