import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ON_DEMAND_REASONS } from '../core/fallback.js';
import type { OnDemandOnly, Pool, ReleaseReason, TaskKind } from '../core/types.js';
import type { LeaseStats, StatsStore } from '../store/store.js';
import type { JobOnDemandCall } from './onDemandFallback.js';
import { ADMISSION_LIMITS, type AdmissionLimit } from './tenantLimits.js';

/** What a finished attempt cost, as `attemptEnded` reports it. */
export interface EndedAttemptUsage {
  /** The lifecycle the worker reported at claim time; null when it reported none. */
  lifecycle: Pool | null;
  gpuSeconds: number;
  /** Price of the attempt when a price table knows the instance; 0 until one is wired in. */
  costUsd?: number;
}

export interface WorkerReadings {
  fps?: number;
  /** Percent, 0–100, as heartbeats carry it. */
  gpuUtilization?: number;
  gpuMemoryUsedMiB?: number;
  gpuMemoryTotalMiB?: number;
}

export interface MetricsOptions {
  /** Shared state (queue depth, running tasks, active jobs), read at every scrape. */
  store?: StatsStore;
  /** The coordinator's pool policy: which queued work only on-demand workers may take. */
  onDemandOnly?: readonly OnDemandOnly[];
  /** The on-demand fallback (OnDemandFallback), asked at every scrape: jobs that spot alone will not do. */
  onDemand?: { evaluate(): Promise<readonly JobOnDemandCall[]> };
  /** A worker's fps/GPU series are dropped after this long without a heartbeat (default 2 minutes). */
  workerStaleMs?: number;
  now?: () => number;
}

const MIB = 1024 * 1024;

function lifecycleLabel(lifecycle: Pool | null | undefined): string {
  return lifecycle ?? 'unknown';
}

/** `2xx`, `4xx`, …: the status dimension of the HTTP histogram stays small. */
export function statusClass(statusCode: number): string {
  return `${Math.floor(statusCode / 100)}xx`;
}

