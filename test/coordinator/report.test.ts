import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/blob/blobStore.js';
import { LeaseService, segmentKey } from '../../src/coordinator/leaseService.js';
import { jobReport } from '../../src/coordinator/report.js';
import type { Attempt, InstanceInfo, JobSpec, Pool } from '../../src/core/types.js';
import { busySeconds } from '../../src/cost/jobReport.js';
import type { PriceTable } from '../../src/cost/prices.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import type { Store } from '../../src/store/store.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { createTestDatabase } from '../store/postgresTestDb.js';

const spec: JobSpec = {
  input: '/in.mp4',
  sources: [],
  output: '/out.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 100,
};
const blobs: BlobStore = {
  readUrl: async (key) => `file:///blobs/${key}`,
  writeUrl: async (key) => `file:///blobs/${key}`,
  size: async () => undefined,
  delete: async () => {},
  list: async () => [],
};
const prices: PriceTable = {
  entries: [
    { cloud: 'aws', instanceType: 'p3.2xlarge', onDemand: 3.06, spot: 0.92, asOf: '2024-06', source: 'test' },
  ],
  localPerHour: 0.6,
};
const MIN = 60_000;
const p3: InstanceInfo = { cloud: 'aws', instanceType: 'p3.2xlarge', zone: 'us-east-1a' };

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});

const backends: { name: string; skip?: string; open(): Promise<Store> }[] = [
  { name: 'SqliteStore', open: async () => new SqliteStore(':memory:') },
  'url' in pgDb
    ? { name: 'PostgresStore', open: () => PostgresStore.open(pgDb.url) }
    : {
        name: 'PostgresStore',
        skip: pgDb.unavailable,
        open: () => Promise.reject(new Error(pgDb.unavailable)),
      },
];

describe.each(backends)('a job report from $name', (backend) => {
  let store: Store;
  let clock = 0;
  let leases: LeaseService;

  beforeEach(async (context) => {
    if (backend.skip) context.skip(backend.skip);
    store = await backend.open();
    clock = 0;
    leases = new LeaseService(store, blobs, { leaseTtlMs: 600 * MIN, maxAttempts: 3, now: () => clock });
  });
  afterEach(() => store?.close());

  async function claim(worker: string, pool: Pool, instance: InstanceInfo = {}) {
    const claimed = await leases.claim(worker, pool, instance);
    if (!claimed) throw new Error(`${worker} claimed nothing`);
    return claimed.task;
  }

  async function checkpoint(task: { id: string; jobId: string; epoch: number }, start: number, end: number) {
    const key = segmentKey(task.jobId, task.id, task.epoch, start);
    expect(await leases.checkpoint(task.id, task.epoch, start, end, key)).toBe('ok');
  }

  it('costs each attempt at its machine and lifecycle, with the work lost to a preemption as waste', async () => {
    const job = await store.createJob(
      {
        key: 'k',
        spec,
        probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
        framePts: Array.from({ length: 600 }, (_, i) => i),
        chunks: [
          { start: 0, end: 300 },
          { start: 300, end: 600 },
        ],
      },
      0,
    );
    // Two spot p3.2xlarge workers start; the first is preempted after 30 minutes with 150 frames done,
    // 100 of them checkpointed. An on-demand p3.2xlarge finishes its task in 30 more minutes; the second
    // spot worker finishes the other in an hour. A local machine merges in one minute.
    const a = await claim('w1', 'spot', p3);
    const b = await claim('w2', 'spot', p3);
    clock = 10 * MIN;
    await checkpoint(a, 0, 100);
    await leases.heartbeat(a.id, a.epoch, { framesDone: 150 });
    clock = 30 * MIN;
    expect(await leases.release(a.id, a.epoch, 'preempted')).toBe('ok');
    const a2 = await claim('w3', 'on-demand', { ...p3, lifecycle: 'on-demand' });
    await checkpoint(a2, 100, 300);
    await checkpoint(b, 300, 600);
    clock = 60 * MIN;
    expect(await leases.complete(a2.id, a2.epoch)).toBe('ok');
    expect(await leases.complete(b.id, b.epoch)).toBe('ok');
    const merge = await claim('local', 'spot');
    expect(merge.kind).toBe('merge');
    clock = 61 * MIN;
    expect(await leases.complete(merge.id, merge.epoch)).toBe('ok');

    const report = await jobReport(store, job.id, { prices }, clock);
    expect(report).toMatchObject({ state: 'completed', attempts: 4, interruptions: 1, framesRedone: 50 });
    // Paid: 0.5 h × $0.92 + 1 h × $0.92 + 0.5 h × $3.06 + 1/60 h × $0.60 = $2.92.
    // On-demand: 0.5 h × $3.06 + 1 h × $3.06 + 0.5 h × $3.06 + $0.01 = $6.13.
    expect(report.cost).toEqual({
      currency: 'USD',
      paid: 2.92,
      onDemand: 6.13,
      saving: 3.21,
      savingPercent: 52.37,
      gpuSeconds: 7260,
      usefulGpuSeconds: 6660,
      wastedGpuSeconds: 600,
      unpricedGpuSeconds: 0,
      unpricedInstanceTypes: [],
    });

    const detailed = await jobReport(store, job.id, { prices, tasks: true }, clock);
    expect(detailed.cost.tasks).toEqual([
      expect.objectContaining({ taskId: a.id, attempts: 2, interruptions: 1, framesRedone: 50, paid: 1.99 }),
      expect.objectContaining({ taskId: b.id, attempts: 1, gpuSeconds: 3600, paid: 0.92, onDemand: 3.06 }),
      expect.objectContaining({ taskId: merge.id, kind: 'merge', attempts: 1, gpuSeconds: 60, paid: 0.01 }),
    ]);
  });
});

describe('runSeconds', () => {
  const attempt = (startedAt: number, endedAt: number | null) => ({ startedAt, endedAt }) as Attempt;

  it('counts the time some attempt was running, overlaps once, and not the gaps between runs', () => {
    // Two workers from 0 s to 10 s and 5 s to 12 s; the run stopped; the next one ran 100 s to 130 s.
    const attempts = [attempt(100_000, 130_000), attempt(0, 10_000), attempt(5_000, 12_000)];
    expect(busySeconds(attempts, 200_000)).toBe(42);
    // A running attempt counts up to now.
    expect(busySeconds([...attempts, attempt(150_000, null)], 160_000)).toBe(52);
    expect(busySeconds([], 1)).toBe(0);
  });
});
