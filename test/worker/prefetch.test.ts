import { describe, expect, it } from 'vitest';
import { prefetch } from '../../src/worker/prefetch.js';

describe('prefetch', () => {
  it('reads ahead at most `depth` items and yields them in order', async () => {
    let produced = 0;
    async function* source() {
      for (let i = 0; i < 20; i++) {
        produced++;
        yield i;
      }
    }
    const seen: number[] = [];
    const aheadWhenConsumed: number[] = [];
    for await (const x of prefetch(source(), 4)) {
      await new Promise((r) => setTimeout(r, 1));
      aheadWhenConsumed.push(produced - x);
      seen.push(x);
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(Math.max(...aheadWhenConsumed)).toBeLessThanOrEqual(5);
    expect(Math.max(...aheadWhenConsumed)).toBeGreaterThan(1);
  });

  it('closes the source when the consumer stops early', async () => {
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    for await (const x of prefetch(source(), 3)) if (x === 5) break;
    expect(closed).toBe(true);
  });

  it('passes on an error of the source', async () => {
    async function* source() {
      yield 1;
      throw new Error('decoder died');
    }
    const run = async () => {
      for await (const _ of prefetch(source(), 3)) {
      }
    };
    await expect(run()).rejects.toThrow('decoder died');
  });

  it('leaves no rejection unhandled when the source fails while the consumer is busy', async () => {
    async function* source() {
      yield 1;
      throw new Error('decoder killed');
    }
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const run = async () => {
        for await (const _ of prefetch(source(), 3)) await new Promise((r) => setTimeout(r, 20));
      };
      await expect(run()).rejects.toThrow('decoder killed');
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(unhandled).toEqual([]);
  });
});
