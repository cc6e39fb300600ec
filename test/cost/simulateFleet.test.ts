import { afterEach, describe, expect, it, vi } from 'vitest';
import { type SimInput, simParams } from '../../src/sim/params.js';
import { simulate } from '../../src/sim/simulate.js';
import { simulateCli } from './simulateCli.js';

const base: SimInput = {
  workGpuMinutes: 40,
  spotPrice: 0.68,
  onDemandPrice: 3.06,
  chunkSeconds: 10,
  checkpointFrames: 150,
};
const run = (over: Partial<SimInput>) => simulate(simParams({ ...base, ...over }));

describe('simulate: pool policy', () => {
  it('--on-demand-after 2 keeps every task to at most 2 interruptions; spot-only loses some far more often', async () => {
    const storm = { interruptionRate: 120, noticeSeconds: 10, workers: 20, onDemandWorkers: 3 };
    let spotOnlyWorst = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const free = await run({ ...storm, seed });
      const capped = await run({ ...storm, seed, onDemandAfter: 2 });
      expect(free.completed && capped.completed).toBe(true);
      expect(capped.maxTaskInterruptions).toBeLessThanOrEqual(2);
      spotOnlyWorst = Math.max(spotOnlyWorst, free.maxTaskInterruptions);
    }
    expect(spotOnlyWorst).toBeGreaterThanOrEqual(5);
  });

  it('--on-demand-for merge runs the merge on an on-demand worker, and never finishes without one', async () => {
    const r = await run({ workers: 10, onDemandWorkers: 1, mergeSeconds: 120, onDemandFor: ['merge'] });
    expect(r.completed).toBe(true);
    const onDemand = r.run.gpuTypes.find((t) => t.pool === 'on-demand');
    expect(onDemand?.seconds).toBeGreaterThanOrEqual(120);
    const stuck = await run({ workers: 10, mergeSeconds: 120, onDemandFor: ['merge'] });
    expect(stuck.run.completed).toBe(false);
  });
});

describe('simulate: zones', () => {
  const zones = [
    { name: 'a', capacity: 5 },
    { name: 'b', capacity: 5 },
  ];

  it('a zone reclaim interrupts every worker of the zone at once, and its workers wait out the outage', async () => {
    const r = await run({
      videoSeconds: 3000,
      interruptionRate: 0,
      workers: 10,
      zones,
      zoneReclaimRate: 6,
      zoneOutageSeconds: 300,
      seed: 1,
    });
    expect(r.completed).toBe(true);
    const reclaims = r.run.zoneReclaims;
    expect(reclaims.length).toBeGreaterThan(0);
    // 10 workers busy on 200 tasks, 5 per zone: the first reclaim finds its zone full.
    expect(reclaims[0].workers).toBe(5);
    // Interruptions come only from reclaims (no per-instance ones), counted per zone.
    expect(r.interruptions).toBe(reclaims.reduce((n, z) => n + z.workers, 0));
    for (const z of r.zones) {
      const hits = reclaims.filter((x) => x.zone === z.name);
      expect(z.reclaims).toBe(hits.length);
      expect(z.interruptions).toBe(hits.reduce((n, x) => n + x.workers, 0));
      expect(z.maxWorkers).toBeLessThanOrEqual(5);
    }
    // With a zone out and no room elsewhere the replacements wait: slower than without reclaims.
    const calm = await run({ videoSeconds: 3000, interruptionRate: 0, workers: 10, zones, seed: 1 });
    expect(r.wallMinutes).toBeGreaterThan(calm.wallMinutes + 1);
  });

  it('never runs more spot workers in a zone than its capacity', async () => {
    const small = [
      { name: 'a', capacity: 3 },
      { name: 'b', capacity: 2 },
    ];
    for (let seed = 1; seed <= 3; seed++) {
      const r = await run({
        workers: 10,
        interruptionRate: 20,
        noticeSeconds: 30,
        zones: small,
        zoneReclaimRate: 10,
        zoneOutageSeconds: 60,
        seed,
      });
      expect(r.completed).toBe(true);
      expect(r.zones.map((z) => z.maxWorkers)).toEqual([3, 2]);
      // Billed worker time is all in some zone.
      const zoneSeconds = r.zones.reduce((n, z) => n + z.workerSeconds, 0);
      expect(zoneSeconds / 60).toBeCloseTo(r.gpuMinutes, 6);
    }
  });

  it('is deterministic for a seed', async () => {
    const over = {
      workers: 10,
      interruptionRate: 5,
      zones,
      zoneReclaimRate: 10,
      zoneOutageSeconds: 120,
      seed: 9,
    };
    expect(JSON.stringify(await run(over))).toBe(JSON.stringify(await run(over)));
  });
});

describe('simulate: zones and the pool policy', () => {
  it("completes with at most the policy's interruptions per task", async () => {
    const over: Partial<SimInput> = {
      workers: 10,
      onDemandWorkers: 2,
      interruptionRate: 60,
      noticeSeconds: 10,
      mergeSeconds: 30,
      onDemandAfter: 2,
      onDemandFor: ['merge'],
      zones: [
        { name: 'a', capacity: 4 },
        { name: 'b', capacity: 4 },
      ],
      zoneReclaimRate: 6,
      zoneOutageSeconds: 120,
      seed: 2,
    };
    const r = await run(over);
    expect(r.completed).toBe(true);
    expect(r.maxTaskInterruptions).toBeLessThanOrEqual(2);
  });
});

