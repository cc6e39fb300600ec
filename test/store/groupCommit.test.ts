import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/store/groupCommit.js';
import { createTestDatabase, type TestDatabase } from './postgresTestDb.js';

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});
const skip = 'unavailable' in pgDb ? pgDb.unavailable : undefined;

describe.skipIf(skip !== undefined)(`GroupCommit${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const db = pgDb as TestDatabase;
  let groupCommit: GroupCommit;
  let writer: pg.Client;

  beforeEach(async () => {
    groupCommit = new GroupCommit({ connectionString: db.url });
    writer = new pg.Client({ connectionString: db.url, options: '-c synchronous_commit=off' });
    await writer.connect();
    await writer.query('CREATE TABLE IF NOT EXISTS written (n int)');
  });
  afterEach(async () => {
    await writer.end();
    await groupCommit.close();
  });

  /** Commits a row without waiting for the flush; returns the WAL position its commit ends before. */
  async function commitUnflushed(): Promise<string> {
    await writer.query('INSERT INTO written VALUES (1)');
    return (await writer.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]
      .lsn;
  }

  async function flushedPast(lsn: string): Promise<boolean> {
    const { rows } = await writer.query<{ past: boolean }>(
      'SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS past',
      [lsn],
    );
    return rows[0].past;
  }

  it('answers once the commits made before are flushed, with one flush for the calls that wait together', async () => {
    const session = await groupCommit.session();
    await groupCommit.durable(session);
    const before = groupCommit.flushes;
    const lsn = await commitUnflushed();
    await Promise.all(Array.from({ length: 50 }, () => groupCommit.durable(session)));
    expect(await flushedPast(lsn)).toBe(true);
    // The first two calls' flushes (one per flush connection), and one for the 48 that came while they ran.
    expect(groupCommit.flushes - before).toBeLessThanOrEqual(3);
    expect(groupCommit.flushes - before).toBeGreaterThanOrEqual(1);
  });

  it('fails the calls whose flush connections were lost, even once new ones are open', async () => {
    const session = await groupCommit.session();
    await commitUnflushed();
    // As a database restart ends them.
    const { rows } = await writer.query<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'spotfuse group commit'`,
    );
    // Ending one makes the store close the other, which may then be gone before the query reaches it.
    expect(rows.some((row) => row.ended)).toBe(true);
    await expect(groupCommit.durable(session)).rejects.toThrow(/may not be/);
    const next = await groupCommit.session();
    expect(next).not.toBe(session);
    await expect(groupCommit.durable(session)).rejects.toThrow(/may not be/);
    const lsn = await commitUnflushed();
    await groupCommit.durable(next);
    expect(await flushedPast(lsn)).toBe(true);
  });
});
