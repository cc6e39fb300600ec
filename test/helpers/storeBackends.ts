import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll } from 'vitest';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase } from '../store/postgresTestDb.js';

/**
 * A fresh, empty store of one kind, a way to open another connection to the same database (a restart), and
 * raw SQL on it (rows the API would never write).
 */
export interface OpenedStore {
  store: Store;
  reopen(): Promise<Store>;
  sql(text: string): Promise<Record<string, unknown>[]>;
}

export interface Backend {
  name: string;
  skip?: string;
  open(): Promise<OpenedStore>;
}

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});

function sqliteSql(path: string, text: string): Record<string, unknown>[] {
  const db = new Database(path);
  try {
    const statement = db.prepare(text);
    if (statement.reader) return statement.all() as Record<string, unknown>[];
    statement.run();
    return [];
  } finally {
    db.close();
  }
}

/** SQLite and PostgreSQL (skipped without a server, as in test/store), for tests of shared semantics. */
export const backends: Backend[] = [
  {
    name: 'SqliteStore',
    open: async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'spotfuse-store-')), 'state.db');
      return {
        store: new SqliteStore(path),
        reopen: async () => new SqliteStore(path),
        sql: async (text) => sqliteSql(path, text),
      };
    },
  },
  'url' in pgDb
    ? {
        name: 'PostgresStore',
        open: async () => {
          const store = await PostgresStore.open(pgDb.url);
          await pgDb.reset();
          return { store, reopen: () => PostgresStore.open(pgDb.url), sql: (text) => pgDb.query(text) };
        },
      }
    : {
        name: 'PostgresStore',
        skip: pgDb.unavailable,
        open: () => Promise.reject(new Error(pgDb.unavailable)),
      },
];
