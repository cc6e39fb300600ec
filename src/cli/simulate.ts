import type { Command } from 'commander';
import { UserError } from '../core/errors.js';
import { count, noun } from '../core/format.js';
import { ON_DEMAND_ONLY, type OnDemandOnly } from '../core/types.js';
import { instancePrice } from '../cost/prices.js';
import {
  parseGpuTypes,
  parseSweep,
  parseZones,
  type SimInput,
  SWEEP_KEYS,
  simParams,
} from '../sim/params.js';
import { SIM_DEFAULTS, type SimResult, simulate } from '../sim/simulate.js';
import { priceTableFromFlags } from './cost.js';
import { nonNegativeNumber, positiveDuration, positiveInt, positiveNumber, wholeNumber } from './options.js';

interface SimulateFlags {
  instanceType?: string;
  cloud?: string;
  prices?: string;
  workGpuMinutes?: number;
  videoSeconds?: number;
  fps?: number;
  gpuFps?: number;
  spotPrice?: number;
  onDemandPrice?: number;
  interruptionRate: number;
  notice: number;
  chunkSeconds: number;
  checkpointFrames: number;
  workers: number;
  onDemandWorkers: number;
  startupSeconds: number;
  replacementSeconds: number;
  mergeSeconds: number;
  leaseTtl: number;
  seed: number;
  sweep?: string;
  json?: boolean;
  onDemandFor?: string;
  onDemandAfter?: number;
  zones?: string;
  zoneReclaimRate: number;
  zoneOutageSeconds: number;
  gpuTypes?: string;
  /** Milliseconds, from the duration flags. */
  deadline?: number;
  spotWaitLimit?: number;
  smallTenantSeconds?: number;
}

/** `merge,urgent`, `merge`, `urgent` or `none`, as `spotfuse server --on-demand-for` takes it. */
function parseOnDemandFor(text: string | undefined): OnDemandOnly[] | undefined {
  if (text === undefined) return undefined;
  const words = text
    .split(',')
    .map((w) => w.trim().toLowerCase())
    .filter((w) => w !== '');
  if (words.length === 1 && words[0] === 'none') return [];
  for (const word of words) {
    if (!(ON_DEMAND_ONLY as readonly string[]).includes(word))
      throw new UserError(`--on-demand-for takes merge, urgent, both (merge,urgent) or none, not "${text}"`);
  }
  return [...new Set(words)] as OnDemandOnly[];
}

/** The JSON a run prints: everything in `SimResult`, minutes and dollars rounded to 4 decimals. */
export function resultJson(r: SimResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const round = (v: number) => Math.round(v * 10_000) / 10_000;
  for (const [k, v] of Object.entries(r)) {
    if (typeof v === 'number') out[k] = round(v);
    else if (typeof v === 'boolean') out[k] = v;
  }
  if (r.zones.length > 0) {
    out.zones = r.zones.map((z) => ({
      name: z.name,
      interruptions: z.interruptions,
      workerSeconds: round(z.workerSeconds),
      maxWorkers: z.maxWorkers,
      reclaims: z.reclaims,
    }));
  }
  if (r.tenants) out.tenants = { ...r.tenants };
  if (r.deadline) {
    out.deadline = Object.fromEntries(
      Object.entries(r.deadline).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]),
    );
  }
  return out;
}

const money = (n: number) => `$${n.toFixed(2)}`;
const min = (n: number) => `${n.toFixed(1)} min`;

