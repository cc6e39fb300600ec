import { describe, expect, it } from 'vitest';
import type { Attempt, Task } from '../../src/core/types.js';
import { attemptCost, jobCost } from '../../src/cost/accounting.js';
import type { PriceEntry, PriceTable } from '../../src/cost/prices.js';

const price = (cloud: string, instanceType: string, onDemand: number, spot: number): PriceEntry => ({
  cloud,
  instanceType,
  onDemand,
  spot,
  asOf: '2024-06',
  source: 'test',
});
const prices: PriceTable = {
  entries: [price('aws', 'p3.2xlarge', 3.06, 0.92), price('aws', 'g5.xlarge', 1.006, 0.4)],
  localPerHour: 0.5,
};

const MIN = 60_000;
let nextId = 1;
function attempt(over: Partial<Attempt>): Attempt {
  return {
    id: nextId++,
    taskId: 't1',
    jobId: 'j',
    workerId: 'w',
    epoch: 1,
    startedAt: 0,
    endedAt: 60 * MIN,
    outcome: 'completed',
    framesDone: 0,
    framesCheckpointed: 0,
    error: null,
    cloud: 'aws',
    instanceType: 'p3.2xlarge',
    zone: 'us-east-1a',
    lifecycle: 'spot',
    fps: null,
    gpuUtilization: null,
    gpuMemoryUsedMiB: null,
    gpuMemoryTotalMiB: null,
    ...over,
  };
}

describe('cost accounting', () => {
  // Two spot attempts on p3.2xlarge ($0.92/h spot, $3.06/h on-demand): the first is preempted after 30
  // minutes with 300 frames done and 200 checkpointed; the second runs the task to the end in an hour.
  const preempted = attempt({
    endedAt: 30 * MIN,
    outcome: 'preempted',
    framesDone: 300,
    framesCheckpointed: 200,
  });
  const completed = attempt({
    startedAt: 30 * MIN,
    endedAt: 90 * MIN,
    framesDone: 500,
    framesCheckpointed: 500,
  });

  it('prices a preempted spot attempt and counts the share of its time that went into lost frames', () => {
    const c = attemptCost(preempted, prices, 0);
    expect(c.gpuSeconds).toBe(1800);
    expect(c.wastedGpuSeconds).toBe(600); // 100 of its 300 frames are redone
    expect(c.paid).toBeCloseTo(0.46, 10);
    expect(c.onDemand).toBeCloseTo(1.53, 10);
  });

  it('adds up two spot attempts: $1.38 paid against $4.59 on-demand, 69.93% saved', () => {
    const cost = jobCost([preempted, completed], prices, 0);
    expect(cost).toEqual({
      currency: 'USD',
      paid: 1.38,
      onDemand: 4.59,
      saving: 3.21,
      savingPercent: 69.93,
      gpuSeconds: 5400,
      usefulGpuSeconds: 4800,
      wastedGpuSeconds: 600,
      unpricedGpuSeconds: 0,
      unpricedInstanceTypes: [],
    });
  });

  it('bills on-demand attempts at the on-demand price: no saving on them', () => {
    const c = attemptCost(
      attempt({ instanceType: 'g5.xlarge', lifecycle: 'on-demand', endedAt: 15 * MIN }),
      prices,
      0,
    );
    expect(c.paid).toBeCloseTo(0.2515, 10);
    expect(c.onDemand).toBeCloseTo(0.2515, 10);
  });

  it('prices workers off any cloud at the local price, and never guesses a price for an unknown type', () => {
    const local = attempt({ cloud: null, instanceType: null, zone: null });
    const unknown = attempt({ instanceType: 'x9.huge', endedAt: 10 * MIN });
    const cost = jobCost([local, unknown, completed], prices, 0);
    expect(cost.paid).toBeCloseTo(0.5 + 0.92, 10);
    expect(cost.onDemand).toBeCloseTo(0.5 + 3.06, 10);
    expect(cost.gpuSeconds).toBe(3600 + 600 + 3600);
    expect(cost.unpricedGpuSeconds).toBe(600);
    expect(cost.unpricedInstanceTypes).toEqual(['aws/x9.huge']);
    expect(attemptCost(unknown, prices, 0)).toMatchObject({
      paid: null,
      onDemand: null,
      unpriced: 'aws/x9.huge',
    });
    expect(attemptCost(attempt({ instanceType: null }), prices, 0).unpriced).toBe('aws/?');
  });

  it('wastes all of an attempt that ended without a frame, and nothing of a running one', () => {
    const failed = attempt({ outcome: 'error', endedAt: 5 * MIN });
    expect(attemptCost(failed, prices, 0).wastedGpuSeconds).toBe(300);
    const running = attempt({ outcome: 'running', endedAt: null, framesDone: 50, framesCheckpointed: 0 });
    const c = attemptCost(running, prices, 20 * MIN);
    expect(c.gpuSeconds).toBe(1200);
    expect(c.wastedGpuSeconds).toBe(0);
    const kept = attempt({ outcome: 'preempted', framesDone: 300, framesCheckpointed: 300 });
    expect(attemptCost(kept, prices, 0).wastedGpuSeconds).toBe(0);
  });

  it('has no saving percentage when nothing costs anything', () => {
    const free = { ...prices, localPerHour: 0 };
    const cost = jobCost([attempt({ cloud: null, instanceType: null })], free, 0);
    expect(cost).toMatchObject({ paid: 0, onDemand: 0, saving: 0, savingPercent: null, gpuSeconds: 3600 });
    expect(jobCost([], prices, 0)).toMatchObject({ paid: 0, gpuSeconds: 0, savingPercent: null });
  });

  it('breaks the cost down by task when asked', () => {
    const task = (id: string, start: number, end: number): Task => ({
      id,
      jobId: 'j',
      kind: 'process',
      range: { start, end },
      nextFrame: end,
      state: 'done',
      epoch: 2,
      workerId: null,
      leaseExpiresAt: null,
      failures: 0,
      preemptions: 1,
      lastError: null,
    });
    const other = attempt({ taskId: 't2', lifecycle: 'on-demand', endedAt: 30 * MIN, framesDone: 100 });
    const cost = jobCost([preempted, completed, other], prices, 0, [
      task('t1', 0, 600),
      task('t2', 600, 700),
    ]);
    expect(cost.tasks).toEqual([
      {
        taskId: 't1',
        kind: 'process',
        state: 'done',
        range: { start: 0, end: 600 },
        attempts: 2,
        interruptions: 1,
        framesRedone: 100,
        gpuSeconds: 5400,
        wastedGpuSeconds: 600,
        paid: 1.38,
        onDemand: 4.59,
      },
      expect.objectContaining({ taskId: 't2', attempts: 1, interruptions: 0, paid: 1.53, onDemand: 1.53 }),
    ]);
    expect(cost.paid).toBeCloseTo(1.38 + 1.53, 10);
    expect(jobCost([preempted], prices, 0).tasks).toBeUndefined();
  });
});
