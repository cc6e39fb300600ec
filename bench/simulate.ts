/**
 * Simulator throughput: one job of `--tasks` tasks (default 10,000) on `--workers` spot workers (default
 * 500) at 2 interruptions per hour with a 30 s notice, through the real LeaseService over SqliteStore on
 * ':memory:'. Prints wall-clock time and events per second. Build first (`npm run build`), then
 * `node dist/bench/simulate.js [--tasks N] [--workers N]`.
 */
import { parseArgs } from 'node:util';
import { runOnce, SIM_DEFAULTS } from '../src/sim/simulate.js';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '500' },
    rate: { type: 'string', default: '2' },
    notice: { type: 'string', default: '30' },
  },
});
const tasks = Number(values.tasks);
const workers = Number(values.workers);
const fps = 30;
const chunkSeconds = 10;
const started = performance.now();
const r = await runOnce({
  ...SIM_DEFAULTS,
  frameCount: tasks * chunkSeconds * fps,
  fps,
  chunkSeconds,
  gpuFps: 3.75,
  workers,
  spotPrice: 0.68,
  onDemandPrice: 3.06,
  interruptionRate: Number(values.rate),
  noticeSeconds: Number(values.notice),
});
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${r.tasks} tasks, ${workers} workers: ${seconds.toFixed(2)} s wall-clock, ${r.events} events ` +
    `(${Math.round(r.events / seconds)}/s); simulated ${r.wallMinutes.toFixed(1)} min, ` +
    `${r.interruptions} interruptions, ${r.tasksRequeued} re-queued, completed ${r.completed}\n`,
);
