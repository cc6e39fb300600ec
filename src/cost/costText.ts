import { formatDuration, formatMoney } from '../core/format.js';
import type { AttemptCost, JobCost } from './accounting.js';

/** One line: paid vs on-demand, the saving, GPU time and how much of it was wasted. */
export function costLine(c: JobCost): string {
  let line = `cost: ${formatMoney(c.paid)} paid, ${formatMoney(c.onDemand)} at on-demand prices`;
  if (c.savingPercent !== null) line += `, saving ${formatMoney(c.saving)} (${c.savingPercent.toFixed(1)}%)`;
  line += `; GPU time ${formatDuration(c.gpuSeconds)}, ${formatDuration(c.wastedGpuSeconds)} wasted`;
  if (c.unpricedGpuSeconds > 0)
    line +=
      `; ${formatDuration(c.unpricedGpuSeconds)} on machines the price table does not know ` +
      `(${c.unpricedInstanceTypes.join(', ')}; add them with --prices)`;
  return line;
}

/** An attempt's GPU time and what it cost (or which machine the price table lacks). */
export function attemptCostText(c: AttemptCost): string {
  const wasted = c.wastedGpuSeconds > 0 ? ` (${formatDuration(c.wastedGpuSeconds)} wasted)` : '';
  const price =
    c.paid === null || c.onDemand === null
      ? `unpriced (${c.unpriced})`
      : `${formatMoney(c.paid)} paid, ${formatMoney(c.onDemand)} at on-demand prices`;
  return `GPU ${formatDuration(c.gpuSeconds)}${wasted}, ${price}`;
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
    formatMoney(t.paid),
    formatMoney(t.onDemand),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
