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
import { createTestDatabase } from './postgresTestDb.js';

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});

// Jobs that ended before notifications existed: nobody asked to hear of them, and nobody will.
const ENDED_JOBS = [
  `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at, finished_at)
   VALUES ('job_done', 'k', 'completed', '{}', '{}', '', 0, 7, 9)`,
  `INSERT INTO jobs (id, key, state, spec, probe, frame_pts, frame_count, created_at)
   VALUES ('job_running', 'k', 'running', '{}', '{}', '', 0, 7)`,
];

async function expectOutboxReady(store: Store): Promise<void> {
  expect(await store.listUnnotifiedEnds(10)).toEqual([]);
  expect(await store.listNotifications('job_done')).toEqual([]);
  expect(await store.getWebhookSecret(null, 'whsec_a', 1)).toBe('whsec_a');
}

describe('schema migration 4 (notification outbox)', () => {
  it('upgrades a SQLite file made by the third schema; jobs that had ended are not told', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-migrate-')), 'state.db');
    const old = new Database(path);
    for (const sql of SQLITE_MIGRATIONS.slice(0, 3)) old.exec(sql);
    old.pragma('user_version = 3');
    for (const sql of ENDED_JOBS) old.exec(sql);
    old.close();
    const store = new SqliteStore(path);
    try {
      await expectOutboxReady(store);
    } finally {
      await store.close();
    }
  });

  it.skipIf(!('url' in pgDb))('upgrades a PostgreSQL database made by the third schema', async () => {
    if (!('url' in pgDb)) return;
    const client = new pg.Client(pgDb.url);
    await client.connect();
    try {
      for (const sql of POSTGRES_MIGRATIONS.slice(0, 3)) await client.query(sql);
      await client.query(
        'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      await client.query('INSERT INTO schema_migrations VALUES (1, 0), (2, 0), (3, 0)');
      for (const sql of ENDED_JOBS) await client.query(sql);
    } finally {
      await client.end();
    }
    const store = await PostgresStore.open(pgDb.url);
    try {
      await expectOutboxReady(store);
    } finally {
      await store.close();
    }
  });
});
