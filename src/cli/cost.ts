import type { Command } from 'commander';
import { UserError } from '../core/errors.js';
import type { JobCost } from '../cost/accounting.js';
import { loadPriceTable, type PriceTable } from '../cost/prices.js';
import { formatDuration } from './progress.js';

export interface PriceFlags {
  prices?: string;
  /** USD per hour, as given on the command line or in the environment. */
  localGpuPrice?: string;
}

/** `--prices FILE` and `--local-gpu-price USD` (the server has its own, with environment defaults). */
export function addPriceOptions(command: Command): Command {
  return command
    .option('--prices <file>', 'YAML price table whose entries replace or add to the shipped GPU prices')
    .option('--local-gpu-price <usd>', 'hourly price of a worker off any cloud (default 0)');
}

/** The price table the flags name; a bad file or price is a UserError. */
export function priceTableFromFlags(flags: PriceFlags): PriceTable {
  const local =
    flags.localGpuPrice === undefined || flags.localGpuPrice === '' ? 0 : Number(flags.localGpuPrice);
  if (!Number.isFinite(local) || local < 0)
    throw new UserError(
      `--local-gpu-price must be a number of dollars per hour, 0 or more, not "${flags.localGpuPrice}"`,
    );
  return loadPriceTable({ file: flags.prices, localPerHour: local });
}

function money(usd: number): string {
  return `$${usd >= 1 ? usd.toFixed(2) : usd.toFixed(4)}`;
}

/** One line: paid vs on-demand, the saving, GPU time and how much of it was wasted. */
export function costLine(c: JobCost): string {
  let line = `cost: ${money(c.paid)} paid, ${money(c.onDemand)} at on-demand prices`;
  if (c.savingPercent !== null) line += `, saving ${money(c.saving)} (${c.savingPercent.toFixed(1)}%)`;
  line += `; GPU time ${formatDuration(c.gpuSeconds)}, ${formatDuration(c.wastedGpuSeconds)} wasted`;
  if (c.unpricedGpuSeconds > 0)
    line +=
      `; ${formatDuration(c.unpricedGpuSeconds)} on machines the price table does not know ` +
      `(${c.unpricedInstanceTypes.join(', ')}; add them with --prices)`;
  return line;
}

/** The per-task breakdown as an aligned table. */
export function taskCostTable(c: JobCost): string {
  const head = [
    'task',
    'kind',
    'frames',
    'state',
    'attempts',
    'interrupts',
    'redone',
    'GPU',
    'wasted',
    'paid',
    'on-demand',
  ];
  const rows = (c.tasks ?? []).map((t) => [
    t.taskId,
    t.kind,
    t.kind === 'merge' ? '-' : `${t.range.start}-${t.range.end}`,
    t.state,
    String(t.attempts),
    String(t.interruptions),
    String(t.framesRedone),
    formatDuration(t.gpuSeconds),
    formatDuration(t.wastedGpuSeconds),
    money(t.paid),
    money(t.onDemand),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
