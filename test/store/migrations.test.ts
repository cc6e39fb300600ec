import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
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
