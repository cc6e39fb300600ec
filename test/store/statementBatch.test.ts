import { describe, expect, it } from 'vitest';
import { StatementBatch } from '../../src/store/statementBatch.js';

interface Call {
  key: string;
  value: number;
}

/** A batch whose statements wait until the test ends them, recording the calls each carried. */
function heldStatements(maxInFlight = 1, maxCalls = 10) {
  const statements: Array<{ calls: Call[]; end(answers?: string[]): void; fail(error: Error): void }> = [];
  const batch = new StatementBatch<Call, string>(
    (calls) =>
      new Promise((resolve, reject) => {
        statements.push({
          calls,
          end: (answers) => resolve(answers ?? calls.map((c) => `${c.key}=${c.value}`)),
          fail: reject,
        });
      }),
    { maxInFlight, maxCalls, key: (call) => call.key },
  );
  return { batch, statements };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('StatementBatch', () => {
  it('sends a call at once, alone, while fewer statements than the limit run', async () => {
    const { batch, statements } = heldStatements(2);
    const a = batch.submit({ key: 'a', value: 1 });
    const b = batch.submit({ key: 'b', value: 2 });
    expect(statements.map((s) => s.calls.map((c) => c.key))).toEqual([['a'], ['b']]);
    statements[1].end();
    statements[0].end();
    expect(await Promise.all([a, b])).toEqual(['a=1', 'b=2']);
  });

  it('gathers the calls that arrive while the limit runs into the next statement, answering each its own', async () => {
    const { batch, statements } = heldStatements(1);
    const first = batch.submit({ key: 'a', value: 1 });
    const waiting = ['b', 'c', 'd'].map((key, i) => batch.submit({ key, value: i }));
    expect(statements).toHaveLength(1);
    statements[0].end();
    await first;
    await settle();
    expect(statements.map((s) => s.calls.map((c) => c.key))).toEqual([['a'], ['b', 'c', 'd']]);
    statements[1].end();
    expect(await Promise.all(waiting)).toEqual(['b=0', 'c=1', 'd=2']);
  });

  it('carries one call per key and at most maxCalls in a statement; the rest keep their order', async () => {
    const { batch, statements } = heldStatements(1, 3);
    const calls = [
      { key: 'a', value: 0 },
      { key: 'x', value: 1 },
      { key: 'x', value: 2 },
      { key: 'y', value: 3 },
      { key: 'z', value: 4 },
      { key: 'w', value: 5 },
    ];
    const answers = calls.map((call) => batch.submit(call));
    for (let i = 0; i < 4; i++) {
      statements[i]?.end();
      await settle();
    }
    expect(statements.map((s) => s.calls.map((c) => c.value))).toEqual([[0], [1, 3, 4], [2, 5]]);
    expect(await Promise.all(answers)).toEqual(['a=0', 'x=1', 'x=2', 'y=3', 'z=4', 'w=5']);
  });

  it("holds a key's next call until the running statement that carries the key is answered", async () => {
    const { batch, statements } = heldStatements(2);
    const older = batch.submit({ key: 'a', value: 1 });
    const newer = batch.submit({ key: 'a', value: 2 });
    const other = batch.submit({ key: 'b', value: 3 });
    // A free slot takes b, not a's newer call, which could otherwise overtake the older one.
    expect(statements.map((s) => s.calls.map((c) => c.value))).toEqual([[1], [3]]);
    statements[1].end();
    await other;
    await settle();
    expect(statements).toHaveLength(2);
    statements[0].end();
    await older;
    await settle();
    expect(statements.map((s) => s.calls.map((c) => c.value))).toEqual([[1], [3], [2]]);
    statements[2].end();
    expect(await newer).toBe('a=2');
  });

  it('fails every call of a failed statement, and only those; the next statement runs', async () => {
    const { batch, statements } = heldStatements(1);
    const first = batch.submit({ key: 'a', value: 1 });
    const second = [batch.submit({ key: 'b', value: 2 }), batch.submit({ key: 'c', value: 3 })];
    const third = batch.submit({ key: 'b', value: 4 });
    statements[0].end();
    await first;
    await settle();
    statements[1].fail(new Error('connection lost'));
    for (const call of second) await expect(call).rejects.toThrow('connection lost');
    await settle();
    statements[2].end();
    expect(await third).toBe('b=4');
  });

  it('fails the calls of a statement answered a wrong number of times', async () => {
    const { batch, statements } = heldStatements(1);
    const call = batch.submit({ key: 'a', value: 1 });
    statements[0].end([]);
    await expect(call).rejects.toThrow('a batch of 1 calls was answered 0 times');
  });
});