/**
 * The coordinator's Prometheus metrics, in a registry of its own (several servers can live in one process).
 * Counters and per-worker gauges describe what this replica saw; the gauges read from the store at scrape
 * time describe the shared database, so every replica reports the same value (aggregate them with `max`).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly workerSeen = new Map<string, number>();

  private readonly queueDepth = this.gauge(
    'spotfuse_queue_depth',
    'Tasks waiting to be claimed (shared state; same on every replica), by the pool that may take them ' +
      '(spot: any worker; on-demand: kept for on-demand workers by the pool policy) and job priority.',
    ['pool', 'priority'],
  );
  private readonly onDemandWanted = this.gauge(
    'spotfuse_on_demand_wanted',
    'On-demand workers wanted (shared state; same on every replica), by reason: policy (waiting work the ' +
      'pool policy keeps off spot), deadline (jobs that spot alone will finish too late), spot_wait (tasks ' +
      'that waited past --spot-wait-limit). The on-demand pool scales on their sum.',
    ['reason'],
  );
  private readonly tasksRunning = this.gauge(
    'spotfuse_tasks_running',
    'Tasks under a lease (shared state), by the lifecycle their worker reported.',
    ['lifecycle'],
  );
  private readonly jobsActive = this.gauge(
    'spotfuse_jobs_active',
    'Jobs not yet ended (shared state), by state.',
    ['state'],
  );
  private readonly claims = this.counter(
    'spotfuse_task_claims_total',
    'Tasks handed to workers, by the pool the worker claimed for.',
    ['pool'],
  );
  private readonly completions = this.counter('spotfuse_tasks_completed_total', 'Tasks completed, by kind.', [
    'kind',
  ]);
  private readonly preemptions = this.counter(
    'spotfuse_task_preemptions_total',
    'Tasks their worker gave back on a preemption notice.',
  );
  private readonly taskFailures = this.counter(
    'spotfuse_task_failures_total',
    'Task attempts that ended in an error (they count toward the attempt budget).',
  );
  private readonly jobFailures = this.counter(
    'spotfuse_job_failures_total',
    'Jobs that failed because a task used up its attempts.',
  );
  private readonly leasesExpired = this.counter(
    'spotfuse_leases_expired_total',
    'Leases that ran out without a word from their worker (vanished machines); the tasks ran again.',
  );
  private readonly framesProcessed = this.counter(
    'spotfuse_frames_processed_total',
    'Output frames checkpointed (uploaded and recorded); frames lost to an interruption are not counted.',
  );
  private readonly workerFps = this.gauge(
    'spotfuse_worker_fps',
    'Frames per second of each worker, from its latest heartbeat to this replica.',
    ['worker'],
  );
  private readonly workerGpuUtilization = this.gauge(
    'spotfuse_worker_gpu_utilization_ratio',
    'Mean GPU utilisation (0-1) of each worker, from its latest heartbeat to this replica.',
    ['worker'],
  );
  private readonly workerGpuMemoryUsed = this.gauge(
    'spotfuse_worker_gpu_memory_used_bytes',
    'GPU memory in use on each worker, from its latest heartbeat to this replica.',
    ['worker'],
  );
  private readonly workerGpuMemoryTotal = this.gauge(
    'spotfuse_worker_gpu_memory_total_bytes',
    'GPU memory of each worker, from its latest heartbeat to this replica.',
    ['worker'],
  );
  private readonly gpuSeconds = this.counter(
    'spotfuse_gpu_seconds_total',
    'GPU time of ended attempts (claim to end, including work lost to interruptions), by lifecycle.',
    ['lifecycle'],
  );
  private readonly costUsd = this.counter(
    'spotfuse_cost_usd_total',
    'Price of ended attempts in US dollars, by lifecycle (0 for instances the price table does not know).',
    ['lifecycle'],
  );
  private readonly webhookDeliveries = this.counter(
    'spotfuse_webhook_deliveries_total',
    'Webhook delivery attempts, by outcome.',
    ['outcome'],
  );
  private readonly admissionRefusals = this.counter(
    'spotfuse_admission_refusals_total',
    'Job submissions refused by a tenant limit, by limit (chunk_frames, tasks_per_job, job_pixels, ' +
      'active_jobs, queued_tasks).',
    ['limit'],
  );
  private readonly httpDuration = new Histogram({
    name: 'spotfuse_http_request_duration_seconds',
    help: 'HTTP request latency, by route pattern, method and status class.',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor(private readonly options: MetricsOptions = {}) {
    this.now = options.now ?? Date.now;
    // Series that exist from the start, so rate() and alerts see a 0 before the first event.
    this.preemptions.inc(0);
    this.taskFailures.inc(0);
    this.jobFailures.inc(0);
    this.leasesExpired.inc(0);
    this.framesProcessed.inc(0);
    for (const pool of ['spot', 'on-demand']) this.claims.inc({ pool }, 0);
    for (const limit of ADMISSION_LIMITS) this.admissionRefusals.inc({ limit }, 0);
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[] = []) {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]) {
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }

  claimed(pool: Pool): void {
    this.claims.inc({ pool });
  }

  completed(kind: TaskKind): void {
    this.completions.inc({ kind });
  }

  released(reason: ReleaseReason, jobFailed: boolean): void {
    if (reason === 'preempted') this.preemptions.inc();
    else this.taskFailures.inc();
    if (jobFailed) this.jobFailures.inc();
  }

  expired(leases: number): void {
    this.leasesExpired.inc(leases);
  }

  framesCheckpointed(frames: number): void {
    this.framesProcessed.inc(frames);
  }

  attemptEnded(usage: EndedAttemptUsage): void {
    this.gpuSeconds.inc({ lifecycle: lifecycleLabel(usage.lifecycle) }, usage.gpuSeconds);
    this.observeAttemptCost(usage.lifecycle, usage.costUsd ?? 0);
  }

  /** Adds the price of one ended attempt (the price table's, wired in by the caller). */
  observeAttemptCost(lifecycle: Pool | null, usd: number): void {
    this.costUsd.inc({ lifecycle: lifecycleLabel(lifecycle) }, usd);
  }

  /** A job submission a tenant limit refused. */
  admissionRefused(limit: AdmissionLimit): void {
    this.admissionRefusals.inc({ limit });
  }

  /** One webhook delivery attempt: `delivered`, `pending` (failed, will be retried) or `dead` (given up). */
  webhookDelivery(outcome: string): void {
    this.webhookDeliveries.inc({ outcome });
  }

  /** A heartbeat's readings; the worker's series live until it has been silent for `workerStaleMs`. */
  workerHeartbeat(worker: string, readings: WorkerReadings): void {
    this.workerSeen.set(worker, this.now());
    if (readings.fps !== undefined) this.workerFps.set({ worker }, readings.fps);
    if (readings.gpuUtilization !== undefined)
      this.workerGpuUtilization.set({ worker }, readings.gpuUtilization / 100);
    if (readings.gpuMemoryUsedMiB !== undefined)
      this.workerGpuMemoryUsed.set({ worker }, readings.gpuMemoryUsedMiB * MIB);
    if (readings.gpuMemoryTotalMiB !== undefined)
      this.workerGpuMemoryTotal.set({ worker }, readings.gpuMemoryTotalMiB * MIB);
  }

  httpRequest(route: string, method: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe({ route, method, status: statusClass(statusCode) }, seconds);
  }

  /** The exposition text: refreshes the shared-state gauges and drops silent workers first. */
  async render(): Promise<string> {
    this.dropSilentWorkers();
    if (this.options.store) {
      try {
        const [stats, calls] = await Promise.all([
          this.options.store.leaseStats(),
          this.options.onDemand?.evaluate() ?? [],
        ]);
        this.setOnDemandWanted(this.setLeaseStats(stats), calls);
      } catch {
        // The database is unreachable (/readyz says so): no shared-state series rather than stale ones,
        // and the replica's own counters are still served.
        for (const gauge of [this.queueDepth, this.onDemandWanted, this.tasksRunning, this.jobsActive])
          gauge.reset();
      }
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private dropSilentWorkers(): void {
    const cutoff = this.now() - (this.options.workerStaleMs ?? 120_000);
    const gauges = [
      this.workerFps,
      this.workerGpuUtilization,
      this.workerGpuMemoryUsed,
      this.workerGpuMemoryTotal,
    ];
    for (const [worker, seen] of this.workerSeen) {
      if (seen >= cutoff) continue;
      this.workerSeen.delete(worker);
      for (const gauge of gauges) gauge.remove({ worker });
    }
  }

  /** `policy`: the waiting work the queue gauge counts for the on-demand pool; each job's call under its first reason. */
  private setOnDemandWanted(policy: number, calls: readonly JobOnDemandCall[]): void {
    this.onDemandWanted.reset();
    this.onDemandWanted.set({ reason: 'policy' }, policy);
    for (const reason of ON_DEMAND_REASONS) this.onDemandWanted.set({ reason }, 0);
    for (const call of calls) this.onDemandWanted.inc({ reason: call.reasons[0] }, call.workers);
  }

  /** Sets the shared-state gauges; returns the tasks waiting that only on-demand workers may take. */
  private setLeaseStats(stats: LeaseStats): number {
    const policy = this.options.onDemandOnly ?? [];
    const onDemandOnly = (kind: TaskKind, priority: string) =>
      (kind === 'merge' && policy.includes('merge')) || (priority === 'urgent' && policy.includes('urgent'));
    this.queueDepth.reset();
    for (const pool of ['spot', 'on-demand']) {
      for (const priority of ['normal', 'urgent']) this.queueDepth.set({ pool, priority }, 0);
    }
    let onDemandPool = 0;
    for (const { kind, priority, count } of stats.pending) {
      const pool = onDemandOnly(kind, priority) ? 'on-demand' : 'spot';
      this.queueDepth.inc({ pool, priority }, count);
      if (pool === 'on-demand') onDemandPool += count;
    }
    this.tasksRunning.reset();
    for (const lifecycle of ['spot', 'on-demand']) this.tasksRunning.set({ lifecycle }, 0);
    for (const { lifecycle, count } of stats.running)
      this.tasksRunning.inc({ lifecycle: lifecycleLabel(lifecycle) }, count);
    this.jobsActive.reset();
    for (const state of ['running', 'merging']) this.jobsActive.set({ state }, 0);
    for (const { state, count } of stats.jobs) this.jobsActive.set({ state }, count);
    return onDemandPool;
  }
}
