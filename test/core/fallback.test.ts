import { describe, expect, it } from 'vitest';
import { type JobFlow, jobDeadline, jobFlow, onDemandCall } from '../../src/core/fallback.js';
import type { Attempt, Task } from '../../src/core/types.js';
import { passthroughSpec } from '../helpers/jobSpec.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const MIN = 60_000;

/** 10 tasks of 1000 frames each, none started, 10 fps a worker: 10,000 frames, 1000 worker-seconds. */
const flow = (over: Partial<JobFlow> = {}): JobFlow => ({
  deadline: null,
  remainingFrames: 10_000,
  waitingSince: Array.from({ length: 10 }, () => NOW - MIN),
  runningOnSpot: 0,
  runningOnDemand: 0,
  fps: 10,
  ...over,
});

describe('onDemandCall: deadline', () => {
  it('asks for nothing while the spot workers it has finish in time', () => {
    // 4 spot workers: 250 s; the deadline is in 5 minutes.
    const call = onDemandCall(
      flow({ deadline: NOW + 5 * MIN, runningOnSpot: 4, waitingSince: Array(6).fill(NOW) }),
      NOW,
    );
    expect(call).toBeUndefined();
  });

  it('asks for the on-demand workers that, beside the spot ones, finish by the deadline', () => {
    // 2 spot workers: 500 s, past a deadline 200 s away. 10,000 frames in 200 s at 10 fps: 5 workers.
    const call = onDemandCall(
      flow({ deadline: NOW + 200_000, runningOnSpot: 2, waitingSince: Array(8).fill(NOW) }),
      NOW,
    );
    expect(call).toMatchObject({ workers: 3, reasons: ['deadline'], spotFinish: NOW + 500_000 });
    expect(call?.detail).toBe(
      'deadline 2026-01-01T12:03:20Z: spot alone finishes 2026-01-01T12:08:20Z (10000 frames left at 10 fps a worker)',
    );
  });

  it('with no spot worker at all, asks for enough on-demand workers, at most one per waiting task', () => {
    expect(onDemandCall(flow({ deadline: NOW + 400_000 }), NOW)).toMatchObject({
      workers: 3,
      spotFinish: null,
    });
    expect(onDemandCall(flow({ deadline: NOW + 10_000 }), NOW)?.workers).toBe(10);
    expect(onDemandCall(flow({ deadline: NOW + 10_000 }), NOW)?.detail).toContain('no spot worker has it');
  });

  it('past its deadline, wants every waiting task on demand', () => {
    const call = onDemandCall(flow({ deadline: NOW - MIN, runningOnSpot: 3, waitingSince: [NOW, NOW] }), NOW);
    expect(call?.workers).toBe(2);
  });

  it('counts the on-demand workers it already has in its call, so the pool does not shrink under them', () => {
    const call = onDemandCall(
      flow({
        deadline: NOW + 200_000,
        runningOnSpot: 1,
        runningOnDemand: 2,
        waitingSince: Array(7).fill(NOW),
      }),
      NOW,
    );
    expect(call?.workers).toBe(4);
  });

  it('asks nothing when no task waits: a new worker would have nothing to take', () => {
    expect(
      onDemandCall(flow({ deadline: NOW - MIN, runningOnSpot: 10, waitingSince: [] }), NOW),
    ).toBeUndefined();
  });
});

