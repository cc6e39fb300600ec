/**
 * Calls of one kind sent as few statements: while `maxInFlight` statements of the kind are running, the calls
 * that arrive wait, and the next statement carries all of them (up to `maxCalls`). Below that a call goes
 * at once, alone, so batching adds no wait to a quiet store; under load each call's share of the round trip,
 * the transaction and the commit shrinks with the batch.
 *
 * A statement carries one call per key at most (a task's heartbeat twice in one statement would update its
 * row twice), and a call whose key a running statement carries waits until that statement is answered: two
 * statements in flight may run in either order, and a task's older heartbeat must not land after its newer
 * one (it would move the lease's expiry back). Calls for one key are sent in the order they came.
 */
export interface StatementBatchOptions<C> {
  maxInFlight: number;
  maxCalls: number;
  key(call: C): string;
}

interface Waiting<C, R> {
  call: C;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class StatementBatch<C, R> {
  private waiting: Array<Waiting<C, R>> = [];
  private inFlight = 0;
  /** The keys the running statements carry. */
  private readonly running = new Set<string>();

  /** `run` makes one statement of `calls` and answers each, in their order; its failure fails them all. */
  constructor(
    private readonly run: (calls: C[]) => Promise<R[]>,
    private readonly options: StatementBatchOptions<C>,
  ) {}

  submit(call: C): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ call, resolve, reject });
      this.sendNext();
    });
  }

  private sendNext(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const batch = this.take();
      if (batch.length === 0) return;
      const keys = batch.map((w) => this.options.key(w.call));
      for (const key of keys) this.running.add(key);
      this.inFlight++;
      this.send(batch).finally(() => {
        for (const key of keys) this.running.delete(key);
        this.inFlight--;
        this.sendNext();
      });
    }
  }

  private async send(batch: Array<Waiting<C, R>>): Promise<void> {
    try {
      const results = await this.run(batch.map((w) => w.call));
      if (results.length !== batch.length) {
        throw new Error(`a batch of ${batch.length} calls was answered ${results.length} times`);
      }
      for (const [i, w] of batch.entries()) w.resolve(results[i]);
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }

  /**
   * The oldest waiting calls, one per key and none for a key a running statement carries, up to `maxCalls`;
   * the others keep their places.
   */
  private take(): Array<Waiting<C, R>> {
    const keys = new Set<string>(this.running);
    const batch: Array<Waiting<C, R>> = [];
    const rest: Array<Waiting<C, R>> = [];
    for (const w of this.waiting) {
      const key = this.options.key(w.call);
      if (batch.length < this.options.maxCalls && !keys.has(key)) {
        keys.add(key);
        batch.push(w);
      } else {
        rest.push(w);
      }
    }
    this.waiting = rest;
    return batch;
  }
}
