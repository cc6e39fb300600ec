import pg from 'pg';

/**
 * Group commit for the lease calls that must be durable before they answer (claims, checkpoints,
 * completions). They commit without waiting for the WAL flush (synchronous_commit off), which frees their
 * pool connection at once, and then wait here for one flush that covers every commit made before it: a
 * transaction of this store's own connection that commits synchronously. WAL is flushed in order, so that
 * flush makes every earlier commit durable. One flush runs at a time; the commits that come meanwhile share
 * the next one.
 *
 * Why: with each call flushing its own commit, 2,000 calls/s on two cores kept the flushing pool's
 * connections waiting their turn for PostgreSQL's WAL-write lock (80 % of the busy backends' samples) while
 * the calls behind them waited for a connection, though a flush took 0.1 ms.
 *
 * A commit is only made durable by a flush on the connection that was open when its statement was sent
 * (`session()`): a database crash ends every connection, so a flush that succeeds on that connection proves
 * the server did not restart in between, where one on a new connection could follow a crash that lost
 * the commit. Lost, or reconnected meanwhile, the flush fails and so does the call, as a call whose commit
 * fails does.
 *
 * Other sessions may read such a commit before it is flushed, as they read heartbeats: a crash can undo
 * what a read showed, never what a call was answered (a call refused on a claim that a crash then undid
 * stops a worker whose lease was lost anyway; the epoch that claim took was never handed out).
 */
export class GroupCommit {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  /** Counts the flush connections opened: a waiter of an earlier one cannot be made durable by this one. */
  private generation = 0;
  private waiting: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private flushing = false;
  private closed = false;
  /** Flushes made so far: with the commits they covered, how well commits are grouped. */
  flushes = 0;

  constructor(private readonly config: pg.ClientConfig) {}

  /** Opens the flush connection if needed; call before the statement, and pass what it returns to `durable`. */
  async session(): Promise<number> {
    if (!this.client) await this.connect();
    return this.generation;
  }

  /** Resolves once a commit made after `session()` returned `generation` is flushed. */
  durable(generation: number): Promise<void> {
    if (generation !== this.generation || !this.client) return Promise.reject(lost());
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.drop(new Error('the store is closed'));
    await client?.end().catch(() => {});
  }

  private connect(): Promise<pg.Client> {
    this.connecting ??= (async () => {
      if (this.closed) throw new Error('the store is closed');
      const client = new pg.Client({ ...this.config, application_name: 'spotfuse group commit' });
      const ended = (error: Error) => {
        if (this.client === client) this.drop(error);
      };
      client.on('error', ended);
      client.on('end', () => ended(new Error('the connection ended')));
      try {
        await client.connect();
      } catch (error) {
        this.connecting = undefined;
        throw error;
      }
      this.generation++;
      this.client = client;
      this.connecting = undefined;
      return client;
    })();
    return this.connecting;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.waiting.length > 0 && this.client) {
      const batch = this.waiting;
      this.waiting = [];
      const client = this.client;
      try {
        // The smallest transaction whose commit PostgreSQL flushes: it must take a transaction id and write
        // WAL (txid_current() alone commits without a flush). A transactional WAL message does both, with
        // no table to update; only logical decoding reads it (pgoutput passes it on when asked for messages).
        await client.query({
          name: 'sf_flush',
          text: "SELECT pg_logical_emit_message(true, 'spotfuse.flush', '')",
        });
      } catch (error) {
        for (const w of batch) w.reject(Object.assign(lost(), { cause: error }));
        if (this.client === client) {
          this.drop(error as Error);
          client.end().catch(() => {});
        }
        continue;
      }
      this.flushes++;
      for (const w of batch) w.resolve();
    }
    this.flushing = false;
  }

  /** Forgets the connection and fails whoever waits on it. */
  private drop(error: Error): void {
    this.client = undefined;
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.reject(Object.assign(lost(), { cause: error }));
  }
}

function lost(): Error {
  return new Error('the connection that makes commits durable was lost: the commit may not be');
}
