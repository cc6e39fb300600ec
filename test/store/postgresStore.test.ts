import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgresSchema.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { type ClaimedTask, MERGE_SEQ } from '../../src/store/store.js';
import { passthroughSpec } from '../helpers/jobSpec.js';
import { createTestDatabase, type TestDatabase } from './postgresTestDb.js';

const spec = passthroughSpec;
const TTL = 1000;
const TASKS = 10;

const pgDb = await createTestDatabase();
afterAll(async () => {
  if ('url' in pgDb) await pgDb.drop();
});
const skip = 'unavailable' in pgDb ? pgDb.unavailable : undefined;

describe.skipIf(skip !== undefined)(`PostgresStore with replicas${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const db = pgDb as TestDatabase;
  // Two coordinator replicas, each with enough connections that every call below runs on its own.
  let a: PostgresStore;
  let b: PostgresStore;

  beforeEach(async () => {
    a = await PostgresStore.open({ connectionString: db.url, max: 20 });
    b = await PostgresStore.open({ connectionString: db.url, max: 20 });
    await db.reset();
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  async function newJob() {
    return a.createJob(
      {
        key: 'k',
        spec,
        probe: {},
        framePts: Array.from({ length: TASKS * 10 }, (_, i) => i),
        chunks: Array.from({ length: TASKS }, (_, i) => ({ start: i * 10, end: i * 10 + 10 })),
      },
      0,
    );
  }

  /**
   * Runs `calls` while another transaction holds the rows `lockSql` locks, so that they all queue behind it
   * and then race each other.
   */
  async function raceBehindLock<T>(lockSql: string, calls: () => Promise<T>[]): Promise<T[]> {
    const blocker = new pg.Client(db.url);
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(lockSql);
      const racing = Promise.all(calls());
      await new Promise((r) => setTimeout(r, 200));
      await blocker.query('COMMIT');
      return await racing;
    } finally {
      await blocker.end();
    }
  }

  /** The first `count` tasks claimed through `a`, each with one segment over its whole range. */
  async function claimedAndCheckpointed(count: number): Promise<ClaimedTask[]> {
    const claims: ClaimedTask[] = [];
    for (let i = 0; i < count; i++) {
      const c = (await a.claim({ workerId: `w${i}`, pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
      await a.checkpoint(c.task.id, c.task.epoch, { range: c.task.range, key: `s${i}` }, 1);
      claims.push(c);
    }
    return claims;
  }

  /** Resolves once a session of the test database waits for a lock (asked over `client`). */
  async function untilWaitingForLock(client: pg.Client): Promise<void> {
    const waiting = async () =>
      (
        await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0].n;
    while ((await waiting()) === 0) await new Promise((r) => setTimeout(r, 20));
  }

  it('hands each task to exactly one of 20 concurrent claims', async () => {
    const job = await newJob();
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).claim({ workerId: `w${i}`, pool: 'spot', now: 0, leaseTtlMs: TTL }),
      ),
    );
    const claimed = claims.filter((c) => c !== undefined);
    expect(claimed).toHaveLength(TASKS);
    expect(new Set(claimed.map((c) => c.task.id)).size).toBe(TASKS);
    expect(claimed.every((c) => c.task.epoch === 1)).toBe(true);
    const tasks = await a.listTasks(job.id);
    expect(tasks.every((t) => t.state === 'running' && t.epoch === 1)).toBe(true);
    expect(await a.listAttempts(job.id)).toHaveLength(TASKS);
    expect(await b.claim({ workerId: 'late', pool: 'spot', now: 0, leaseTtlMs: TTL })).toBeUndefined();
  });

  it('counts each expiry once when two replicas sweep at the same moment', async () => {
    const job = await newJob();
    for (let i = 0; i < TASKS; i++)
      await a.claim({ workerId: `w${i}`, pool: 'spot', now: 0, leaseTtlMs: TTL });
    const [byA, byB] = await raceBehindLock('SELECT 1 FROM tasks FOR UPDATE', () => [
      a.expireLeases(TTL + 1),
      b.expireLeases(TTL + 1),
    ]);
    expect(byA + byB).toBe(TASKS);
    const tasks = await a.listTasks(job.id);
    expect(tasks.every((t) => t.state === 'pending' && t.preemptions === 1)).toBe(true);
    const attempts = await a.listAttempts(job.id);
    expect(attempts.map((t) => t.outcome)).toEqual(Array(TASKS).fill('expired'));
  });

  it('schedules the merge once when the last chunks complete on two replicas at once', async () => {
    const job = await newJob();
    const claims = await claimedAndCheckpointed(TASKS);
    // Each completion marks its task done, then waits on its attempt row while the others do the same.
    const results = await raceBehindLock('SELECT 1 FROM attempts FOR UPDATE', () =>
      claims.map(({ task }, i) => (i % 2 ? a : b).complete(task.id, task.epoch, 2)),
    );
    expect(results).toEqual(Array(TASKS).fill('ok'));
    expect((await a.getJob(job.id))?.state).toBe('merging');
    expect((await a.listTasks(job.id)).filter((t) => t.kind === 'merge')).toHaveLength(1);
  });

  it("leaves to the lease sweep the merge of a job whose last chunk was claimed and completed during another's completion", async () => {
    const job = await newJob();
    const claims = await claimedAndCheckpointed(TASKS - 1);
    const [slow, ...others] = claims;
    for (const { task } of others) expect(await a.complete(task.id, task.epoch, 2)).toBe('ok');
    const blocker = new pg.Client(db.url);
    await blocker.connect();
    try {
      // The slow completion sees the last chunk pending, then waits on its attempt row.
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM attempts WHERE task_id = $1 FOR UPDATE', [slow.task.id]);
      const slowDone = a.complete(slow.task.id, slow.task.epoch, 3);
      await untilWaitingForLock(blocker);
      // Meanwhile the last chunk is claimed, worked and completed; its completion sees the slow one running.
      const last = (await b.claim({ workerId: 'last', pool: 'spot', now: 2, leaseTtlMs: TTL }))!;
      await b.checkpoint(last.task.id, last.task.epoch, { range: last.task.range, key: 's-last' }, 2);
      expect(await b.complete(last.task.id, last.task.epoch, 2)).toBe('ok');
      await blocker.query('COMMIT');
      expect(await slowDone).toBe('ok');
    } finally {
      await blocker.end();
    }
    const chunks = await a.listTasks(job.id);
    expect(chunks.map((t) => `${t.kind} ${t.state}`)).toEqual(Array(TASKS).fill('process done'));
    expect((await a.getJob(job.id))?.state).toBe('running');
    await b.expireLeases(4);
    expect((await a.getJob(job.id))?.state).toBe('merging');
    expect((await a.listTasks(job.id)).filter((t) => t.kind === 'merge')).toHaveLength(1);
  });

  it('retries a failed job locking its failed tasks in id order, as heartbeat batches lock theirs', async () => {
    const job = await newJob();
    const [holder, prober] = [new pg.Client(db.url), new pg.Client(db.url)];
    await Promise.all([holder.connect(), prober.connect()]);
    try {
      // The merge task's id sorts before the chunks' ("-merge" < "-t0001"), its seq after them.
      await prober.query(
        `INSERT INTO tasks (id, job_id, kind, seq, start_frame, end_frame, next_frame, state)
         VALUES ($1 || '-merge', $1, 'merge', $2, 0, $3, 0, 'failed')`,
        [job.id, MERGE_SEQ, TASKS * 10],
      );
      await prober.query(`UPDATE tasks SET state = 'failed' WHERE id = $1 || '-t0001'`, [job.id]);
      await prober.query(`UPDATE jobs SET state = 'failed' WHERE id = $1`, [job.id]);
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM tasks WHERE id = $1 || '-merge' FOR UPDATE`, [job.id]);
      const retried = a.retryFailedJob(job.id);
      await untilWaitingForLock(prober);
      // The retry waits for the merge task, the first in id order, before it locks the chunk after it.
      await prober.query('BEGIN');
      await prober.query(`SELECT 1 FROM tasks WHERE id = $1 || '-t0001' FOR UPDATE NOWAIT`, [job.id]);
      await prober.query('ROLLBACK');
      await holder.query('COMMIT');
      await retried;
    } finally {
      await Promise.all([holder.end(), prober.end()]);
    }
    const retriedTasks = (await a.listTasks(job.id)).filter((t) => /-(merge|t0001)$/.test(t.id));
    expect(retriedTasks.map((t) => t.state)).toEqual(['pending', 'pending']);
    expect((await a.getJob(job.id))?.state).toBe('running');
  });

  it('survives the database dropping its connections mid-transaction (a restart), then works on', async () => {
    const job = await newJob();
    const blocker = new pg.Client(db.url);
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM tasks WHERE job_id = $1 FOR UPDATE', [job.id]);
      // The cancel waits for the lock inside its transaction; then the server ends every other session.
      // Its rejection may come before the terminate query answers: expect it from the start.
      const cancelRefused = expect(a.cancelJob(job.id, 1)).rejects.toThrow(/terminat/i);
      await untilWaitingForLock(blocker);
      await blocker.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      await cancelRefused;
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    // The pool let go of the dead connections: the next calls run on new ones.
    expect(await a.cancelJob(job.id, 2)).toBe(true);
    expect((await a.getJob(job.id))?.state).toBe('canceled');
  });

  it("answers each heartbeat of a batch on its own lease, and records each one's progress", async () => {
    const claimOne = async (workerId: string) => {
      const c = await a.claim({ workerId, pool: 'spot', now: 1, leaseTtlMs: TTL });
      if (!c) throw new Error('no task to claim');
      return c;
    };
    const canceledJob = await newJob();
    const canceled = await claimOne('w0');
    await a.cancelJob(canceledJob.id, 1);
    const job = await newJob();
    const [held, lost, twice] = [await claimOne('w1'), await claimOne('w2'), await claimOne('w3')];
    // Queued behind a lock on every task, the heartbeats after the first two (a statement each, in flight)
    // are sent together.
    const beat = (c: ClaimedTask, epoch: number, framesDone: number, gpuUtilization?: number) =>
      a.heartbeat(c.task.id, epoch, { framesDone, fps: framesDone / 10, gpuUtilization }, 5, TTL);
    const verdicts = await raceBehindLock('SELECT 1 FROM tasks FOR UPDATE', () => [
      beat(canceled, canceled.task.epoch, 2),
      beat(lost, lost.task.epoch + 1, 5),
      beat(held, held.task.epoch, 5, 80),
      beat(twice, twice.task.epoch, 7),
      beat(twice, twice.task.epoch, 3),
      a.heartbeat(`${job.id}-t9999`, 1, { framesDone: 1 }, 5, TTL),
    ]);
    expect(verdicts).toEqual(['canceled', 'stale', 'ok', 'ok', 'ok', 'stale']);
    const progress = async (c: ClaimedTask) => {
      const attempt = await a.getAttempt(c.task.id, c.task.epoch);
      const task = await a.getTask(c.task.id);
      return [attempt?.framesDone, attempt?.fps, attempt?.gpuUtilization, task?.leaseExpiresAt];
    };
    expect(await progress(held)).toEqual([5, 0.5, 80, 5 + TTL]);
    expect(await progress(twice)).toEqual([7, 0.3, null, 5 + TTL]);
    expect(await progress(lost)).toEqual([0, null, null, 1 + TTL]);
  });

  it('has the lease sweep queue a merge that a coordinator died before scheduling', async () => {
    const job = await newJob();
    for (let i = 0; i < TASKS; i++) {
      const c = (await a.claim({ workerId: `w${i}`, pool: 'spot', now: 0, leaseTtlMs: TTL }))!;
      await a.checkpoint(c.task.id, c.task.epoch, { range: c.task.range, key: `s${i}` }, 1);
      await a.complete(c.task.id, c.task.epoch, 2);
    }
    // As if the last completion committed and its process died before scheduling the merge.
    await db.query(`DELETE FROM tasks WHERE kind = 'merge'`);
    await db.query(`UPDATE jobs SET state = 'running'`);
    await Promise.all([a.expireLeases(3), b.expireLeases(3)]);
    expect((await a.getJob(job.id))?.state).toBe('merging');
    expect((await a.listTasks(job.id)).filter((t) => t.kind === 'merge')).toHaveLength(1);
  });
});

