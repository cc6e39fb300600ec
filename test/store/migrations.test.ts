import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineName } from '../../src/core/types.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgresSchema.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqliteSchema.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from './postgresTestDb.js';

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});
const skip = 'unavailable' in pgDb ? pgDb.unavailable : undefined;

// A job as the first schema stored it, before jobs had a tenant.
const V1_JOB = `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at)
  VALUES ('job_old', 'k', 'running', '{}', '{}', '', 0, 7)`;

async function expectUpgraded(store: Store): Promise<void> {
  const job = await store.getJob('job_old');
  expect(job).toMatchObject({ id: 'job_old', createdAt: 7, tenant: null });
  expect((await store.listJobs({ tenant: 'acme' })).length).toBe(0);
  const token = await store.createToken({ role: 'worker' }, 'f'.repeat(64), 8);
  expect(await store.findTokenByHash('f'.repeat(64))).toEqual(token);
}

describe('schema migration 2 (tokens, job tenants)', () => {
  it('upgrades a SQLite file made by the first schema, keeping its jobs', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const old = new Database(path);
    old.exec(SQLITE_MIGRATIONS[0]);
    old.pragma('user_version = 1');
    old.exec(V1_JOB);
    old.close();

    const store = new SqliteStore(path);
    try {
      await expectUpgraded(store);
    } finally {
      await store.close();
    }
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length);
    db.close();
    // Opening it again applies nothing twice.
    await new SqliteStore(path).close();
  });

  it.skipIf(skip !== undefined)(
    `upgrades a PostgreSQL database made by the first schema${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const db = pgDb as TestDatabase;
      const client = new pg.Client(db.url);
      await client.connect();
      try {
        await client.query(POSTGRES_MIGRATIONS[0]);
        await client.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
        );
        await client.query('INSERT INTO schema_migrations VALUES (1, 0)');
        await client.query(V1_JOB);
      } finally {
        await client.end();
      }
      const store = await PostgresStore.open(db.url);
      try {
        await expectUpgraded(store);
      } finally {
        await store.close();
      }
      const versions = await db.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY 1',
      );
      expect(versions.map((v) => v.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    },
  );
});

// An attempt as the second schema stored it, before attempts told their machine and GPU readings.
const V2_ATTEMPT = [
  `INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state, epoch)
   VALUES ('job_old-t0000', 'job_old', 'process', 0, 0, 1, 0, 'running', 1)`,
  `INSERT INTO attempts (task_id, job_id, worker_id, epoch, started_at, outcome, frames_done, fps)
   VALUES ('job_old-t0000', 'job_old', 'w', 1, 7, 'running', 3, 2.5)`,
];

async function expectAttemptsUpgraded(store: Store): Promise<void> {
  const [attempt] = await store.listAttempts('job_old');
  expect(attempt).toMatchObject({
    framesDone: 3,
    fps: 2.5,
    cloud: null,
    instanceType: null,
    zone: null,
    lifecycle: null,
    gpuUtilization: null,
    gpuMemoryUsedMiB: null,
    gpuMemoryTotalMiB: null,
  });
  expect(
    await store.heartbeat(
      'job_old-t0000',
      1,
      { framesDone: 4, gpuUtilization: 50, gpuMemoryUsedMiB: 1 },
      8,
      1000,
    ),
  ).toBe('ok');
  expect((await store.listAttempts('job_old'))[0]).toMatchObject({ gpuUtilization: 50, gpuMemoryUsedMiB: 1 });
}

describe('schema migration 3 (attempt instance and GPU telemetry)', () => {
  it('upgrades a SQLite file made by the second schema, keeping its attempts', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const old = new Database(path);
    old.exec(SQLITE_MIGRATIONS[0]);
    old.exec(SQLITE_MIGRATIONS[1]);
    old.pragma('user_version = 2');
    old.exec(V1_JOB);
    for (const sql of V2_ATTEMPT) old.exec(sql);
    old.close();
    const store = new SqliteStore(path);
    try {
      await expectAttemptsUpgraded(store);
    } finally {
      await store.close();
    }
  });

  it.skipIf(skip !== undefined)(
    `upgrades a PostgreSQL database made by the second schema${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const db = pgDb as TestDatabase;
      const client = new pg.Client(db.url);
      await client.connect();
      try {
        await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
        await client.query(POSTGRES_MIGRATIONS[0]);
        await client.query(POSTGRES_MIGRATIONS[1]);
        await client.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
        );
        await client.query('INSERT INTO schema_migrations VALUES (1, 0), (2, 0)');
        await client.query(V1_JOB);
        for (const sql of V2_ATTEMPT) await client.query(sql);
      } finally {
        await client.end();
      }
      const store = await PostgresStore.open(db.url);
      try {
        await expectAttemptsUpgraded(store);
      } finally {
        await store.close();
      }
    },
  );
});

