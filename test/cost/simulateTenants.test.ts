import { afterEach, describe, expect, it, vi } from 'vitest';
import { simParams } from '../../src/sim/params.js';
import { simulate } from '../../src/sim/simulate.js';
import { simulateCli } from './simulateCli.js';

describe('simulate: fair share between two tenants', () => {
  it("finishes the small tenant's job early though the other submitted 50x more work just before it", async () => {
    // Tenant big: 3000 s of video, 300 tasks of 10 s; tenant small: 60 s, 6 tasks, submitted after it.
    const r = await simulate(
      simParams({
        videoSeconds: 3000,
        gpuFps: 3.75,
        spotPrice: 0.68,
        onDemandPrice: 3.06,
        interruptionRate: 0.2,
        workers: 20,
        smallTenantFrames: 60 * 30,
        seed: 1,
      }),
    );
    expect(r.completed).toBe(true);
    expect(r.tasks).toBe(306);
    const { smallWallMinutes, bigWallMinutes } = r.run.tenants!;
    // First come, first served, the small job would wait for all 300 of the big one's tasks to be claimed
    // (14 rounds of 20 workers). Shared, its 6 tasks run in the first round: ~80 s each, plus the merge.
    expect(smallWallMinutes).toBeLessThan(bigWallMinutes / 5);
    expect(smallWallMinutes).toBeLessThan(5);
    expect(bigWallMinutes).toBeCloseTo(r.wallMinutes, 9);
  });
});

describe('spotfuse simulate --small-tenant-seconds', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints when each tenant’s job was done', async () => {
    const { out, code } = await simulateCli(
      '--gpu-fps',
      '3.75',
      '--video-seconds',
      '3000',
      '--spot-price',
      '0.68',
      '--on-demand-price',
      '3.06',
      '--small-tenant-seconds',
      '60',
    );
    expect(code).toBeUndefined();
    const m = /tenants +small job done at ([\d.]+) min, big job at ([\d.]+) min/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(Number(m![2]) / 5);
  });
});
