import { afterEach, describe, expect, it, vi } from 'vitest';
import { type SimInput, simParams } from '../../src/sim/params.js';
import { simulate } from '../../src/sim/simulate.js';
import { simulateCli } from './simulateCli.js';

// 200 GPU-minutes of work on 20 spot workers of which one zone runs only 5: spot alone takes ~40 minutes.
const scarce: SimInput = {
  workGpuMinutes: 200,
  spotPrice: 0.4,
  onDemandPrice: 1.2,
  workers: 20,
  onDemandWorkers: 10,
  zones: [{ name: 'a', capacity: 5 }],
  interruptionRate: 0,
  seed: 3,
};
const run = (over: Partial<SimInput>) => simulate(simParams({ ...scarce, ...over }));

describe('simulate: on-demand fallback', () => {
  it('starts only the on-demand workers a deadline needs, and says what meeting it costs', async () => {
    const tight = await run({ deadlineMinutes: 30 });
    expect(tight.completed).toBe(true);
    expect(tight.deadline).toMatchObject({ minutes: 30, met: true });
    expect(tight.wallMinutes).toBeLessThanOrEqual(30);
    // Without the deadline the reserve stays parked: 5 spot workers take the 40 minutes, for 200 min × $0.40/h.
    expect(tight.deadline!.withoutWallMinutes).toBeCloseTo(40, 5);
    expect(tight.deadline!.withoutCost).toBeCloseTo((200 / 60) * 0.4, 5);
    expect(tight.fallbackWorkers).toBeGreaterThan(0);
    expect(tight.fallbackWorkers).toBeLessThan(10);
    expect(tight.run.onDemandGpuMinutes).toBeGreaterThan(0);
    expect(tight.deadline!.extraCost).toBeCloseTo(tight.spotCost - tight.deadline!.withoutCost, 9);
    expect(tight.deadline!.extraCost).toBeGreaterThan(0);

    // A deadline spot meets on its own starts nothing and costs nothing.
    const loose = await run({ deadlineMinutes: 60 });
    expect(loose.deadline).toMatchObject({ met: true, extraCost: 0 });
    expect(loose.fallbackWorkers).toBe(0);
    expect(loose.run.onDemandGpuMinutes).toBe(0);
  });

  it('sends tasks that wait past the spot-wait limit to on-demand workers', async () => {
    const limited = await run({ spotWaitLimitSeconds: 600 });
    expect(limited.completed).toBe(true);
    expect(limited.fallbackWorkers).toBeGreaterThan(0);
    expect(limited.run.onDemandGpuMinutes).toBeGreaterThan(0);
    expect(limited.wallMinutes).toBeLessThan(40);
    // The tasks only waited past the limit once 10 minutes had gone by: spot did them before.
    expect(limited.wallMinutes).toBeGreaterThan(10);
  });

  it('is deterministic for a seed', async () => {
    const a = await run({ deadlineMinutes: 30, interruptionRate: 6, seed: 9 });
    const b = await run({ deadlineMinutes: 30, interruptionRate: 6, seed: 9 });
    expect(a.spotCost).toBe(b.spotCost);
    expect(a.wallMinutes).toBe(b.wallMinutes);
    expect(a.deadline).toEqual(b.deadline);
  });
});

describe('spotfuse simulate: deadline flags', () => {
  afterEach(() => vi.restoreAllMocks());
  const flags = [
    '--work-gpu-minutes',
    '200',
    '--spot-price',
    '0.4',
    '--on-demand-price',
    '1.2',
    '--interruption-rate',
    '0',
    '--on-demand-workers',
    '10',
    '--zones',
    'a:5',
    '--seed',
    '3',
  ];

  it('prints whether the deadline was met and what it cost', async () => {
    const { out, code } = await simulateCli(...flags, '--deadline', '30m');
    expect(code).toBeUndefined();
    expect(out).toMatch(/policy: deadline 30\.0 min/);
    expect(out).toMatch(/fallback +at most \d on-demand workers? started by the fallback rules/);
    expect(out).toMatch(/deadline +met; without it 40\.0 min for \$1\.33: the deadline costs \$0\.\d\d/);
    const json = JSON.parse((await simulateCli(...flags, '--deadline', '30m', '--json')).out);
    expect(json.deadline).toMatchObject({ minutes: 30, met: true, withoutWallMinutes: 40 });
  });

  it('sweeps the deadline with the fleet flags, one row per value', async () => {
    const { out, code } = await simulateCli(...flags, '--sweep', 'deadline=20,30,60');
    expect(code).toBeUndefined();
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^ *deadline +tasks +wall min/);
    const walls = lines.slice(1).map((l) => Number(l.trim().split(/ +/)[2]));
    expect(walls[0]).toBeLessThanOrEqual(20);
    expect(walls[2]).toBeCloseTo(40, 1);
  });

  it('refuses a deadline that is not a duration, in one line', async () => {
    const { err, code } = await simulateCli(...flags, '--deadline', 'soon');
    expect(code).not.toBe(0);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
