import { describe, expect, it } from 'vitest';
import type { JobCost } from '../../src/cost/accounting.js';
import { costLine, taskCostTable } from '../../src/cost/costText.js';

const cost: JobCost = {
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
};

describe('the cost line', () => {
  it('shows paid against on-demand, the saving and the wasted GPU time', () => {
    expect(costLine(cost)).toBe(
      'cost: $1.38 paid, $4.59 at on-demand prices, saving $3.21 (69.9%); GPU time 1h30m, 10m00s wasted',
    );
  });

  it('says which machines it could not price, and shows no saving where there is no basis', () => {
    const line = costLine({
      ...cost,
      paid: 0,
      onDemand: 0,
      saving: 0,
      savingPercent: null,
      unpricedGpuSeconds: 600,
      unpricedInstanceTypes: ['aws/x9.huge'],
    });
    expect(line).toMatch(/^cost: \$0\.0000 paid, \$0\.0000 at on-demand prices; GPU time/);
    expect(line).toMatch(
      /10m00s on machines the price table does not know \(aws\/x9\.huge; add them with --prices\)/,
    );
  });

  it('lays out the per-task breakdown as a table', () => {
    const table = taskCostTable({
      ...cost,
      tasks: [
        {
          taskId: 'job_1-t0000',
          kind: 'process',
          state: 'done',
          range: { start: 0, end: 300 },
          attempts: 2,
          interruptions: 1,
          framesRedone: 50,
          gpuSeconds: 5400,
          wastedGpuSeconds: 600,
          paid: 1.38,
          onDemand: 4.59,
        },
        {
          taskId: 'job_1-merge',
          kind: 'merge',
          state: 'done',
          range: { start: 0, end: 300 },
          attempts: 1,
          interruptions: 0,
          framesRedone: 0,
          gpuSeconds: 60,
          wastedGpuSeconds: 0,
          paid: 0.01,
          onDemand: 0.01,
        },
      ],
    }).split('\n');
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(
      /^task\s+kind\s+frames\s+state\s+attempts\s+interrupts\s+redone\s+GPU\s+wasted\s+paid\s+on-demand$/,
    );
    expect(table[1]).toMatch(
      /^job_1-t0000\s+process\s+0-300\s+done\s+2\s+1\s+50\s+1h30m\s+10m00s\s+\$1\.38\s+\$4\.59$/,
    );
    expect(table[2]).toMatch(/^job_1-merge\s+merge\s+-\s+done\s+1/);
  });
});
