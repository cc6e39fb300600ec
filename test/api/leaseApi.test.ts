import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { parseOnDemandFor } from '../../src/app/clusterServer.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import type { JobSpec } from '../../src/core/types.js';
import {
  type ClaimResponse,
  LEASE_PROTOCOL,
  SEGMENT_READ_URLS_PAGE,
  type SegmentReadUrlsResponse,
} from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';

const TOKEN = 'worker-secret';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('lease API over HTTP', () => {
  let store: SqliteStore;
  let app: FastifyInstance;
  let clock = 0;
  let blobDir: string;

  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-api-'));
    blobDir = join(dir, 'blobs');
    store = new SqliteStore(join(dir, 'state.db'));
    const leases = new LeaseService(store, new LocalBlobStore(blobDir), {
      leaseTtlMs: 1000,
      maxAttempts: 3,
      now: () => clock,
    });
    app = buildApi({ leases, workerToken: TOKEN });
    await store.createJob(
      {
        key: 'k',
        spec: {
          input: '/videos/in.mp4',
          sources: [],
          output: '/videos/out.mp4',
          processors: ['passthrough'],
          face: DEFAULT_FACE_OPTIONS,
          encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
          checkpointFrames: 10,
        },
        probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
        framePts: Array.from({ length: 20 }, (_, i) => i),
        chunks: [{ start: 0, end: 20 }],
      },
      0,
    );
  });
  afterEach(async () => {
    await app.close();
    await store.close();
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });

  it('refuses calls without the worker token', async () => {
    expect((await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w' }, {})).statusCode).toBe(401);
    expect(
      (await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w' }, { authorization: 'Bearer nope' }))
        .statusCode,
    ).toBe(401);
  });

  it('rejects malformed bodies with a JSON 400', async () => {
    const r = await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: '' });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('invalid request');
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/claim',
      payload: '{nope',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('hands no task to a worker of another lease protocol, tells it both versions, and logs the refusal', async () => {
    const lines: Array<Record<string, unknown>> = [];
    await app.close();
    app = buildApi({
      leases: new LeaseService(store, new LocalBlobStore(blobDir), { leaseTtlMs: 1000, maxAttempts: 3 }),
      workerToken: TOKEN,
      logger: pino({ base: undefined }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    });
    for (const protocol of [undefined, 1, LEASE_PROTOCOL + 1]) {
      const refused = await post('/v1/claim', { protocol, workerId: 'w1' });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toEqual({
        error: `this worker speaks lease protocol ${protocol ?? 1} and the coordinator ${LEASE_PROTOCOL}: run workers and coordinator from one spotfuse release`,
        protocol: LEASE_PROTOCOL,
      });
    }
    expect(lines.map(({ level, workerId, protocol, msg }) => ({ level, workerId, protocol, msg }))).toEqual(
      [1, 1, LEASE_PROTOCOL + 1].map((protocol) => ({
        level: 40,
        workerId: 'w1',
        protocol,
        msg: `claim refused: the worker speaks lease protocol ${protocol}, this coordinator ${LEASE_PROTOCOL}`,
      })),
    );
    expect((await store.listTasks((await store.listJobs())[0].id)).map((t) => t.state)).toEqual(['pending']);
    const claimed = await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1' });
    expect((claimed.json() as ClaimResponse).protocol).toBe(LEASE_PROTOCOL);
  });

  it('runs a task through claim, segment URL, checkpoint and complete, and fences stale epochs', async () => {
    const claimed = await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1' });
    expect(claimed.statusCode).toBe(200);
    const claim = claimed.json() as ClaimResponse;
    expect(claim.task).toMatchObject({ startFrame: 0, endFrame: 20, nextFrame: 0, epoch: 1 });
    expect(claim.framePts).toHaveLength(20);
    expect(claim.inputUrl).toBe('file:///videos/in.mp4');
    expect((await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w2' })).statusCode).toBe(204);

    const id = claim.task.id;
    const url = await post(`/v1/tasks/${id}/segment-url`, { epoch: 1, startFrame: 0 });
    const { key } = url.json() as { key: string };
    expect(key).toMatch(/segments\/.*-e1-f00000000\.mp4$/);
    // A worker may only record the blob it was told to write.
    const foreign = await post(`/v1/tasks/${id}/checkpoint`, {
      epoch: 1,
      startFrame: 0,
      endFrame: 10,
      key: 'jobs/other/x.mp4',
    });
    expect(foreign.statusCode).toBe(409);
    expect(
      (await post(`/v1/tasks/${id}/checkpoint`, { epoch: 1, startFrame: 0, endFrame: 10, key })).statusCode,
    ).toBe(200);

    clock = 5000;
    await store.expireLeases(clock);
    const again = (
      await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w2' })
    ).json() as ClaimResponse;
    expect(again.task).toMatchObject({ nextFrame: 10, epoch: 2 });
    expect(again.framePtsFrom).toBe(9);
    expect(again.framePts).toEqual(Array.from({ length: 11 }, (_, i) => i + 9));

    const stale = await post(`/v1/tasks/${id}/heartbeat`, { epoch: 1, framesDone: 15 });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toEqual({ error: 'stale' });
    expect((await post(`/v1/tasks/${id}/segment-url`, { epoch: 1, startFrame: 10 })).statusCode).toBe(409);
    expect((await post(`/v1/tasks/${id}/heartbeat`, { epoch: 2, framesDone: 3 })).statusCode).toBe(200);
    const gap = await post(`/v1/tasks/${id}/complete`, { epoch: 2 });
    expect(gap.statusCode).toBe(400);

    const key2 = (
      (await post(`/v1/tasks/${id}/segment-url`, { epoch: 2, startFrame: 10 })).json() as { key: string }
    ).key;
    expect(
      (await post(`/v1/tasks/${id}/checkpoint`, { epoch: 2, startFrame: 10, endFrame: 20, key: key2 }))
        .statusCode,
    ).toBe(200);
    expect((await post(`/v1/tasks/${id}/complete`, { epoch: 2 })).statusCode).toBe(200);

    const merge = (
      await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w3' })
    ).json() as ClaimResponse;
    expect(merge.task.kind).toBe('merge');
    expect(merge.merge?.outputUrl).toBe('file:///videos/out.mp4');
    expect(merge.merge?.segments.map((s) => s.durationMicros)).toEqual([333333, 333334]);

    // Where to read the segments, asked by the merge's holder in pages: its own job's segments only.
    const keys = merge.merge?.segments.map((s) => s.key) ?? [];
    expect(keys).toEqual([key, key2]);
    const readUrls = (taskId: string, epoch: number, asked: string[]) =>
      post(`/v1/tasks/${taskId}/segment-read-urls`, { epoch, keys: asked });
    const read = await readUrls(merge.task.id, merge.task.epoch, keys);
    expect(read.statusCode).toBe(200);
    expect((read.json() as SegmentReadUrlsResponse).urls).toEqual(
      keys.map((k) => pathToFileURL(join(blobDir, k)).href),
    );
    for (const outside of [
      `${key}/../../../../state.db`,
      'jobs/other/segments/t-e1-f00000000.mp4',
      `${key}x`,
    ]) {
      const refused = await readUrls(merge.task.id, merge.task.epoch, [key, outside]);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toContain(outside);
    }
    const tooMany = Array.from({ length: SEGMENT_READ_URLS_PAGE + 1 }, () => key);
    expect((await readUrls(merge.task.id, merge.task.epoch, tooMany)).statusCode).toBe(400);
    expect((await readUrls(merge.task.id, merge.task.epoch + 1, keys)).statusCode).toBe(409);
    // A process task's holder reads no segments (this one has ended anyway).
    expect((await readUrls(id, 2, keys)).statusCode).toBe(409);
  });

  it('releases as preempted without counting a failure', async () => {
    const claim = (
      await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1' })
    ).json() as ClaimResponse;
    const r = await post(`/v1/tasks/${claim.task.id}/release`, { epoch: 1, reason: 'preempted' });
    expect(r.statusCode).toBe(200);
    const [task] = await store.listTasks(claim.task.jobId);
    expect(task).toMatchObject({ state: 'pending', preemptions: 1, failures: 0 });
    expect((await post(`/v1/tasks/${claim.task.id}/release`, { epoch: 1, reason: 'bogus' })).statusCode).toBe(
      400,
    );
  });

  it('records the instance a claim reports and the GPU readings heartbeats carry, and bounds both', async () => {
    const instance = {
      cloud: 'gcp',
      instanceType: 'g2-standard-8',
      zone: 'us-central1-a',
      lifecycle: 'spot',
    };
    for (const bad of [
      { instanceType: 'g5 xlarge' },
      { zone: 'z'.repeat(101) },
      { zone: '' },
      { lifecycle: 'preemptible' },
      { cloud: 42 },
    ]) {
      const r = await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1', ...instance, ...bad });
      expect(r.statusCode, JSON.stringify(bad)).toBe(400);
    }
    const claim = (
      await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1', ...instance })
    ).json() as ClaimResponse;
    const beat = (body: object) => post(`/v1/tasks/${claim.task.id}/heartbeat`, { epoch: 1, ...body });
    for (const bad of [
      { gpuUtilization: 101 },
      { gpuUtilization: -1 },
      { gpuMemoryUsedMiB: -5 },
      { gpuMemoryUsedMiB: 1.5 },
      { gpuMemoryTotalMiB: 2 ** 40 },
      { gpuUtilization: '50' },
    ]) {
      expect((await beat({ framesDone: 1, ...bad })).statusCode, JSON.stringify(bad)).toBe(400);
    }
    const gpu = { gpuUtilization: 73.5, gpuMemoryUsedMiB: 10240, gpuMemoryTotalMiB: 24576 };
    expect((await beat({ framesDone: 5, fps: 24, ...gpu })).statusCode).toBe(200);
    const [attempt] = await store.listAttempts(claim.task.jobId);
    expect(attempt).toMatchObject({ ...instance, framesDone: 5, fps: 24, ...gpu });
  });

  it('takes the lifecycle from the pool when the claim does not tell it', async () => {
    const claim = (
      await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1', pool: 'on-demand' })
    ).json() as ClaimResponse;
    const [attempt] = await store.listAttempts(claim.task.jobId);
    expect(attempt).toMatchObject({ lifecycle: 'on-demand', instanceType: null, zone: null, cloud: null });
  });

  it('keeps urgent jobs and merges for on-demand workers under --on-demand-for merge,urgent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-api-pools-'));
    const pooled = new SqliteStore(join(dir, 'state.db'));
    const leases = new LeaseService(pooled, new LocalBlobStore(join(dir, 'blobs')), {
      leaseTtlMs: 1000,
      maxAttempts: 3,
      now: () => clock,
      onDemandOnly: parseOnDemandFor('merge, urgent'),
    });
    const api = buildApi({ leases, workerToken: TOKEN });
    try {
      const job = await pooled.createJob(
        {
          key: 'u',
          spec: { ...(await store.listJobs())[0].spec, priority: 'urgent' } as JobSpec,
          probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
          framePts: [0, 1],
          chunks: [{ start: 0, end: 2 }],
        },
        0,
      );
      const claimFor = (pool: string) =>
        api.inject({
          method: 'POST',
          url: '/v1/claim',
          payload: { protocol: LEASE_PROTOCOL, workerId: 'w', pool },
          headers: auth,
        });
      expect((await claimFor('spot')).statusCode).toBe(204);
      const taken = await claimFor('on-demand');
      expect(taken.statusCode).toBe(200);
      expect((taken.json() as ClaimResponse).task.jobId).toBe(job.id);
    } finally {
      await api.close();
      await pooled.close();
    }
  });

  it("hands a FaceFusion job's tasks only to a claim that names the facefusion engine", async () => {
    const native = (
      await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w0' })
    ).json() as ClaimResponse;
    const job = await store.createJob(
      {
        key: 'f',
        spec: { ...(await store.listJobs())[0].spec, engine: { name: 'facefusion', args: [] } },
        probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
        framePts: [0, 1],
        chunks: [{ start: 0, end: 2 }],
      },
      1,
    );
    expect(native.task.jobId).not.toBe(job.id);
    expect((await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1' })).statusCode).toBe(204);
    expect(
      (await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1', engines: ['native'] })).statusCode,
    ).toBe(204);
    for (const engines of [[], ['native', 'gimp']]) {
      const bad = await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId: 'w1', engines });
      expect(bad.statusCode).toBe(400);
    }
    const taken = await post('/v1/claim', {
      protocol: LEASE_PROTOCOL,
      workerId: 'w2',
      engines: ['native', 'facefusion'],
    });
    expect((taken.json() as ClaimResponse).task.jobId).toBe(job.id);
  });

  it('reads the pool policy flag', () => {
    expect(parseOnDemandFor(undefined)).toEqual([]);
    expect(parseOnDemandFor('')).toEqual([]);
    expect(parseOnDemandFor('none')).toEqual([]);
    expect(parseOnDemandFor('merge')).toEqual(['merge']);
    expect(parseOnDemandFor('Urgent,merge,urgent')).toEqual(['urgent', 'merge']);
    expect(() => parseOnDemandFor('merge,spot')).toThrow(/--on-demand-for/);
  });
});