export function resultText(input: SimInput, r: SimResult): string {
  const p = simParams(input);
  const fleet = p.gpuTypes
    ? ` (${p.gpuTypes.map((t) => `${t.name} ${t.gpuFps} frames/s: ${t.spot} spot + ${t.onDemand} on-demand`).join(', ')})`
    : '';
  const policy = [
    p.onDemandFor?.length ? `${p.onDemandFor.join(',')} on on-demand` : '',
    p.onDemandAfter !== undefined ? `on-demand after ${count(p.onDemandAfter, 'interruption')}` : '',
    p.deadlineMinutes !== undefined ? `deadline ${min(p.deadlineMinutes)}` : '',
    p.spotWaitLimitSeconds !== undefined
      ? `on-demand for tasks waiting over ${p.spotWaitLimitSeconds} s`
      : '',
  ].filter((x) => x !== '');
  const rows = [
    `job: ${count(p.frameCount, 'frame')} at ${p.fps} fps, ${count(r.tasks, 'task')} of ${p.chunkSeconds} s, ` +
      `${r.workGpuMinutes.toFixed(1)} GPU-minutes of work (${p.gpuFps.toFixed(2)} frames/s per GPU${p.gpuTypes ? ' on average' : ''})`,
    `spot plan: ${p.workers} spot + ${p.onDemandWorkers} on-demand ${noun(p.workers + p.onDemandWorkers, 'worker')}${fleet}, ` +
      `${p.interruptionRate} interruptions/h, ${p.noticeSeconds} s notice` +
      (policy.length > 0 ? `; policy: ${policy.join(', ')}` : ''),
    `  wall time       ${min(r.wallMinutes)}`,
    `  GPU time        ${min(r.gpuMinutes)} (wasted ${r.wastedGpuMinutes.toFixed(1)}: redone ` +
      `${r.redoneGpuMinutes.toFixed(1)}, start-up ${r.startupGpuMinutes.toFixed(1)})`,
    `  interruptions   ${r.interruptions} (tasks re-queued ${r.tasksRequeued}, frames redone ${r.framesRedone}, ` +
      `at most ${r.maxTaskInterruptions} per task)`,
    ...r.zones.map(
      (z) =>
        `  zone ${z.name.padEnd(10)} ${count(z.interruptions, 'interruption')}, ${count(z.reclaims, 'reclaim')}, ` +
        `${(z.workerSeconds / 60).toFixed(1)} worker-min, at most ${count(z.maxWorkers, 'worker')}`,
    ),
    ...(p.deadlineMinutes !== undefined || p.spotWaitLimitSeconds !== undefined
      ? [
          `  fallback        at most ${count(r.fallbackWorkers, 'on-demand worker')} started by the fallback rules`,
        ]
      : []),
    ...(r.tenants
      ? [
          `  tenants         small job done at ${min(r.tenants.smallWallMinutes)}, big job at ${min(r.tenants.bigWallMinutes)}`,
        ]
      : []),
    `  cost            ${money(r.spotCost)}`,
    ...(r.deadline
      ? [
          `  deadline        ${r.deadline.met ? 'met' : 'missed'}; without it ${min(r.deadline.withoutWallMinutes)} ` +
            `for ${money(r.deadline.withoutCost)}: the deadline costs ${money(r.deadline.extraCost)}`,
        ]
      : []),
    `on-demand only: ${count(p.workers + p.onDemandWorkers, 'worker')}`,
    `  wall time       ${min(r.onDemandWallMinutes)}`,
    `  cost            ${money(r.onDemandCost)}`,
    `saving            ${r.savingPercent.toFixed(1)}%`,
  ];
  if (!r.completed) rows.push('warning: the simulated job did not complete');
  return `${rows.join('\n')}\n`;
}

