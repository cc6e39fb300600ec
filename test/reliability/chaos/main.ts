import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos } from './runner.js';
import { chaosSummary } from './summary.js';

const USAGE = 'usage: npm run chaos -- [--seeds N] [--seed FIRST] [--workers N] [--seconds S] [--keep]';

/** `npm run chaos`: N seeded runs from FIRST on, the summary tables on stdout, exit 1 on any violation. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string', default: '5' },
      seed: { type: 'string', default: '1' },
      workers: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '20' },
      keep: { type: 'boolean', default: false },
    },
  });
  const [count, first, workers, seconds] = [values.seeds, values.seed, values.workers, values.seconds].map(
    Number,
  );
  if (![count, first, workers, seconds].every((n) => Number.isInteger(n) && n >= 1)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const dir = await mkdtemp(join(tmpdir(), 'spotfuse-chaos-'));
  try {
    const result = await runChaos({
      dir,
      seeds: Array.from({ length: count }, (_, i) => first + i),
      workers,
      video: { seconds, size: '320x240' },
      logs: values.keep ? join(dir, 'logs') : undefined,
      log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
    });
    process.stdout.write(`${chaosSummary(result)}\n`);
    return [result.baseline, ...result.runs].some((r) => r && r.violations.length > 0) ? 1 : 0;
  } finally {
    if (values.keep) process.stderr.write(`kept ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}