// Jobs as the schema before the priority column stored them: the priority only in the spec, written by
// JSON.stringify or (PostgreSQL's setJobNotify) as jsonb text; one spec has an escape PostgreSQL cannot read.
const PRIORITY_JOBS = [
  ['job_normal', JSON.stringify({ input: '/a.mp4', priority: 'normal' }), 0],
  [
    'job_bad',
    JSON.stringify({ input: '/b.mp4', priority: 'urgent', notify: { webhooks: ['https://x/\u0000'] } }),
    1,
  ],
  ['job_jsonb', '{"input": "/c.mp4", "priority": "urgent"}', 2],
] as const;
const PRIORITY_ROWS = PRIORITY_JOBS.flatMap(([id, spec, createdAt]) => [
  `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at)
   VALUES ('${id}', 'k', 'running', '${spec}', '{}', '', 1, ${createdAt})`,
  `INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
   VALUES ('${id}-t0000', '${id}', 'process', 0, 0, 1, 0, 'pending')`,
]);

async function expectPriorityBackfilled(store: Store): Promise<void> {
  expect((await store.leaseStats()).pending.sort((a, b) => a.priority.localeCompare(b.priority))).toEqual([
    { kind: 'process', priority: 'normal', count: 1 },
    { kind: 'process', priority: 'urgent', count: 2 },
  ]);
  const claimed: string[] = [];
  for (let i = 0; i < 3; i++) {
    const claim = await store.claim({ workerId: 'w', pool: 'spot', now: 10, leaseTtlMs: 1000 });
    claimed.push(claim?.job.id ?? 'none');
  }
  expect(claimed).toEqual(['job_bad', 'job_jsonb', 'job_normal']);
}

describe('schema migration of the priority column', () => {
  it('backfills a SQLite file made by the schema before it', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const old = new Database(path);
    const before = 5; // migration 6 adds the priority column
    for (const sql of SQLITE_MIGRATIONS.slice(0, before)) old.exec(sql);
    old.pragma(`user_version = ${before}`);
    for (const sql of PRIORITY_ROWS) old.exec(sql);
    old.close();
    const store = new SqliteStore(path);
    try {
      await expectPriorityBackfilled(store);
    } finally {
      await store.close();
    }
  });

  it.skipIf(skip !== undefined)(
    `backfills a PostgreSQL database made by the schema before it, whatever its specs${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const db = pgDb as TestDatabase;
      const client = new pg.Client(db.url);
      await client.connect();
      const before = 6; // migration 7 adds the priority column
      try {
        await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
        for (const sql of POSTGRES_MIGRATIONS.slice(0, before)) await client.query(sql);
        await client.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
        );
        for (let v = 1; v <= before; v++)
          await client.query('INSERT INTO schema_migrations VALUES ($1, 0)', [v]);
        for (const sql of PRIORITY_ROWS) await client.query(sql);
      } finally {
        await client.end();
      }
      const store = await PostgresStore.open(db.url);
      try {
        await expectPriorityBackfilled(store);
      } finally {
        await store.close();
      }
    },
  );
});

describe('SQLite migration 8 (frame timestamps out of the job row)', () => {
  it('moves every job’s timestamps to job_frames and keeps them readable', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const before = 7; // migration 8 moves frame_pts
    const old = new Database(path);
    for (const sql of SQLITE_MIGRATIONS.slice(0, before)) old.exec(sql);
    old.pragma(`user_version = ${before}`);
    const pts = Buffer.from(new Float64Array([0, 0.5, 1.25]).buffer);
    old
      .prepare(
        `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at)
         VALUES ('job_pts', 'k', 'running', '{}', '{}', ?, 3, 7)`,
      )
      .run(pts);
    old.close();
    const store = new SqliteStore(path);
    try {
      expect(await store.getFramePts('job_pts', { start: 1, end: 3 })).toEqual([0.5, 1.25]);
      expect(await store.getJob('job_pts')).toMatchObject({ frameCount: 3, createdAt: 7 });
    } finally {
      await store.close();
    }
    const db = new Database(path);
    const columns = db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
    db.close();
    expect(columns.map((c) => c.name)).not.toContain('frame_pts');
  });
});

// Jobs as the schema before the engine column stored them: the engine only in the spec, written by
// JSON.stringify or as jsonb text (keys sorted, a space after each colon).
const ENGINE_JOBS = [
  ['job_native', JSON.stringify({ input: '/a.mp4' }), 0],
  ['job_ff', JSON.stringify({ input: '/b.mp4', engine: { name: 'facefusion', args: ['--x'] } }), 1],
  ['job_ff_jsonb', '{"input": "/c.mp4", "engine": {"args": [], "name": "facefusion"}}', 2],
] as const;
const engineRows = (jobColumns: string, jobValues: string, extra: (id: string) => string[]) =>
  ENGINE_JOBS.flatMap(([id, spec, createdAt]) => [
    `INSERT INTO jobs (id, key, state, spec, probe, frame_count, created_at${jobColumns})
     VALUES ('${id}', 'k', 'running', '${spec}', '{}', 1, ${createdAt}${jobValues})`,
    ...extra(id),
    `INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
     VALUES ('${id}-t0000', '${id}', 'process', 0, 0, 1, 0, 'pending')`,
  ]);

async function expectEngineBackfilled(store: Store): Promise<void> {
  const claim = (workerId: string, engines?: EngineName[]) =>
    store.claim({ workerId, pool: 'spot', now: 10, leaseTtlMs: 1000, engines });
  expect((await claim('native1'))?.job.id).toBe('job_native');
  expect(await claim('native2')).toBeUndefined();
  expect((await claim('ff1', ['native', 'facefusion']))?.job.id).toBe('job_ff');
  expect((await claim('ff2', ['native', 'facefusion']))?.job.id).toBe('job_ff_jsonb');
}

describe('schema migration of the engine column', () => {
  it('backfills a SQLite file made by the schema before it', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const old = new Database(path);
    const before = 10; // migration 11 adds the engine column
    for (const sql of SQLITE_MIGRATIONS.slice(0, before)) old.exec(sql);
    old.pragma(`user_version = ${before}`);
    for (const sql of engineRows('', '', (id) => [
      `INSERT INTO job_frames (job_id, frame_pts) VALUES ('${id}', x'0000000000000000')`,
    ]))
      old.exec(sql);
    old.close();
    const store = new SqliteStore(path);
    try {
      await expectEngineBackfilled(store);
    } finally {
      await store.close();
    }
  });

  it.skipIf(skip !== undefined)(
    `backfills a PostgreSQL database made by the schema before it${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const db = pgDb as TestDatabase;
      const client = new pg.Client(db.url);
      await client.connect();
      const before = 11; // migration 12 adds the engine column
      try {
        await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
        for (const sql of POSTGRES_MIGRATIONS.slice(0, before)) await client.query(sql);
        await client.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
        );
        for (let v = 1; v <= before; v++)
          await client.query('INSERT INTO schema_migrations VALUES ($1, 0)', [v]);
        for (const sql of engineRows(', frame_pts', ", ''", () => [])) await client.query(sql);
      } finally {
        await client.end();
      }
      const store = await PostgresStore.open(db.url);
      try {
        await expectEngineBackfilled(store);
      } finally {
        await store.close();
      }
    },
  );
});

