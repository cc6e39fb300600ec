import { isInterruption } from '../core/lease.js';
import type { Attempt } from '../core/types.js';
import { attemptCost } from '../cost/accounting.js';
import type { PriceTable } from '../cost/prices.js';
import type { FleetView, SavingsDay, SavingsView } from '../protocol/jobViews.js';
import { type JobStore, type StatsStore, workerName } from '../store/store.js';

/** The store calls the fleet queries make. */
export type FleetStore = JobStore & StatsStore;

/** Jobs the fleet queries look through, newest first. */
const JOBS_SCANNED = 1000;
const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * What the admin sees of the whole fleet: the workers holding leases now, and what GPU time has cost by
 * day against on-demand prices. Both read the attempts of recent jobs (the newest JOBS_SCANNED).
 */
export class FleetQueries {
  private readonly now: () => number;

  constructor(
    private readonly store: FleetStore,
    private readonly options: { prices: PriceTable; now?: () => number },
  ) {
    this.now = options.now ?? Date.now;
  }

  async fleet(): Promise<FleetView> {
    const [jobs, stats] = await Promise.all([
      this.store.listJobs({ limit: JOBS_SCANNED }),
      this.store.leaseStats(),
    ]);
    const active = jobs.filter((j) => j.state === 'running' || j.state === 'merging');
    const perJob = await Promise.all(
      active.map(async (job) => {
        const [tasks, attempts] = await Promise.all([
          this.store.listTasks(job.id),
          this.store.listAttempts(job.id),
        ]);
        return attempts
          .filter((a) => a.outcome === 'running')
          .flatMap((a) => {
            const task = tasks.find((t) => t.id === a.taskId);
            if (!task) return [];
            return [
              {
                worker: workerName(a.workerId),
                jobId: job.id,
                taskId: task.id,
                taskKind: task.kind,
                range: task.range,
                epoch: a.epoch,
                startedAt: a.startedAt,
                framesDone: a.framesDone,
                cloud: a.cloud,
                instanceType: a.instanceType,
                zone: a.zone,
                lifecycle: a.lifecycle,
                fps: a.fps,
                gpuUtilization: a.gpuUtilization,
                leaseExpiresAt: task.epoch === a.epoch ? task.leaseExpiresAt : null,
              },
            ];
          });
      }),
    );
    return {
      now: this.now(),
      workers: perJob.flat().sort((a, b) => a.worker.localeCompare(b.worker)),
      queued: stats.pending.reduce((sum, p) => sum + p.count, 0),
      activeJobs: stats.jobs.reduce((sum, j) => sum + j.count, 0),
    };
  }

  /** Cost per UTC day of the attempts started in the last `days` days (today included), oldest first. */
  async savings(days: number): Promise<SavingsView> {
    const now = this.now();
    const since = Math.floor(now / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
    const jobs = await this.store.listJobs({ limit: JOBS_SCANNED });
    const attempts = (await Promise.all(jobs.map((j) => this.store.listAttempts(j.id))))
      .flat()
      .filter((a) => a.startedAt >= since);
    const byDay = new Map<string, SavingsDay>();
    for (let t = since; t <= now; t += DAY_MS) {
      const day = dayOf(t);
      byDay.set(day, { day, paid: 0, onDemand: 0, gpuSeconds: 0, wastedGpuSeconds: 0, interruptions: 0 });
    }
    const byHour = new Map<string, number>();
    for (let t = since; t <= now; t += HOUR_MS) byHour.set(hourOf(t), 0);
    for (const a of attempts) {
      const entry = byDay.get(dayOf(a.startedAt));
      if (!entry) continue;
      const cost = attemptCost(a, this.options.prices, now);
      entry.paid += cost.paid ?? 0;
      entry.onDemand += cost.onDemand ?? 0;
      entry.gpuSeconds += cost.gpuSeconds;
      entry.wastedGpuSeconds += cost.wastedGpuSeconds;
      if (interrupted(a)) {
        entry.interruptions++;
        const hour = hourOf(a.endedAt ?? a.startedAt);
        byHour.set(hour, (byHour.get(hour) ?? 0) + 1);
      }
    }
    return {
      currency: 'USD',
      days: [...byDay.values()],
      interruptionsByHour: [...byHour]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([hour, count]) => ({ hour, count })),
    };
  }
}

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13);
const interrupted = (a: Attempt) => isInterruption(a.outcome);