describe.skipIf(skip !== undefined)(`PostgresStore migrations${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('lets two replicas migrate the same fresh database at once', async () => {
    const fresh = (await createTestDatabase()) as TestDatabase;
    try {
      const stores = await Promise.all([PostgresStore.open(fresh.url), PostgresStore.open(fresh.url)]);
      await Promise.all(stores.map((s) => s.close()));
      const versions = await fresh.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY 1',
      );
      expect(versions.map((v) => v.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    } finally {
      await fresh.drop();
    }
  });
});

describe.skipIf(skip !== undefined)(`PostgresStore lease plans${skip ? ` (skipped: ${skip})` : ''}`, () => {
  /**
   * Waits until no other connection than `keptPid`'s is open on the database: each one has reported its
   * statistics then.
   */
  async function connectionsGone(db: TestDatabase, keptPid = 0): Promise<void> {
    for (;;) {
      const [{ n }] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), ${keptPid})`,
      );
      if (n === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * A migrated database whose counters start at 0, and a store on it holding a job of `tasks` chunks. The
   * tables are `analyzed` while empty (what a generic plan made on small tables sees), or never, as a new
   * cluster's are until autovacuum first comes by.
   */
  async function storeOnFreshTables(
    fresh: TestDatabase,
    tasks: number,
    analyzed: boolean,
  ): Promise<PostgresStore> {
    await (await PostgresStore.open(fresh.url)).close();
    if (analyzed) await fresh.query('VACUUM ANALYZE');
    await connectionsGone(fresh);
    await fresh.query('SELECT pg_stat_reset()');
    const store = await PostgresStore.open(fresh.url);
    const framePts = Array.from({ length: tasks * 10 }, (_, i) => i);
    const chunks = Array.from({ length: tasks }, (_, i) => ({ start: i * 10, end: i * 10 + 10 }));
    await store.createJob({ key: 'k', spec, probe: {}, framePts, chunks }, 0);
    return store;
  }

  it('reaches every row of a lease call by index, even while the tables are small', async () => {
    const fresh = (await createTestDatabase()) as TestDatabase;
    try {
      // A statement's generic plan made on a small table would be a sequential scan, kept as the table grows.
      const store = await storeOnFreshTables(fresh, TASKS, true);
      // More calls than a connection makes before it keeps a generic plan (5).
      for (let now = 1; ; now++) {
        const c = await store.claim({ workerId: 'w', pool: 'spot', now, leaseTtlMs: TTL });
        if (!c) break;
        expect(await store.heartbeat(c.task.id, c.task.epoch, { framesDone: 1 }, now, TTL)).toBe('ok');
        if (c.task.kind === 'process') {
          const seg = { range: c.task.range, key: `s${now}` };
          expect(await store.checkpoint(c.task.id, c.task.epoch, seg, now)).toBe('ok');
        }
        expect(await store.getTask(c.task.id)).toBeDefined();
        expect(await store.complete(c.task.id, c.task.epoch, now)).toBe('ok');
      }
      await store.close();
      await connectionsGone(fresh);
      const scans = await fresh.query<{ relname: string; seq_scan: number }>(
        `SELECT relname, seq_scan::int FROM pg_stat_user_tables
         WHERE relname IN ('jobs', 'tasks', 'segments', 'attempts') AND seq_scan > 0`,
      );
      expect(scans).toEqual([]);
    } finally {
      await fresh.drop();
    }
  });
  it("checks whether a completion was a job's last chunk from a few index entries, though none can be skipped", async () => {
    const fresh = (await createTestDatabase()) as TestDatabase;
    const chunks = 400;
    // An open transaction (one with an xid here; in the same database, a backup's snapshot or a long report
    // does the same) keeps index entries of the rows that lease calls replace from being marked dead: every
    // scan that meets them reads them.
    const horizon = new pg.Client({ connectionString: fresh.url });
    try {
      const store = await storeOnFreshTables(fresh, chunks, false);
      await horizon.connect();
      await horizon.query('BEGIN');
      await horizon.query('SELECT txid_current()');
      const [{ pid }] = (await horizon.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
      const claimed: ClaimedTask[] = [];
      for (let now = 1; now <= chunks; now++) {
        const c = await store.claim({ workerId: 'w', pool: 'spot', now, leaseTtlMs: TTL });
        if (!c) throw new Error(`claim ${now} found no task`);
        expect(
          await store.checkpoint(c.task.id, c.task.epoch, { range: c.task.range, key: `s${now}` }, now),
        ).toBe('ok');
        claimed.push(c);
      }
      await store.close();
      await connectionsGone(fresh, pid);
      await fresh.query('SELECT pg_stat_reset()');
      // Every chunk leased and checkpointed, then completed in order: each completion asks whether the job's
      // last other unfinished chunk is pending and then, none being pending, whether any is unfinished (the
      // merge check). Planned over the job's index of all its tasks, a bitmap scan of its unfinished ones or
      // a search of its pending ones (all of whose entries are dead now), each reads them all (160,000 index
      // entries or more in all here).
      const completing = await PostgresStore.open(fresh.url);
      for (const c of claimed)
        expect(await completing.complete(c.task.id, c.task.epoch, chunks + 1)).toBe('ok');
      expect((await completing.getJob(claimed[0].task.jobId))?.state).toBe('merging');
      await completing.close();
      await connectionsGone(fresh, pid);
      const [{ read }] = await fresh.query<{ read: number }>(
        `SELECT sum(idx_tup_read)::int AS read FROM pg_stat_user_indexes WHERE relname = 'tasks'`,
      );
      expect(read).toBeLessThan(chunks * 25);
    } finally {
      await horizon.end();
      await fresh.drop();
    }
  });
});
