import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { buildApi } from '../../src/api/server.js';
import { startClusterServer } from '../../src/app/clusterServer.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { Metrics } from '../../src/coordinator/metrics.js';
import type { JobSpec } from '../../src/core/types.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { exportedNames, parseExposition, sampleValue } from '../helpers/exposition.js';
import { findPromtool, promtool } from '../helpers/promtool.js';

const TOKEN = 'worker-secret';
const TTL = 1000;
const MIB = 1024 * 1024;
const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));

const spec: JobSpec = {
  input: '/videos/in.mp4',
  sources: [],
  output: '/videos/out.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 10,
};

/** Every query of the shipped Grafana dashboard. */
function dashboardExprs(): string[] {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'spotfuse-dashboard.json'), 'utf8'));
  return (dashboard.panels as { targets?: { expr: string }[] }[]).flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr),
  );
}

/** The queries KEDA's triggers scale the worker pools on. */
function kedaQueries(): string[] {
  return ['worker-spot.yaml', 'worker-on-demand.yaml'].flatMap((file) =>
    parseAllDocuments(readFileSync(join(DEPLOY, 'kubernetes', 'base', file), 'utf8'))
      .map((d) => d.toJS() as { spec?: { triggers?: { metadata: { query: string } }[] } })
      .flatMap((m) => (m.spec?.triggers ?? []).map((t) => t.metadata.query)),
  );
}

const found = await findPromtool();
const noPromtool = 'unavailable' in found ? found.unavailable : undefined;
const promtoolPath = 'path' in found ? found.path : '';

/**
 * A real coordinator API (SQLite store, loopback HTTP) through a lease flow with a claim, heartbeats,
 * checkpoints, a preemption, an expiry, a completion and a failure; then its /metrics and its log lines.
 */
