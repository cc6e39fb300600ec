import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dirname } from 'node:path/posix';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { JobQueries } from '../../src/coordinator/jobQueries.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { loadPriceTable } from '../../src/cost/prices.js';
import type { FleetView, JobListResponse, JobTimeline, SavingsView } from '../../src/protocol/jobViews.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const ADMIN = 'admin-secret-admin-secret-0123';

/** The routes the dashboard reads beyond the CLI's: jobs with their progress, and a job's timeline. */
describe('dashboard API', () => {
  const dir = useTempDir();
  let store: SqliteStore;
  let app: FastifyInstance;
  let acme: string;
  let globex: string;
  let worker: string;
  let jobId: string;
  let inputKey: string;

  const call = (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  beforeAll(async () => {
    store = new SqliteStore(join(dir(), 'state.db'));
    const blobs = new LocalBlobStore(join(dir(), 'blobs'));
    const leases = new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 3 });
    app = buildApi({
      leases,
      store,
      adminToken: ADMIN,
      jobs: { store, blobs, parallelism: 2, rateLimit: { ratePerSecond: 1000, burst: 1000 } },
      fleet: { store },
    });
    acme = (await issueToken(store, 'tenant', 'acme')).token;
    globex = (await issueToken(store, 'tenant', 'globex')).token;
    worker = (await issueToken(store, 'worker')).token;
    const video = await cfrWithAudio(dir());
    const upload = (
      await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: statSync(video).size })
    ).json();
    const target = fileURLToPath(upload.url);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(video, target);
    inputKey = upload.key;
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: upload.key,
      processors: ['passthrough'],
      chunkFrames: 30,
    });
    expect(submitted.statusCode).toBe(201);
    jobId = submitted.json().id;

    // w1 on a spot machine is preempted; w2 takes the task over and reports 10 frames/s at frame 5.
    const machine = { cloud: 'aws', instanceType: 'g5.xlarge', zone: 'us-east-1a', lifecycle: 'spot' };
    const first = (
      await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1', ...machine })
    ).json() as ClaimResponse;
    await call('POST', `/v1/tasks/${first.task.id}/release`, worker, {
      epoch: first.task.epoch,
      reason: 'preempted',
    });
    const second = (
      await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w2', ...machine })
    ).json() as ClaimResponse;
    expect(second.task.id).toBe(first.task.id);
    const beat = await call('POST', `/v1/tasks/${second.task.id}/heartbeat`, worker, {
      epoch: second.task.epoch,
      framesDone: 5,
      fps: 10,
    });
    expect(beat.statusCode).toBe(200);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('lists jobs with frames done, fps, ETA, interruptions and cost on ?progress=true only', async () => {
    const plain = (await call('GET', '/v1/jobs', acme)).json() as JobListResponse;
    expect(plain.jobs[0].progress).toBeUndefined();
    const { jobs } = (await call('GET', '/v1/jobs?progress=true', acme)).json() as JobListResponse;
    expect(jobs.map((j) => j.id)).toEqual([jobId]);
    const progress = jobs[0].progress!;
    expect(progress).toMatchObject({ framesDone: 5, fps: 10, etaSeconds: (90 - 5) / 10, interruptions: 1 });
    // g5.xlarge is in the shipped price table: spot GPU time costs no more than on demand (figures are rounded to 6 decimals).
    expect(progress.onDemand).toBeGreaterThanOrEqual(progress.paid);
    expect(progress.saving).toBeCloseTo(progress.onDemand - progress.paid, 5);
    expect((await call('GET', '/v1/jobs?progress=maybe', acme)).statusCode).toBe(400);
  });

  it("shows each task's attempts with worker, machine and outcome, to the job's tenant and the admin only", async () => {
    const res = await call('GET', `/v1/jobs/${jobId}/timeline`, acme);
    expect(res.statusCode).toBe(200);
    const timeline = res.json() as JobTimeline;
    expect(timeline).toMatchObject({ jobId, state: 'running' });
    const process = timeline.tasks.filter((t) => t.kind === 'process');
    expect(process.map((t) => t.range)).toEqual([
      { start: 0, end: 30 },
      { start: 30, end: 60 },
      { start: 60, end: 90 },
    ]);
    expect(process[0].attempts).toMatchObject([
      {
        epoch: 1,
        worker: 'w1',
        outcome: 'preempted',
        instanceType: 'g5.xlarge',
        zone: 'us-east-1a',
        lifecycle: 'spot',
      },
      { epoch: 2, worker: 'w2', outcome: 'running', endedAt: null, fps: 10, framesDone: 5 },
    ]);
    expect(process[0].attempts[0].endedAt).toBeGreaterThanOrEqual(process[0].attempts[0].startedAt);
    expect(process[1].attempts).toEqual([]);
    expect(JSON.stringify(timeline)).not.toMatch(/tok_/);
    expect((await call('GET', `/v1/jobs/${jobId}/timeline`, ADMIN)).statusCode).toBe(200);
    expect((await call('GET', `/v1/jobs/${jobId}/timeline`, globex)).statusCode).toBe(404);
    expect((await call('GET', `/v1/jobs/${jobId}/timeline`, worker)).statusCode).toBe(403);
  });

  it('shows the admin the workers holding leases, with their machine and speed, and the queue', async () => {
    const res = await call('GET', '/v1/workers', ADMIN);
    expect(res.statusCode).toBe(200);
    const fleet = res.json() as FleetView;
    expect(fleet.workers).toMatchObject([
      {
        worker: 'w2',
        jobId,
        taskKind: 'process',
        range: { start: 0, end: 30 },
        instanceType: 'g5.xlarge',
        fps: 10,
      },
    ]);
    expect(fleet.workers[0].leaseExpiresAt).toBeGreaterThan(fleet.workers[0].startedAt);
    expect(fleet).toMatchObject({ queued: 2, activeJobs: 1 });
    expect((await call('GET', '/v1/workers', acme)).statusCode).toBe(403);
  });

  it('gives the admin GPU cost per day against on-demand, waste and interruptions per hour', async () => {
    const res = await call('GET', '/v1/savings?days=3', ADMIN);
    expect(res.statusCode).toBe(200);
    const savings = res.json() as SavingsView;
    expect(savings.days.map((d) => d.day)).toHaveLength(3);
    const today = savings.days.at(-1)!;
    expect(today.day).toBe(new Date().toISOString().slice(0, 10));
    expect(today.interruptions).toBe(1);
    expect(today.onDemand).toBeGreaterThanOrEqual(today.paid);
    expect(savings.days.slice(0, 2).every((d) => d.gpuSeconds === 0)).toBe(true);
    expect(savings.interruptionsByHour.reduce((sum, h) => sum + h.count, 0)).toBe(1);
    // Every hour from the first day's midnight on, the quiet ones too (a chart's time axis needs them).
    expect(savings.interruptionsByHour[0].hour).toBe(`${savings.days[0].day}T00`);
    expect(savings.interruptionsByHour.length).toBeGreaterThan(48);
    expect((await call('GET', '/v1/savings?days=0', ADMIN)).statusCode).toBe(400);
    expect((await call('GET', '/v1/savings', acme)).statusCode).toBe(403);
  });

  it("reads an ended job's rows once for its progress, however often the dashboard lists it", async () => {
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'listAttempts') reads++;
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const queries = new JobQueries(counting, new LocalBlobStore(join(dir(), 'blobs')), {
      prices: loadPriceTable(),
    });
    const running = await queries.list({ role: 'admin' }, { progress: true });
    await queries.list({ role: 'admin' }, { progress: true });
    expect(reads).toBe(2);
    expect((await call('POST', `/v1/jobs/${jobId}/cancel`, acme)).statusCode).toBe(200);
    const [ended] = await queries.list({ role: 'admin' }, { progress: true });
    const [again] = await queries.list({ role: 'admin' }, { progress: true });
    expect(reads).toBe(3);
    expect(again.progress).toEqual(ended.progress);
    // The cancel ended w2's running attempt as interrupted.
    expect(ended.progress).toMatchObject({
      fps: 0,
      etaSeconds: null,
      interruptions: running[0].progress!.interruptions + 1,
    });
  });

  it('runs a failed job again from its checkpoints; a job that has not failed is not retried', async () => {
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: inputKey,
      processors: ['passthrough'],
      chunkFrames: 90,
    });
    const failing = submitted.json().id as string;
    const early = await call('POST', `/v1/jobs/${failing}/retry`, acme);
    expect(early.statusCode).toBe(409);
    expect(early.json()).toEqual({ error: 'job is running: only a failed job is retried' });
    // Three failed attempts (the lease service's maxAttempts) fail the job.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claim = (
        await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w3' })
      ).json() as ClaimResponse;
      expect(claim.task.jobId).toBe(failing);
      await call('POST', `/v1/tasks/${claim.task.id}/release`, worker, {
        epoch: claim.task.epoch,
        reason: 'error',
        error: 'decoder crashed',
      });
    }
    expect((await call('GET', `/v1/jobs/${failing}`, acme)).json().state).toBe('failed');
    expect((await call('POST', `/v1/jobs/${failing}/retry`, globex)).statusCode).toBe(404);
    const retried = await call('POST', `/v1/jobs/${failing}/retry`, acme);
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toEqual({ id: failing, state: 'running' });
    const again = (
      await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w3' })
    ).json() as ClaimResponse;
    expect(again.task).toMatchObject({ jobId: failing, epoch: 4 });
  });
});
