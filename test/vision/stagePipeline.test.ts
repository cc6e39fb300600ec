import { describe, expect, it } from 'vitest';
import { StagePipeline } from '../../src/vision/processors/stagePipeline.js';

/** A stage that waits for the test to let each item out, and records what it held when. */
class GatedStage {
  readonly events: string[] = [];
  private readonly gates = new Map<number, () => void>();
  private holding = 0;
  maxHeld = 0;

  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {}

  readonly stage = async (item: number): Promise<number> => {
    this.holding++;
    this.maxHeld = Math.max(this.maxHeld, this.holding);
    this.log.push(`${this.name} in ${item}`);
    await new Promise<void>((resolve) => this.gates.set(item, resolve));
    this.log.push(`${this.name} out ${item}`);
    this.holding--;
    return item;
  };

  /** Lets `item` out once it has come in. */
  async release(item: number): Promise<void> {
    while (!this.gates.has(item)) await new Promise((resolve) => setImmediate(resolve));
    this.gates.get(item)!();
  }
}

describe('StagePipeline', () => {
  it('overlaps items across stages, one item per stage at a time, in the order they came', async () => {
    const log: string[] = [];
    const [a, b] = [new GatedStage('a', log), new GatedStage('b', log)];
    const pipeline = new StagePipeline<number>();
    pipeline.add(a.stage);
    pipeline.add(b.stage);
    const done: number[] = [];
    const runs = [0, 1, 2].map((item) => pipeline.run(item).then((out) => done.push(out)));
    await a.release(0);
    // Item 1 enters stage a while item 0 is in stage b.
    await a.release(1);
    await b.release(0);
    // Let item 2 through a, item 1 through b, out of the natural order of the test's releases.
    await a.release(2);
    await b.release(1);
    await b.release(2);
    await Promise.all(runs);
    expect(done).toEqual([0, 1, 2]);
    expect(log.indexOf('a in 1')).toBeLessThan(log.indexOf('b out 0'));
    expect(log.filter((line) => line.startsWith('b'))).toEqual([
      'b in 0',
      'b out 0',
      'b in 1',
      'b out 1',
      'b in 2',
      'b out 2',
    ]);
    expect([a.maxHeld, b.maxHeld]).toEqual([1, 1]);
  });

  it('with each item awaited before the next, runs them one after the other as a plain loop would', async () => {
    const log: string[] = [];
    const pipeline = new StagePipeline<number>();
    pipeline.add((n) => {
      log.push(`double ${n}`);
      return n * 2;
    });
    pipeline.add(async (n) => {
      log.push(`add ${n}`);
      return n + 1;
    });
    expect(await pipeline.run(1)).toBe(3);
    expect(await pipeline.run(5)).toBe(11);
    expect(log).toEqual(['double 1', 'add 2', 'double 5', 'add 10']);
  });

  it('a failed item skips its later stages, and the next item still waits for the one before in each stage', async () => {
    const log: string[] = [];
    const slow = new GatedStage('slow', log);
    const pipeline = new StagePipeline<number>();
    pipeline.add((n) => {
      if (n === 1) throw new Error('bad frame 1');
      return n;
    });
    pipeline.add(slow.stage);
    const first = pipeline.run(0);
    const failed = pipeline.run(1);
    failed.catch(() => {});
    const third = pipeline.run(2);
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    // Item 0 still holds the slow stage: item 2 has not entered it.
    expect(log).toEqual(['slow in 0']);
    await slow.release(0);
    await expect(failed).rejects.toThrow('bad frame 1');
    await slow.release(2);
    expect([await first, await third]).toEqual([0, 2]);
    expect(log).toEqual(['slow in 0', 'slow out 0', 'slow in 2', 'slow out 2']);
    expect(slow.maxHeld).toBe(1);
  });
});