describe('onDemandCall: spot wait limit', () => {
  it('moves the tasks that waited past the limit to on-demand, the others stay spot work', () => {
    const waitingSince = [NOW - 20 * MIN, NOW - 11 * MIN, NOW - 9 * MIN, NOW];
    const policy = { spotWaitLimitMs: 10 * MIN };
    const call = onDemandCall(flow({ waitingSince, runningOnDemand: 1 }), NOW, policy);
    expect(call).toMatchObject({ workers: 3, reasons: ['spot_wait'] });
    expect(call?.detail).toBe('2 of 4 waiting tasks waited over 600 s for spot');
    expect(onDemandCall(flow({ waitingSince }), NOW)).toBeUndefined();
    expect(onDemandCall(flow({ waitingSince }), NOW - 15 * MIN, policy)).toBeUndefined();
  });

  it('names both reasons and asks for the larger number', () => {
    const call = onDemandCall(
      flow({ deadline: NOW + 200_000, waitingSince: [...Array(9).fill(NOW), NOW - 60 * MIN] }),
      NOW,
      { spotWaitLimitMs: 30 * MIN },
    );
    expect(call).toMatchObject({ workers: 5, reasons: ['deadline', 'spot_wait'] });
    const waited = onDemandCall(
      flow({ deadline: NOW + 400_000, waitingSince: Array(10).fill(NOW - 60 * MIN) }),
      NOW,
      {
        spotWaitLimitMs: 30 * MIN,
      },
    );
    expect(waited).toMatchObject({ workers: 10, reasons: ['spot_wait', 'deadline'] });
  });
});

describe('jobFlow', () => {
  const created = NOW - 30 * MIN;
  const task = (i: number, over: Partial<Task>): Task => ({
    id: `j-t${i}`,
    jobId: 'j',
    kind: 'process',
    range: { start: i * 100, end: (i + 1) * 100 },
    nextFrame: i * 100,
    state: 'pending',
    epoch: 0,
    workerId: null,
    leaseExpiresAt: null,
    failures: 0,
    preemptions: 0,
    lastError: null,
    ...over,
  });
  const attempt = (taskId: string, over: Partial<Attempt>): Attempt => ({
    id: 1,
    taskId,
    jobId: 'j',
    workerId: 'w',
    epoch: 1,
    startedAt: created,
    endedAt: null,
    outcome: 'running',
    framesDone: 0,
    framesCheckpointed: 0,
    error: null,
    cloud: null,
    instanceType: null,
    zone: null,
    lifecycle: null,
    fps: null,
    gpuUtilization: null,
    gpuMemoryUsedMiB: null,
    gpuMemoryTotalMiB: null,
    ...over,
  });

  it('reads frames left, waits, workers by lifecycle and the measured fps from the rows', () => {
    const tasks = [
      task(0, { state: 'done', nextFrame: 100 }),
      task(1, { state: 'running', nextFrame: 150, epoch: 1 }),
      task(2, { state: 'running', epoch: 1 }),
      task(3, { nextFrame: 320, epoch: 1 }),
      task(4, {}),
      task(5, { state: 'canceled' }),
      { ...task(6, {}), kind: 'merge' as const },
    ];
    const attempts = [
      attempt('j-t1', { lifecycle: 'spot', fps: 12 }),
      attempt('j-t2', { lifecycle: 'on-demand', fps: 18 }),
      attempt('j-t3', { outcome: 'preempted', endedAt: NOW - 5 * MIN, lifecycle: 'spot', fps: 1 }),
    ];
    const spec = { ...passthroughSpec, deadline: NOW + MIN };
    expect(jobFlow({ spec, createdAt: created }, tasks, attempts, 3)).toEqual({
      deadline: NOW + MIN,
      remainingFrames: 50 + 100 + 80 + 100,
      waitingSince: [NOW - 5 * MIN, created],
      runningOnSpot: 1,
      runningOnDemand: 1,
      fps: 15,
    });
    // Before any heartbeat: the planner's estimate.
    expect(jobFlow({ spec: passthroughSpec, createdAt: created }, tasks, [], 3)).toMatchObject({
      fps: 3,
      deadline: null,
      runningOnSpot: 2,
    });
  });

  it('takes a deadline only as a finite number', () => {
    expect(jobDeadline({ ...passthroughSpec, deadline: 'soon' } as never)).toBeNull();
    expect(jobDeadline({ ...passthroughSpec, deadline: NOW } as never)).toBe(NOW);
  });
});