export function sweepTable(flag: string, rows: { value: number; result: SimResult }[]): string {
  const head = [
    flag,
    'tasks',
    'wall min',
    'GPU min',
    'wasted',
    'interrupts',
    'spot $',
    'on-demand $',
    'saving %',
  ];
  const body = rows.map(({ value, result: r }) => [
    String(value),
    String(r.tasks),
    r.wallMinutes.toFixed(1),
    r.gpuMinutes.toFixed(1),
    r.wastedGpuMinutes.toFixed(2),
    String(r.interruptions),
    r.spotCost.toFixed(3),
    r.onDemandCost.toFixed(3),
    r.savingPercent.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  return `${[line(head), ...body.map(line)].join('\n')}\n`;
}

/** Prices from the flags, or else from the price table's entry for `--instance-type`. */
function pricesFromFlags(f: SimulateFlags): { spotPrice: number; onDemandPrice: number } {
  if (f.gpuTypes !== undefined) {
    if (f.instanceType !== undefined || f.spotPrice !== undefined || f.onDemandPrice !== undefined)
      throw new UserError(
        '--gpu-types prices each type: leave out --instance-type, --spot-price and --on-demand-price',
      );
    return { spotPrice: 0, onDemandPrice: 0 };
  }
  if (f.spotPrice !== undefined && f.onDemandPrice !== undefined)
    return { spotPrice: f.spotPrice, onDemandPrice: f.onDemandPrice };
  if (f.instanceType === undefined)
    throw new UserError(
      'give --spot-price and --on-demand-price, or --instance-type to take them from the price table',
    );
  const entry = instancePrice(priceTableFromFlags({ prices: f.prices }), f.instanceType, f.cloud);
  return { spotPrice: f.spotPrice ?? entry.spot, onDemandPrice: f.onDemandPrice ?? entry.onDemand };
}

function inputFromFlags(f: SimulateFlags, prices: { spotPrice: number; onDemandPrice: number }): SimInput {
  return {
    workGpuMinutes: f.workGpuMinutes,
    videoSeconds: f.videoSeconds,
    fps: f.fps,
    gpuFps: f.gpuFps,
    ...prices,
    interruptionRate: f.interruptionRate,
    noticeSeconds: f.notice,
    chunkSeconds: f.chunkSeconds,
    checkpointFrames: f.checkpointFrames,
    workers: f.workers,
    onDemandWorkers: f.onDemandWorkers,
    startupSeconds: f.startupSeconds,
    replacementSeconds: f.replacementSeconds,
    mergeSeconds: f.mergeSeconds,
    leaseTtlSeconds: f.leaseTtl,
    seed: f.seed,
    onDemandFor: parseOnDemandFor(f.onDemandFor),
    onDemandAfter: f.onDemandAfter,
    zones: f.zones === undefined ? undefined : parseZones(f.zones),
    zoneReclaimRate: f.zoneReclaimRate,
    zoneOutageSeconds: f.zoneOutageSeconds,
    deadlineMinutes: f.deadline === undefined ? undefined : f.deadline / 60_000,
    spotWaitLimitSeconds: f.spotWaitLimit === undefined ? undefined : f.spotWaitLimit / 1000,
    smallTenantFrames:
      f.smallTenantSeconds === undefined
        ? undefined
        : Math.max(1, Math.round(f.smallTenantSeconds * (f.fps ?? SIM_DEFAULTS.fps))),
    gpuTypes:
      f.gpuTypes === undefined
        ? undefined
        : parseGpuTypes(f.gpuTypes, (type) =>
            instancePrice(priceTableFromFlags({ prices: f.prices }), type, f.cloud),
          ),
  };
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'what a job would cost and how long it would take on spot workers: the real scheduler on a virtual clock',
    )
    .option('--work-gpu-minutes <m>', 'GPU-minutes of work in the job (sets the GPU speed)', positiveNumber)
    .option('--video-seconds <s>', 'video length (default 300)', positiveNumber)
    .option('--fps <f>', 'video frame rate (default 30)', positiveNumber)
    .option('--gpu-fps <g>', 'frames one GPU processes per second', positiveNumber)
    .option(
      '--spot-price <dollars>',
      "spot price per GPU-hour (default: the instance type's)",
      positiveNumber,
    )
    .option(
      '--on-demand-price <dollars>',
      "on-demand price per GPU-hour (default: the instance type's)",
      positiveNumber,
    )
    .option('--instance-type <type>', 'take the prices from the price table, e.g. p3.2xlarge')
    .option(
      '--cloud <cloud>',
      'the cloud of --instance-type, where several list it (aws, gcp, azure, alibaba)',
    )
    .option('--prices <file>', 'YAML price table whose entries replace or add to the shipped GPU prices')
    .option(
      '--interruption-rate <r>',
      'spot interruptions per instance-hour (Poisson)',
      nonNegativeNumber,
      0.2,
    )
    .option(
      '--notice <seconds>',
      'interruption notice (AWS 120, GCP/Azure 30, 0: none)',
      nonNegativeNumber,
      120,
    )
    .option('--chunk-seconds <s>', 'seconds of video per task', positiveNumber, 10)
    .option('--checkpoint-frames <n>', 'frames per checkpointed segment', positiveInt, 150)
    .option('--workers <n>', 'spot workers', wholeNumber, 20)
    .option(
      '--on-demand-workers <n>',
      'on-demand workers (with --deadline or --spot-wait-limit: a reserve the fallback rules start)',
      wholeNumber,
      0,
    )
    .option(
      '--startup-seconds <s>',
      'billed boot time of an instance before its first claim',
      nonNegativeNumber,
      0,
    )
    .option(
      '--replacement-seconds <s>',
      'from an interrupted instance going to its replacement',
      nonNegativeNumber,
      60,
    )
    .option('--merge-seconds <s>', 'GPU time of the merge task', nonNegativeNumber, 0)
    .option('--lease-ttl <seconds>', 'lease TTL (at least 3 checkpoints)', positiveNumber, 60)
    .option('--seed <n>', 'random seed: same seed, same result', wholeNumber, 1)
    .option(
      '--gpu-types <types>',
      'a mixed fleet, TYPE:fps=N:spot=N[:on-demand=N][:spot-price=X:on-demand-price=X],… (prices from the table)',
    )
    .option(
      '--on-demand-for <work>',
      'pool policy: work only on-demand workers claim (merge, urgent, merge,urgent)',
    )
    .option(
      '--on-demand-after <interruptions>',
      'pool policy: keep a task spot workers lost this many times for on-demand workers',
      positiveInt,
    )
    .option(
      '--zones <zones>',
      'spot zones and their capacity, NAME:MAX_SPOT_WORKERS,… e.g. us-east-1a:10,us-east-1b:10',
    )
    .option(
      '--zone-reclaim-rate <r>',
      'zone-wide reclaims per zone per hour (Poisson): all its spot workers get the notice at once',
      nonNegativeNumber,
      0,
    )
    .option(
      '--zone-outage-seconds <s>',
      'after a reclaim, how long the zone has no spot capacity',
      nonNegativeNumber,
      600,
    )
    .option(
      '--deadline <duration>',
      'the job must be done this long after submission (e.g. 45m): the on-demand workers start when spot alone would miss it',
      positiveDuration,
    )
    .option(
      '--spot-wait-limit <duration>',
      'tasks waiting longer than this for spot go to the on-demand workers (e.g. 10m)',
      positiveDuration,
    )
    .option(
      '--small-tenant-seconds <s>',
      'fair share: a second tenant submits a job of this much video right after the first; prints when each is done',
      positiveNumber,
    )
    .option(
      '--sweep <key=values>',
      `vary one parameter, e.g. chunk-seconds=5,10,30,60, and print a table (${Object.keys(SWEEP_KEYS).join(', ')}; deadline in minutes, spot-wait-limit in seconds)`,
    )
    .option('--json', 'print JSON')
    .action(async (flags: SimulateFlags) => {
      const input = inputFromFlags(flags, pricesFromFlags(flags));
      simParams(input); // validates the job description before anything runs
      if (flags.sweep) {
        const sweep = parseSweep(flags.sweep);
        const rows: { value: number; result: SimResult }[] = [];
        for (const value of sweep.values) {
          rows.push({ value, result: await simulate(simParams({ ...input, [sweep.key]: value })) });
        }
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(
                rows.map((r) => ({ [sweep.flag]: r.value, ...resultJson(r.result) })),
                null,
                2,
              )}\n`
            : sweepTable(sweep.flag, rows),
        );
        return;
      }
      const result = await simulate(simParams(input));
      process.stdout.write(
        flags.json ? `${JSON.stringify(resultJson(result), null, 2)}\n` : resultText(input, result),
      );
    });
}
