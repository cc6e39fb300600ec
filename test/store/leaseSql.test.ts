import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  continuesChain,
  decideLostLease,
  leaseExpired,
  leaseVerdict,
  mayComplete,
} from '../../src/core/lease.js';
import type { JobState, TaskKind, TaskState } from '../../src/core/types.js';
import {
  continuesChainSql,
  LOST_LEASE_SET_SQL,
  leaseExpiredSql,
  leaseHeldSql,
  MAY_COMPLETE_SQL,
} from '../../src/store/leaseSql.js';
import { createTestDatabase } from './postgresTestDb.js';

/**
 * The SQL fragments that the one-statement lease calls decide with must say what the core verdicts say:
 * each is evaluated, in SQLite and in PostgreSQL, on every combination of the values its verdict reads.
 */

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});

const TASK_STATES: TaskState[] = ['pending', 'running', 'done', 'failed', 'canceled'];
const JOB_STATES: JobState[] = ['running', 'merging', 'completed', 'failed', 'canceled'];
const KINDS: TaskKind[] = ['process', 'merge'];

interface Case {
  epoch: number;
  state: TaskState;
  job_state: JobState;
  next_frame: number;
  end_frame: number;
  kind: TaskKind;
  lease_expires_at: number | null;
  /** The caller's values, where a fragment has placeholders. */
  c_epoch: number;
  c_start: number;
  c_end: number;
  c_now: number;
}

const base: Case = {
  epoch: 1,
  state: 'running',
  job_state: 'running',
  next_frame: 10,
  end_frame: 20,
  kind: 'process',
  lease_expires_at: 100,
  c_epoch: 1,
  c_start: 10,
  c_end: 20,
  c_now: 100,
};

function grid(axes: { [K in keyof Case]?: readonly Case[K][] }): Case[] {
  let cases: Case[] = [base];
  for (const [key, values] of Object.entries(axes)) {
    cases = cases.flatMap((c) => (values as unknown[]).map((v) => ({ ...c, [key]: v })));
  }
  return cases;
}

const COLUMNS = Object.keys(base) as (keyof Case)[];
const literal = (v: unknown) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v}'`);

/** `SELECT` of `predicate` over the cases, in case order (1 true, 0 false or NULL). */
function selectSql(predicate: string, cases: Case[]): string {
  const values = cases.map((c, i) => `(${[i, ...COLUMNS.map((k) => literal(c[k]))].join(', ')})`);
  return `WITH x (i, ${COLUMNS.join(', ')}) AS (VALUES ${values.join(', ')})
    SELECT CASE WHEN ${predicate} THEN 1 ELSE 0 END AS v FROM x ORDER BY i`;
}

type Dialect = { name: string; skip?: string; run(sql: string): Promise<number[]> };
const dialects: Dialect[] = [
  {
    name: 'SQLite',
    run: async (sql) => {
      const db = new Database(':memory:');
      try {
        return (db.prepare(sql).all() as { v: number }[]).map((r) => r.v);
      } finally {
        db.close();
      }
    },
  },
  'url' in pgDb
    ? { name: 'PostgreSQL', run: async (sql) => (await pgDb.query<{ v: number }>(sql)).map((r) => r.v) }
    : { name: 'PostgreSQL', skip: pgDb.unavailable, run: () => Promise.reject(new Error('unavailable')) },
];

const fragments: { name: string; sql: string; core: (c: Case) => boolean; cases: Case[] }[] = [
  {
    name: 'leaseHeldSql ≡ leaseVerdict(…) === ok',
    sql: leaseHeldSql('c_epoch'),
    core: (c) => leaseVerdict({ epoch: c.epoch, state: c.state, jobState: c.job_state }, c.c_epoch) === 'ok',
    cases: grid({ state: TASK_STATES, job_state: JOB_STATES, epoch: [1, 2], c_epoch: [1, 2] }),
  },
  {
    name: 'continuesChainSql ≡ continuesChain',
    sql: continuesChainSql('c_start', 'c_end'),
    core: (c) =>
      continuesChain({ nextFrame: c.next_frame, endFrame: c.end_frame }, { start: c.c_start, end: c.c_end }),
    cases: grid({
      next_frame: [0, 10, 20],
      end_frame: [20, 30],
      c_start: [0, 5, 10, 20],
      c_end: [0, 5, 10, 15, 20, 25, 30, 40],
    }),
  },
  {
    name: 'MAY_COMPLETE_SQL ≡ mayComplete',
    sql: MAY_COMPLETE_SQL,
    core: (c) => mayComplete({ kind: c.kind, nextFrame: c.next_frame, endFrame: c.end_frame }),
    cases: grid({ kind: KINDS, next_frame: [0, 10, 19, 20, 30] }),
  },
  {
    name: 'leaseExpiredSql ≡ leaseExpired',
    sql: leaseExpiredSql('c_now'),
    core: (c) => leaseExpired({ state: c.state, leaseExpiresAt: c.lease_expires_at }, c.c_now),
    cases: grid({ state: TASK_STATES, lease_expires_at: [null, 50, 99, 100, 101, 150] }),
  },
];

describe.each(dialects)('lease SQL in $name', (dialect) => {
  it.skipIf(dialect.skip !== undefined).each(fragments)('$name', async (f) => {
    const got = await dialect.run(selectSql(f.sql, f.cases));
    expect(got).toEqual(f.cases.map((c) => (f.core(c) ? 1 : 0)));
    // Both answers occur: a fragment that is always true (or false) would prove nothing.
    expect(new Set(got).size).toBe(2);
  });
});

describe('LOST_LEASE_SET_SQL ≡ decideLostLease', () => {
  const tasks = [
    { failures: 0, preemptions: 0 },
    { failures: 2, preemptions: 5 },
  ];
  const table = `CREATE TABLE lost (i INTEGER, state TEXT, failures INTEGER, preemptions INTEGER,
    worker_id TEXT, lease_expires_at BIGINT)`;
  const rows = `INSERT INTO lost VALUES ${tasks
    .map((t, i) => `(${i}, 'running', ${t.failures}, ${t.preemptions}, 'w', 5)`)
    .join(', ')}`;
  const update = `UPDATE lost SET ${LOST_LEASE_SET_SQL}`;
  const select = 'SELECT state, failures, preemptions, worker_id, lease_expires_at FROM lost ORDER BY i';
  const expected = tasks.map((t) => ({ ...decideLostLease(t), worker_id: null, lease_expires_at: null }));

  it('in SQLite', () => {
    const db = new Database(':memory:');
    for (const sql of [table, rows, update]) db.exec(sql);
    expect(db.prepare(select).all()).toEqual(expected);
    db.close();
  });

  it.skipIf(!('url' in pgDb))('in PostgreSQL', async () => {
    if (!('url' in pgDb)) return;
    for (const sql of [table, rows, update]) await pgDb.query(sql);
    expect(await pgDb.query(select)).toEqual(expected);
  });
});