describe('metrics and lease logs of a real lease flow', () => {
  let store: SqliteStore;
  let app: FastifyInstance;
  let base: string;
  let clock = 0;
  const logLines: Record<string, unknown>[] = [];
  let midFlow: string;
  let afterFlow: string;
  let afterSilence: string;

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: response.status === 204 ? undefined : await response.json() };
  };
  const claim = async (workerId: string, extra: Record<string, unknown> = {}) => {
    const r = await post('/v1/claim', { protocol: LEASE_PROTOCOL, workerId, ...extra });
    expect(r.status).toBe(200);
    return r.body as ClaimResponse;
  };
  const checkpoint = async (c: ClaimResponse, startFrame: number, endFrame: number) => {
    const { key } = (await post(`/v1/tasks/${c.task.id}/segment-url`, { epoch: c.task.epoch, startFrame }))
      .body as { key: string };
    const body = { epoch: c.task.epoch, startFrame, endFrame, key };
    expect((await post(`/v1/tasks/${c.task.id}/checkpoint`, body)).status).toBe(200);
    return body;
  };
  const scrape = async () => {
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-obs-'));
    store = new SqliteStore(join(dir, 'state.db'));
    const metrics = new Metrics({ store, onDemandOnly: ['urgent'], now: () => clock, workerStaleMs: 60_000 });
    const logger = pino(
      { level: 'debug', base: undefined },
      { write: (line: string) => logLines.push(JSON.parse(line)) },
    );
    const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
      leaseTtlMs: TTL,
      maxAttempts: 1,
      now: () => clock,
      onDemandOnly: ['urgent'],
      metrics,
      logger,
    });
    app = buildApi({ leases, workerToken: TOKEN, metrics });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    const framePts = Array.from({ length: 40 }, (_, i) => i);
    const chunks = [
      { start: 0, end: 20 },
      { start: 20, end: 40 },
    ];
    await store.createJob({ key: 'k', spec, probe: { video: {} }, framePts, chunks }, 0);
    await store.createJob(
      { key: 'u', spec: { ...spec, priority: 'urgent' } as JobSpec, probe: { video: {} }, framePts, chunks },
      0,
    );

    // The urgent job is kept for on-demand workers: a spot worker takes the normal job's first chunk.
    const first = await claim('w1', { pool: 'spot', lifecycle: 'spot', instanceType: 'g5.xlarge' });
    expect(first.task).toMatchObject({ startFrame: 0, epoch: 1 });
    midFlow = await scrape();
    clock = 1000;
    const beat = { epoch: 1, framesDone: 10, fps: 12.5, gpuUtilization: 80, gpuMemoryUsedMiB: 1024 };
    expect(
      (await post(`/v1/tasks/${first.task.id}/heartbeat`, { ...beat, gpuMemoryTotalMiB: 16384 })).status,
    ).toBe(200);
    const recorded = await checkpoint(first, 0, 10);
    // A retried checkpoint answers ok again; its frames count once.
    expect((await post(`/v1/tasks/${first.task.id}/checkpoint`, recorded)).status).toBe(200);
    clock = 5000;
    expect((await post(`/v1/tasks/${first.task.id}/release`, { epoch: 1, reason: 'preempted' })).status).toBe(
      200,
    );

    // Two on-demand workers: the urgent job's chunks. One vanishes (lease expires), one completes.
    const vanished = await claim('w2', { pool: 'on-demand' });
    const finished = await claim('w3', { pool: 'on-demand' });
    expect([vanished.task.jobId, finished.task.jobId]).toEqual([finished.task.jobId, finished.task.jobId]);
    expect((await post(`/v1/tasks/${finished.task.id}/heartbeat`, { epoch: 1, framesDone: 5 })).status).toBe(
      200,
    );
    clock = 5500;
    await checkpoint(finished, 20, 40);
    expect((await post(`/v1/tasks/${finished.task.id}/complete`, { epoch: 1 })).status).toBe(200);
    clock = 6001;
    expect(await leases.expireLeases()).toBe(1);
    expect((await post(`/v1/tasks/${vanished.task.id}/heartbeat`, { epoch: 1, framesDone: 5 })).status).toBe(
      409,
    );

    // The preempted chunk again, on spot; it fails, and with one attempt allowed its job fails.
    const failing = await claim('w4', { pool: 'spot', lifecycle: 'spot' });
    expect(failing.task).toMatchObject({ id: first.task.id, epoch: 2, nextFrame: 10 });
    clock = 7000;
    const release = { epoch: 2, reason: 'error', error: 'CUDA out of memory' };
    expect((await post(`/v1/tasks/${failing.task.id}/release`, release)).status).toBe(200);
    afterFlow = await scrape();
    clock = 70_000;
    afterSilence = await scrape();
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  it('reports the queue, running tasks and active jobs from the store', () => {
    const mid = parseExposition(midFlow);
    expect(sampleValue(mid, 'spotfuse_queue_depth', { pool: 'spot', priority: 'normal' })).toBe(1);
    expect(sampleValue(mid, 'spotfuse_queue_depth', { pool: 'on-demand', priority: 'urgent' })).toBe(2);
    expect(sampleValue(mid, 'spotfuse_queue_depth', { pool: 'spot', priority: 'urgent' })).toBe(0);
    expect(sampleValue(mid, 'spotfuse_tasks_running', { lifecycle: 'spot' })).toBe(1);
    expect(sampleValue(mid, 'spotfuse_tasks_running', { lifecycle: 'on-demand' })).toBe(0);
    expect(sampleValue(mid, 'spotfuse_jobs_active', { state: 'running' })).toBe(2);

    const after = parseExposition(afterFlow);
    // The failed job's chunks are nobody's work any more; the urgent job's expired chunk is queued again.
    expect(sampleValue(after, 'spotfuse_queue_depth', { pool: 'on-demand', priority: 'urgent' })).toBe(1);
    expect(sampleValue(after, 'spotfuse_queue_depth', { pool: 'spot', priority: 'normal' })).toBe(0);
    expect(sampleValue(after, 'spotfuse_tasks_running', { lifecycle: 'spot' })).toBe(0);
    expect(sampleValue(after, 'spotfuse_jobs_active', { state: 'running' })).toBe(1);
  });

  it('counts claims, preemptions, expiries, failures, completions, frames and GPU time by lifecycle', () => {
    const s = parseExposition(afterFlow);
    expect(sampleValue(s, 'spotfuse_task_claims_total', { pool: 'spot' })).toBe(2);
    expect(sampleValue(s, 'spotfuse_task_claims_total', { pool: 'on-demand' })).toBe(2);
    expect(sampleValue(s, 'spotfuse_task_preemptions_total')).toBe(1);
    expect(sampleValue(s, 'spotfuse_leases_expired_total')).toBe(1);
    expect(sampleValue(s, 'spotfuse_task_failures_total')).toBe(1);
    expect(sampleValue(s, 'spotfuse_job_failures_total')).toBe(1);
    expect(sampleValue(s, 'spotfuse_tasks_completed_total', { kind: 'process' })).toBe(1);
    expect(sampleValue(s, 'spotfuse_frames_processed_total')).toBe(30);
    // Spot: w1 from 0 to 5 s, w4 from 6.001 to 7 s. On-demand: w3 from 5 to 5.5 s, w2 from 5 s until the sweep at 6.001 s.
    expect(sampleValue(s, 'spotfuse_gpu_seconds_total', { lifecycle: 'spot' })).toBeCloseTo(5.999, 6);
    expect(sampleValue(s, 'spotfuse_gpu_seconds_total', { lifecycle: 'on-demand' })).toBeCloseTo(1.501, 6);
    expect(sampleValue(s, 'spotfuse_cost_usd_total', { lifecycle: 'spot' })).toBe(0);
  });

  it("keeps each worker's latest readings and drops them once the worker is silent", () => {
    const s = parseExposition(afterFlow);
    expect(sampleValue(s, 'spotfuse_worker_fps', { worker: 'w1' })).toBe(12.5);
    expect(sampleValue(s, 'spotfuse_worker_gpu_utilization_ratio', { worker: 'w1' })).toBe(0.8);
    expect(sampleValue(s, 'spotfuse_worker_gpu_memory_used_bytes', { worker: 'w1' })).toBe(1024 * MIB);
    expect(sampleValue(s, 'spotfuse_worker_gpu_memory_total_bytes', { worker: 'w1' })).toBe(16384 * MIB);
    const silent = parseExposition(afterSilence);
    expect(silent.filter((x) => x.name.startsWith('spotfuse_worker_'))).toEqual([]);
  });

  it('times HTTP requests by route pattern, method and status class', () => {
    const s = parseExposition(afterFlow);
    const heartbeats = (status: string) =>
      sampleValue(s, 'spotfuse_http_request_duration_seconds_count', {
        route: '/v1/tasks/:id/heartbeat',
        method: 'POST',
        status,
      });
    expect(heartbeats('2xx')).toBe(2);
    expect(heartbeats('4xx')).toBe(1);
    expect(s.some((x) => x.labels.route?.includes('job_'))).toBe(false);
  });

  it('puts jobId, taskId, workerId and epoch on every log line about a task', () => {
    const about = logLines.filter((l) => 'taskId' in l);
    for (const line of about) {
      expect(line).toMatchObject({
        jobId: expect.stringMatching(/^job_/),
        taskId: expect.stringMatching(/^job_.*-t\d{4}$/),
        workerId: expect.stringMatching(/^w\d$/),
        epoch: expect.any(Number),
      });
    }
    const messages = about.map((l) => `${l.workerId} ${l.msg}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        'w1 claimed process task',
        'w1 heartbeat',
        'w1 checkpoint recorded',
        'w1 task released: worker preempted',
        'w3 task completed',
        'w2 lease expired without a word from its worker; the task is runnable again',
        'w2 heartbeat refused: stale',
        'w4 task failed; the job failed',
      ]),
    );
    expect(logLines.filter((l) => !('taskId' in l))).toEqual([]);
  });

  it.skipIf(noPromtool !== undefined)(
    `passes promtool check metrics${noPromtool ? ` (skipped: ${noPromtool})` : ''}`,
    async () => {
      await promtool(promtoolPath, ['check', 'metrics'], afterFlow);
    },
  );

  it('ships a Grafana dashboard, alerts and KEDA triggers whose queries use only metrics the server exports', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(10);
    expect(kedaQueries()).toHaveLength(2);
    exprs.push(...kedaQueries());
    const rules = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8')) as {
      groups: { rules: { expr: string }[] }[];
    };
    exprs.push(...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)));
    const exported = exportedNames(afterFlow);
    for (const expr of exprs) {
      const used = expr.match(/\bspotfuse_[a-z0-9_]+/g) ?? [];
      expect(used.length, expr).toBeGreaterThan(0);
      for (const name of used) expect(exported, `${name} in ${expr}`).toContain(name);
    }
  });

  it.skipIf(noPromtool !== undefined)(
    `ships alert rules that promtool checks and unit-tests${noPromtool ? ` (skipped: ${noPromtool})` : ''}`,
    async () => {
      const dir = join(DEPLOY, 'prometheus');
      expect(await promtool(promtoolPath, ['check', 'rules', join(dir, 'alerts.yml')])).toMatch(
        /SUCCESS: 3 rules/,
      );
      expect(await promtool(promtoolPath, ['test', 'rules', join(dir, 'alerts.test.yml')])).toMatch(
        /SUCCESS/,
      );
    },
  );

  it.skipIf(noPromtool !== undefined)(
    `ships dashboard and KEDA queries that are valid PromQL${noPromtool ? ` (skipped: ${noPromtool})` : ''}`,
    async () => {
      // promtool parses PromQL in rule files: each query becomes a recording rule, Grafana's range
      // variables replaced by durations.
      const exprs = [...dashboardExprs(), ...kedaQueries()].map((e) =>
        e.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '6h'),
      );
      const rules = {
        groups: [
          { name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) },
        ],
      };
      const file = join(mkdtempSync(join(tmpdir(), 'spotfuse-dashboard-')), 'queries.yml');
      writeFileSync(file, stringifyYaml(rules));
      expect(await promtool(promtoolPath, ['check', 'rules', file])).toMatch(
        new RegExp(`SUCCESS: ${exprs.length} rules`),
      );
    },
  );
});

it('still serves its counters when the database is unreachable, without shared-state series', async () => {
  let down = false;
  const stats = {
    pending: [{ kind: 'process' as const, priority: 'normal' as const, count: 3 }],
    running: [],
    jobs: [],
  };
  const metrics = new Metrics({
    store: { leaseStats: async () => (down ? Promise.reject(new Error('ECONNREFUSED')) : stats) },
  });
  metrics.claimed('spot');
  const up = parseExposition(await metrics.render());
  expect(sampleValue(up, 'spotfuse_queue_depth', { pool: 'spot', priority: 'normal' })).toBe(3);
  down = true;
  const samples = parseExposition(await metrics.render());
  expect(samples.filter((s) => s.name === 'spotfuse_queue_depth')).toEqual([]);
  expect(sampleValue(samples, 'spotfuse_task_claims_total', { pool: 'spot' })).toBe(1);
});

it('serves /metrics on a listener of its own with --metrics-listen, and only there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-obs-listen-'));
  const server = await startClusterServer({
    db: join(dir, 'state.db'),
    blob: join(dir, 'blobs'),
    host: '127.0.0.1',
    port: 0,
    metricsListen: { host: '127.0.0.1', port: 0 },
    adminToken: 'admin-secret',
    leaseTtlMs: 1000,
    maxAttempts: 3,
  });
  try {
    expect(server.metricsAddress).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${server.address}/metrics`)).status).toBe(404);
    const scraped = await fetch(`${server.metricsAddress}/metrics`);
    expect(scraped.status).toBe(200);
    const samples = parseExposition(await scraped.text());
    expect(sampleValue(samples, 'spotfuse_queue_depth', { pool: 'spot', priority: 'normal' })).toBe(0);
    // The API's requests are still timed, 404s included under one route label.
    expect(
      sampleValue(samples, 'spotfuse_http_request_duration_seconds_count', {
        route: 'unmatched',
        method: 'GET',
        status: '4xx',
      }),
    ).toBe(1);
  } finally {
    await server.close();
  }
});
