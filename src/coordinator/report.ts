import { type FallbackPolicy, jobDeadline, type OnDemandReason } from '../core/fallback.js';
import { type JobReport, type ReportOptions, summarizeJob } from '../cost/jobReport.js';
import type { JobStore } from '../store/store.js';
import { jobOnDemandCall } from './onDemandFallback.js';

export interface CoordinatorReportOptions extends ReportOptions {
  /** The coordinator's fallback policy: with it, a running job's report says what it asks of on-demand workers. */
  fallback?: FallbackPolicy;
}

/** A job's report, with its deadline (when it has one) and, under a fallback policy, its on-demand call. */
export type CoordinatorJobReport = JobReport & {
  /** ISO 8601. */
  deadline?: string;
  /** On-demand workers the job wants and why (null: spot will do); present under a fallback policy. */
  onDemand?: { workers: number; reasons: OnDemandReason[]; detail: string } | null;
};

/** A job's report from its rows in the store (see summarizeJob). */
export async function jobReport(
  store: JobStore,
  jobId: string,
  options: CoordinatorReportOptions,
  now = Date.now(),
): Promise<CoordinatorJobReport> {
  const job = await store.getJob(jobId);
  if (!job) throw new Error(`unknown job ${jobId}`);
  const [tasks, segments, attempts, rejected, output] = await Promise.all([
    store.listTasks(jobId),
    store.listSegments(jobId),
    store.listAttempts(jobId),
    store.listRejectedSegments(jobId),
    store.getOutput(jobId),
  ]);
  const report: CoordinatorJobReport = summarizeJob(job, tasks, segments, attempts, now, options, {
    rejected,
    output,
  });
  const deadline = jobDeadline(job.spec);
  if (deadline !== null) report.deadline = new Date(deadline).toISOString();
  if (options.fallback) {
    const call =
      job.state === 'running' ? jobOnDemandCall(job, tasks, attempts, options.fallback, now) : undefined;
    report.onDemand = call ? { workers: call.workers, reasons: call.reasons, detail: call.detail } : null;
  }
  return report;
}
