import { UserError } from '../core/errors.js';
import type { PlanLimits } from '../core/planner.js';
import type { TenantLoad } from '../store/store.js';

/** What one tenant may queue on a shared coordinator: the size of each job, and how much at once. */
export interface TenantLimits extends PlanLimits {
  /** Most width x height x frames in one job. */
  maxJobPixels: number;
  /** Most jobs a tenant has running or merging at once. */
  maxActiveJobs: number;
  /** Most tasks, waiting or leased, over all of a tenant's jobs. */
  maxQueuedTasks: number;
}

export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  maxTasks: 10_000,
  minChunkFrames: 25,
  // A little over two hours of 4K at 60 fps.
  maxJobPixels: 4e12,
  maxActiveJobs: 20,
  maxQueuedTasks: 20_000,
};

/** The limits, as `/metrics` labels the submissions each one refused. */
export const ADMISSION_LIMITS = [
  'chunk_frames',
  'tasks_per_job',
  'job_pixels',
  'active_jobs',
  'queued_tasks',
] as const;
export type AdmissionLimit = (typeof ADMISSION_LIMITS)[number];

/** A submission over one of the limits: a user error, with the limit it broke and an HTTP status. */
export class AdmissionRefused extends UserError {
  constructor(
    readonly limit: AdmissionLimit,
    message: string,
    /** 400: the job itself is too big; 429: the tenant has too much under way (try again later). */
    readonly status: 400 | 429,
  ) {
    super(message);
  }
}

/** Refuses a job of `pixels` (width x height x frames) over the limit. */
export function checkJobPixels(width: number, height: number, frames: number, limits: TenantLimits): void {
  const pixels = width * height * frames;
  if (pixels > limits.maxJobPixels)
    throw new AdmissionRefused(
      'job_pixels',
      `${width}x${height} x ${frames} frames is ${pixels.toExponential(2)} pixels: at most ` +
        `${limits.maxJobPixels.toExponential(2)} per job (split the video)`,
      400,
    );
}

/** Refuses a job of `tasks` more tasks while the tenant already has `load` under way. */
export function checkTenantLoad(load: TenantLoad, tasks: number, limits: TenantLimits): void {
  if (load.activeJobs + 1 > limits.maxActiveJobs)
    throw new AdmissionRefused(
      'active_jobs',
      `${load.activeJobs} of your jobs are under way: at most ${limits.maxActiveJobs} at once (wait for one to end)`,
      429,
    );
  if (load.queuedTasks + tasks > limits.maxQueuedTasks)
    throw new AdmissionRefused(
      'queued_tasks',
      `${load.queuedTasks} of your tasks are queued and this job adds ${tasks}: at most ` +
        `${limits.maxQueuedTasks} at once (wait for some to finish)`,
      429,
    );
}

/**
 * Runs `admit` for one tenant at a time (in this process), so that two submissions at once cannot both
 * pass the check of the tenant's load before either is queued. Replicas each keep their own turn.
 */
export class TenantTurns {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(tenant: string, admit: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(tenant) ?? Promise.resolve();
    const turn = previous.then(admit);
    const tail = turn.catch(() => {});
    this.tails.set(tenant, tail);
    void tail.then(() => {
      if (this.tails.get(tenant) === tail) this.tails.delete(tenant);
    });
    return turn;
  }
}
