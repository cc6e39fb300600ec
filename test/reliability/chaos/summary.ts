import type { ChaosResult } from './runner.js';
import { FAULT_KINDS } from './schedule.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const seconds = (s: number) => s.toFixed(1);

/** Markdown tables: one row per seed, then the faults by kind over every seed, then each violation. */
export function chaosSummary(result: ChaosResult): string {
  const base = result.baseline?.report.wallSeconds;
  const perSeed = result.runs.map((run) => {
    const injected = run.faults.filter((f) => f.injected);
    const kinds = FAULT_KINDS.map((k) => [k, injected.filter((f) => f.kind === k).length] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`);
    return [
      String(run.seed),
      kinds.join(', ') || 'none',
      String(injected.filter((f) => f.recoveredAfterMs !== undefined).length),
      String(run.report.interruptions),
      String(run.report.framesRedone),
      seconds(run.report.wallSeconds),
      base === undefined ? '-' : seconds(run.report.wallSeconds - base),
      run.violations.length === 0 ? run.state : `${run.violations.length} violated`,
    ];
  });
  const all = result.runs.flatMap((r) => r.faults);
  const byKind = FAULT_KINDS.map((kind) => {
    const mine = all.filter((f) => f.kind === kind);
    const injected = mine.filter((f) => f.injected);
    const recovered = injected.flatMap((f) => (f.recoveredAfterMs === undefined ? [] : [f.recoveredAfterMs]));
    return [
      kind,
      String(injected.length),
      String(mine.length - injected.length),
      String(injected.reduce((n, f) => n + f.interrupted.length, 0)),
      String(recovered.length),
      recovered.length ? seconds(Math.max(...recovered) / 1000) : '-',
    ];
  });
  const violations = result.runs.flatMap((r) => r.violations.map((v) => `- seed ${r.seed}: ${v}`));
  return [
    `${result.settings}${base === undefined ? '' : `; fault-free baseline ${seconds(base)} s`}`,
    '',
    table(
      [
        'seed',
        'faults injected',
        'recovered',
        'interruptions',
        'frames redone',
        'wall s',
        'extra wall s',
        'result',
      ],
      perSeed,
    ),
    '',
    table(['fault', 'injected', 'skipped', 'tasks interrupted', 'recovered', 'slowest recovery s'], byKind),
    ...(violations.length ? ['', 'Violations:', ...violations] : []),
  ].join('\n');
}
