import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../helpers/tempDir.js';
import { privatePostgresUnavailable } from './privatePostgres.js';
import { runChaos } from './runner.js';
import { chaosSummary } from './summary.js';

const skip = privatePostgresUnavailable();
if (skip && process.env.CI) throw new Error(`${skip}; CI must run the chaos suite`);

// One seeded schedule on a short video (seed 4: a PostgreSQL restart, a zombie, dropped heartbeats, S3
// down); `npm run chaos -- --seeds N` runs many (README: Development, Chaos).
describe.skipIf(skip !== undefined)(`chaos${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dir = useTempDir();

  it('completes a job through a seeded schedule of faults with every invariant intact', {
    timeout: 600_000,
  }, async () => {
    const seed = Number(process.env.SPOTFUSE_CHAOS_SEED ?? 4);
    const result = await runChaos({
      dir: dir(),
      seeds: [seed],
      baseline: false,
      video: { seconds: 10, size: '320x240' },
      chunkFrames: 75,
      schedule: { faults: { min: 4, max: 4 } },
    });
    const summary = chaosSummary(result);
    expect(result.runs[0].violations, summary).toEqual([]);
    expect(result.runs[0].faults.filter((f) => f.injected).length, summary).toBeGreaterThan(0);
  });
});
