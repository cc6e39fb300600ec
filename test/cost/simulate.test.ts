import { afterEach, describe, expect, it, vi } from 'vitest';
import { type SimInput, simParams } from '../../src/sim/params.js';
import { simulate } from '../../src/sim/simulate.js';
import { simulateCli } from './simulateCli.js';

/** The classic example: a 5-minute 1080p video, 40 GPU-minutes of work, p3.2xlarge prices. */
const classic: SimInput = {
  workGpuMinutes: 40,
  spotPrice: 0.68,
  onDemandPrice: 3.06,
  interruptionRate: 0.2,
  noticeSeconds: 120,
  chunkSeconds: 10,
  checkpointFrames: 150,
  workers: 20,
  seed: 1,
};

const run = (over: Partial<SimInput> = {}) => simulate(simParams({ ...classic, ...over }));

/** Mean of a few seeds, so comparisons of rates are about the model, not one draw. */
async function mean(
  over: Partial<SimInput>,
  key: 'wastedGpuMinutes' | 'spotCost',
  seeds = 6,
): Promise<number> {
  let sum = 0;
  for (let seed = 1; seed <= seeds; seed++) sum += (await run({ ...over, seed }))[key];
  return sum / seeds;
}

describe('simulate', () => {
  it.each([0.1, 0.2, 0.3])('reproduces the classic example at %s interruptions per hour', async (rate) => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = await run({ interruptionRate: rate, seed });
      expect(r.completed).toBe(true);
      expect(r.workGpuMinutes).toBeCloseTo(40, 6);
      expect(Math.abs(r.onDemandCost - 2.04) / 2.04).toBeLessThan(0.05);
      expect(Math.abs(r.spotCost - 0.45) / 0.45).toBeLessThan(0.05);
      expect(Math.abs(r.savingPercent - 77)).toBeLessThan(0.05 * 77);
    }
  });

  it('finishes far below the 40 serial minutes with 10-second chunks on 20 workers', async () => {
    const r = await run();
    // 30 tasks of 300 frames at 3.75 frames/s (80 s each) on 20 workers: two rounds, 160 s.
    expect(r.tasks).toBe(30);
    expect(r.wallMinutes).toBeLessThan(5);
    expect(r.wallMinutes).toBeCloseTo(160 / 60, 1);
  });

  it('is deterministic for a seed and differs across seeds at high interruption rates', async () => {
    const a = await run({ interruptionRate: 10, noticeSeconds: 30, seed: 7 });
    const b = await run({ interruptionRate: 10, noticeSeconds: 30, seed: 7 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const others = await Promise.all(
      [8, 9, 10].map((seed) => run({ interruptionRate: 10, noticeSeconds: 30, seed })),
    );
    expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true);
  });

  it('wastes and costs more at 10 interruptions per hour than at 2', async () => {
    const over = { noticeSeconds: 30, startupSeconds: 60 };
    expect(await mean({ ...over, interruptionRate: 10 }, 'wastedGpuMinutes')).toBeGreaterThan(
      await mean({ ...over, interruptionRate: 2 }, 'wastedGpuMinutes'),
    );
    expect(await mean({ ...over, interruptionRate: 10 }, 'spotCost')).toBeGreaterThan(
      await mean({ ...over, interruptionRate: 2 }, 'spotCost'),
    );
  });

  it('loses nothing with a 120 s notice and 40 s segments, and loses work with 30 s', async () => {
    // A segment of 150 frames takes 40 s: a 120 s notice always covers its rest, 30 s only sometimes.
    expect(await mean({ interruptionRate: 10, noticeSeconds: 120 }, 'wastedGpuMinutes')).toBe(0);
    expect(await mean({ interruptionRate: 10, noticeSeconds: 30 }, 'wastedGpuMinutes')).toBeGreaterThan(0);
  });

  it('recovers from kills without notice through lease expiry', async () => {
    const r = await run({ interruptionRate: 10, noticeSeconds: 0, seed: 3 });
    expect(r.completed).toBe(true);
    expect(r.interruptions).toBeGreaterThan(0);
    expect(r.tasksRequeued).toBeGreaterThan(0);
    expect(r.redoneGpuMinutes).toBeGreaterThan(0);
  });
});

describe('spotfuse simulate', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const classicFlags = ['--work-gpu-minutes', '40', '--spot-price', '0.68', '--on-demand-price', '3.06'];

  it('prints the JSON keys', async () => {
    const { out } = await simulateCli(...classicFlags, '--interruption-rate', '0.2', '--json');
    const json = JSON.parse(out);
    for (const key of [
      'wallMinutes',
      'gpuMinutes',
      'wastedGpuMinutes',
      'interruptions',
      'spotCost',
      'onDemandCost',
      'savingPercent',
    ]) {
      expect(typeof json[key]).toBe('number');
    }
    expect(json.onDemandCost).toBeCloseTo(2.04, 2);
  });

  it('prints a sweep table, one row per value', async () => {
    const { out } = await simulateCli(...classicFlags, '--sweep', 'chunk-seconds=5,10,60');
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/chunk-seconds .*saving %/);
    expect(lines).toHaveLength(4);
  });

  it('refuses a negative price in one line', async () => {
    const { err, code } = await simulateCli(
      '--work-gpu-minutes',
      '40',
      '--spot-price',
      '-1',
      '--on-demand-price',
      '3',
    );
    expect(code).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/--spot-price.*positive number/);
  });

  it('takes the prices of --instance-type from the price table', async () => {
    const { out } = await simulateCli('--work-gpu-minutes', '40', '--instance-type', 'p3.2xlarge', '--json');
    expect(JSON.parse(out).onDemandCost).toBeCloseTo(2.04, 2);
    const given = await simulateCli(
      '--work-gpu-minutes',
      '40',
      '--instance-type',
      'p3.2xlarge',
      '--spot-price',
      '0.68',
    );
    expect(given.out).toMatch(/cost {12}\$0\.45/);
  });

  it('refuses an instance type the price table does not know, or no prices at all', async () => {
    expect((await simulateCli('--work-gpu-minutes', '40', '--instance-type', 'x9.huge')).err).toMatch(
      /no price for instance type x9.huge/,
    );
    expect(
      (await simulateCli('--work-gpu-minutes', '40', '--cloud', 'gcp', '--instance-type', 'p3.2xlarge')).err,
    ).toMatch(/no price for gcp instance type p3.2xlarge/);
    expect((await simulateCli('--work-gpu-minutes', '40')).err).toMatch(
      /--spot-price and --on-demand-price, or --instance-type/,
    );
  });

  it('refuses a job without a size', async () => {
    const { err } = await simulateCli('--spot-price', '1', '--on-demand-price', '3');
    expect(err).toMatch(/--work-gpu-minutes/);
  });
});
