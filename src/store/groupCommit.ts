import pg from 'pg';

/**
 * Group commit for the lease calls that must be durable before they answer (claims, checkpoints,
 * completions). They commit without waiting for the WAL flush (synchronous_commit off), which frees their
 * pool connection at once, and then wait here for one flush that covers every commit made before it: a
 * transaction of this store's own connections that commits synchronously. WAL is flushed in order, so that
 * flush makes every earlier commit durable. Each flush covers all the commits waiting when it starts.
 *
 * Why: with each call flushing its own commit, 2,000 calls/s on two cores kept the flushing pool's
 * connections waiting their turn for PostgreSQL's WAL-write lock (80 % of the busy backends' samples) while
 * the calls behind them waited for a connection, though a flush took 0.1 ms.
 *
 * A commit is only made durable by a flush on a connection that was open when its statement was sent
 * (`session()`): a database crash ends every connection, so a flush that succeeds on such a connection proves
 * the server did not restart in between, where one on a new connection could follow a crash that lost
 * the commit. Lost, or reconnected meanwhile, the flush fails and so does the call, as a call whose commit
 * fails does.
 *
 * Other sessions may read such a commit before it is flushed, as they read heartbeats: a crash can undo
 * what a read showed, never what a call was answered (a call refused on a claim that a crash then undid
 * stops a worker whose lease was lost anyway; the epoch that claim took was never handed out).
 */
/**
 * Flushes at a time: while one writes the WAL, the next waits in PostgreSQL for the WAL-write lock with the
 * commits that came meanwhile, and the running one's write often covers it already. With one, those commits
 * waited for the running flush to answer, then for a round trip and a flush of their own.
 */
const FLUSH_CONNECTIONS = 2;

export class GroupCommit {
  /** The flush connections of the current generation, and those of them not flushing now. */
  private clients: pg.Client[] = [];
  private idle: pg.Client[] = [];
  private connecting: Promise<void> | undefined;
  private ending: Promise<unknown> | undefined;
  /** Counts the sets of flush connections opened: a commit made under one cannot be made durable by the next. */
  private generation = 0;
  private waiting: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private closed = false;
  /** Flushes made so far: with the commits they covered, how well commits are grouped. */
  flushes = 0;

  constructor(private readonly config: pg.ClientConfig) {}

  /** Opens the flush connections if needed; call before the statement, and pass what it returns to `durable`. */
  async session(): Promise<number> {
    if (this.clients.length === 0) await this.connect();
    return this.generation;
  }

  /** Resolves once a commit made after `session()` returned `generation` is flushed. */
  durable(generation: number): Promise<void> {
    if (generation !== this.generation || this.clients.length === 0) return Promise.reject(lost());
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.flushNext();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => {});
    this.drop(new Error('the store is closed'));
    await this.ending;
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      try {
        if (this.closed) throw new Error('the store is closed');
        const opened = await Promise.allSettled(
          Array.from({ length: FLUSH_CONNECTIONS }, async () => {
            const client = new pg.Client({ ...this.config, application_name: 'spotfuse group commit' });
            const ended = (error: Error) => {
              if (this.clients.includes(client)) this.drop(error);
            };
            client.on('error', ended);
            client.on('end', () => ended(new Error('the connection ended')));
            await client.connect();
            return client;
          }),
        );
        const clients = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
        const failed = opened.find((o) => o.status === 'rejected');
        if (failed) {
          for (const client of clients) client.end().catch(() => {});
          throw failed.reason;
        }
        this.generation++;
        this.clients = clients;
        this.idle = [...clients];
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  /** Starts a flush for the commits waiting, on an idle connection; with none idle, the next one freed does. */
  private flushNext(): void {
    if (this.waiting.length === 0) return;
    const client = this.idle.pop();
    if (!client) return;
    const batch = this.waiting;
    this.waiting = [];
    // The smallest transaction whose commit PostgreSQL flushes: it must take a transaction id and write
    // WAL (txid_current() alone commits without a flush). A transactional WAL message does both, with
    // no table to update; only logical decoding reads it (pgoutput passes it on when asked for messages).
    client
      .query({ name: 'sf_flush', text: "SELECT pg_logical_emit_message(true, 'spotfuse.flush', '')" })
      .then(
        () => {
          this.flushes++;
          for (const w of batch) w.resolve();
          if (!this.clients.includes(client)) return;
          this.idle.push(client);
          this.flushNext();
        },
        (error: Error) => {
          for (const w of batch) w.reject(Object.assign(lost(), { cause: error }));
          if (this.clients.includes(client)) this.drop(error);
        },
      );
  }

  /** Closes the flush connections and fails whoever waits on them. */
  private drop(error: Error): void {
    const clients = this.clients;
    this.clients = [];
    this.idle = [];
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.reject(Object.assign(lost(), { cause: error }));
    this.ending = Promise.all(clients.map((client) => client.end().catch(() => {})));
  }
}

function lost(): Error {
  return new Error('the connection that makes commits durable was lost: the commit may not be');
}
