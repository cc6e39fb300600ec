import { type JobReport, type ReportOptions, summarizeJob } from '../cost/jobReport.js';
import type { JobStore } from '../store/store.js';

/** A job's report from its rows in the store (see summarizeJob). */
export async function jobReport(
  store: JobStore,
  jobId: string,
  options: ReportOptions,
  now = Date.now(),
): Promise<JobReport> {
  const job = await store.getJob(jobId);
  if (!job) throw new Error(`unknown job ${jobId}`);
  const [tasks, segments, attempts, rejected, output] = await Promise.all([
    store.listTasks(jobId),
    store.listSegments(jobId),
    store.listAttempts(jobId),
    store.listRejectedSegments(jobId),
    store.getOutput(jobId),
  ]);
  return summarizeJob(job, tasks, segments, attempts, now, options, { rejected, output });
}
