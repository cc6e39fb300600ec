import { randomBytes } from 'node:crypto';
import pg from 'pg';

const SERVER = 'postgres://postgres@127.0.0.1:5432';

export interface TestDatabase {
  url: string;
  /** Empties every table the store migrated, keeping the schema. */
  reset(): Promise<void>;
  query<R extends pg.QueryResultRow>(sql: string): Promise<R[]>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres`, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A database of its own for this test run, or why there is none. Without a server the PostgreSQL
 * tests are skipped, except in CI, where they must run.
 */
export async function createTestDatabase(): Promise<TestDatabase | { unavailable: string }> {
  const name = `spotfuse_test_${randomBytes(6).toString('hex')}`;
  try {
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
  } catch (err) {
    const reason = `PostgreSQL at ${SERVER} is unreachable (${(err as Error).message})`;
    if (process.env.CI) throw new Error(`${reason}; CI must run the PostgreSQL store tests`);
    return { unavailable: reason };
  }
  const url = `${SERVER}/${name}`;
  const query = async <R extends pg.QueryResultRow>(sql: string) => {
    const client = new pg.Client(url);
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    url,
    query,
    reset: async () => {
      await query(`TRUNCATE notification_attempts, notifications, webhook_secrets, attempts, rejected_segments, segments, tasks, jobs, tokens
         RESTART IDENTITY`);
    },
    drop: async () => {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