describe('migration of cancellations told before job.cancelled', () => {
  it('leaves the jobs cancelled before it untold, and tells those after', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const old = new Database(path);
    const before = 11; // migration 12 marks the cancellations before it as told
    for (const sql of SQLITE_MIGRATIONS.slice(0, before)) old.exec(sql);
    old.pragma(`user_version = ${before}`);
    old.exec(`INSERT INTO jobs (id, key, state, spec, probe, frame_count, created_at, finished_at)
      VALUES ('job_canceled', 'k', 'canceled', '{}', '{}', 0, 7, 9)`);
    old.close();
    const store = new SqliteStore(path);
    try {
      expect(await store.listUnnotifiedEnds(10)).toEqual([]);
      const fresh = await store.createJob(
        { key: 'k2', spec: {} as never, probe: {}, framePts: [0], chunks: [{ start: 0, end: 1 }] },
        10,
      );
      await store.cancelJob(fresh.id, 11);
      expect((await store.listUnnotifiedEnds(10)).map((j) => j.id)).toEqual([fresh.id]);
    } finally {
      await store.close();
    }
  });

  it.skipIf(skip !== undefined)(`in PostgreSQL too${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const db = pgDb as TestDatabase;
    const client = new pg.Client(db.url);
    await client.connect();
    const before = 12; // migration 13 marks the cancellations before it as told
    try {
      await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
      for (const sql of POSTGRES_MIGRATIONS.slice(0, before)) await client.query(sql);
      await client.query(
        'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      for (let v = 1; v <= before; v++)
        await client.query('INSERT INTO schema_migrations VALUES ($1, 0)', [v]);
      await client.query(`INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at, finished_at)
          VALUES ('job_canceled', 'k', 'canceled', '{}', '{}', '', 0, 7, 9)`);
    } finally {
      await client.end();
    }
    const store = await PostgresStore.open(db.url);
    try {
      expect(await store.listUnnotifiedEnds(10)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