describe('simulate: GPU types', () => {
  // Both types cost $0.00001 per frame on spot and $0.00002 on demand, whichever tasks each one gets.
  const gpuTypes = [
    { name: 'slow', gpuFps: 10, spotPrice: 0.36, onDemandPrice: 0.72, spot: 3, onDemand: 0 },
    { name: 'fast', gpuFps: 30, spotPrice: 1.08, onDemandPrice: 2.16, spot: 2, onDemand: 0 },
  ];

  it('costs Σ GPU-seconds × price per type when nothing is interrupted', async () => {
    const r = await simulate(
      simParams({
        spotPrice: 0,
        onDemandPrice: 0,
        videoSeconds: 300,
        fps: 30,
        gpuTypes,
        interruptionRate: 0,
      }),
    );
    expect(r.completed).toBe(true);
    const types = r.run.gpuTypes;
    expect(types.map((t) => t.name).sort()).toEqual(['fast', 'slow']);
    const seconds = (name: string) => types.find((t) => t.name === name)!.seconds;
    // Every one of the 9000 frames processed once, at each type's speed.
    expect(seconds('slow') * 10 + seconds('fast') * 30).toBeCloseTo(9000, 6);
    expect(r.spotCost).toBeCloseTo((seconds('slow') * 0.36 + seconds('fast') * 1.08) / 3600, 9);
    expect(r.spotCost).toBeCloseTo(9000 * 0.00001, 9);
    expect(r.onDemandCost).toBeCloseTo(9000 * 0.00002, 9);
    expect(r.savingPercent).toBeCloseTo(50, 6);
    // The fast type does more of the work.
    expect(seconds('fast') * 30).toBeGreaterThan((seconds('slow') * 10) / 1.5);
  });
});

describe('spotfuse simulate: fleet flags', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('prints per-zone results in the JSON', async () => {
    const { out } = await simulateCli(
      '--instance-type',
      'p3.2xlarge',
      '--work-gpu-minutes',
      '40',
      '--zones',
      'us-east-1a:10,us-east-1b:10',
      '--zone-reclaim-rate',
      '1',
      '--json',
    );
    const json = JSON.parse(out);
    expect(json.zones.map((z: { name: string }) => z.name)).toEqual(['us-east-1a', 'us-east-1b']);
    expect(typeof json.zones[0].interruptions).toBe('number');
    expect(typeof json.zones[0].workerSeconds).toBe('number');
  });

  it('prices --gpu-types from the price table', async () => {
    const { out, err } = await simulateCli(
      '--gpu-types',
      'g4dn.xlarge:fps=12:count=10,p3.2xlarge:fps=30:count=10',
      '--cloud',
      'aws',
      '--interruption-rate',
      '0',
      '--json',
    );
    expect(err).toBe('');
    const json = JSON.parse(out);
    expect(json.completed).toBe(true);
    expect(json.spotCost).toBeLessThan(json.onDemandCost);
  });

  it.each([
    [['--zones', 'us-east-1a'], /--zones takes NAME:CAPACITY/],
    [['--zones', 'a:1', '--zone-reclaim-rate', 'x'], /--zone-reclaim-rate/],
    [['--zone-reclaim-rate', '2'], /--zone-reclaim-rate needs --zones/],
    [['--on-demand-for', 'encode'], /--on-demand-for takes merge, urgent/],
    [['--on-demand-after', '0'], /--on-demand-after.*positive whole number/],
  ])('refuses %j in one line', async (flags, message) => {
    const { err, code } = await simulateCli(
      '--work-gpu-minutes',
      '40',
      '--instance-type',
      'p3.2xlarge',
      ...flags,
    );
    expect(code).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(message);
  });

  it.each([
    [['--gpu-types', 'x9.huge:fps=10:count=2'], /no price for aws instance type x9.huge/],
    [['--gpu-types', 'p3.2xlarge:count=2'], /--gpu-types takes TYPE:fps=N/],
    [['--gpu-types', 'p3.2xlarge:fps=10:count=two'], /--gpu-types: "count=two"/],
    [
      ['--gpu-types', 'p3.2xlarge:fps=10:count=2', '--work-gpu-minutes', '40'],
      /leave out --work-gpu-minutes/,
    ],
  ])('refuses %j in one line', async (flags, message) => {
    const { err, code } = await simulateCli('--cloud', 'aws', ...flags);
    expect(code).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(message);
  });

  it('takes a type the table lacks with explicit prices', async () => {
    const { out } = await simulateCli(
      '--gpu-types',
      'x9.huge:fps=10:count=2:spot-price=1:on-demand-price=2',
      '--interruption-rate',
      '0',
      '--json',
    );
    expect(JSON.parse(out).savingPercent).toBeCloseTo(50, 2);
  });
});
