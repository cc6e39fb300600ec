import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { JobReport } from '../../../src/cost/jobReport.js';
import type { S3Harness } from '../../blob/s3Harness.js';
import { framePsnr, probeFramesPts } from '../../fixtures/videos.js';
import type { FaultRecord } from './faults.js';

/**
 * The promises a chaos run checks after every job: each returns what it found wrong, in words, so one
 * run reports every broken invariant at once.
 */

/** Below this a frame is not the input's frame re-encoded (neighbouring frames of the test pattern: ~26 dB). */
const SAME_FRAME_DB = 32;

/** Every input frame in the output exactly once, in order, at the input's timestamp. */
export async function checkFrames(input: string, output: string): Promise<string[]> {
  const [want, got] = await Promise.all([probeFramesPts(input), probeFramesPts(output)]);
  if (got.length !== want.length) return [`output has ${got.length} frames, input ${want.length}`];
  const problems: string[] = [];
  const moved = want.findIndex((t, i) => Math.abs(t - got[i]) >= 0.001);
  if (moved >= 0) problems.push(`frame ${moved} is at ${got[moved]} s, in the input at ${want[moved]} s`);
  const scores = await framePsnr(output, input);
  const wrong = scores.findIndex((db) => db < SAME_FRAME_DB);
  if (wrong >= 0)
    problems.push(`output frame ${wrong} is not input frame ${wrong} (PSNR ${scores[wrong].toFixed(1)} dB)`);
  return problems;
}

export interface AccountingFacts {
  report: JobReport;
  faults: FaultRecord[];
  /** Seconds the job's workers were running (alive, or stopped as zombies) while the job ran. */
  workerSeconds: number;
  leaseTtlSeconds: number;
  checkpointFrames: number;
  /** Workers a coordinator-side fault can leave with a claim they never heard of (each an interruption). */
  fleet: number;
}

/**
 * The report against what was injected: no failure from a preemption, every interruption chaos caused is
 * counted, frames redone and GPU time fit the interruptions.
 */
export function checkAccounting(facts: AccountingFacts): string[] {
  const { report, faults } = facts;
  const problems: string[] = [];
  if (report.failures > 0) problems.push(`${report.failures} task attempts counted as failed`);
  const caused = faults.flatMap((f) => f.interrupted);
  // A claim in flight when a replica or the database goes away can be granted without the worker hearing
  // of it: that lease expires too. Nothing else interrupts a task.
  const coordinatorFaults = faults.filter((f) => f.injected && ['replica', 'postgres'].includes(f.kind));
  const most = caused.length + coordinatorFaults.length * facts.fleet;
  if (report.interruptions < caused.length || report.interruptions > most)
    problems.push(
      `report counts ${report.interruptions} interruptions; chaos caused ${caused.length}` +
        (most > caused.length ? ` (up to ${most} with unanswered claims)` : ''),
    );
  for (const task of report.cost.tasks ?? []) {
    const mine = caused.filter((c) => c.taskId === task.taskId).length;
    if (task.interruptions < mine)
      problems.push(`task ${task.taskId}: ${task.interruptions} interruptions counted, chaos caused ${mine}`);
  }
  // A worker loses at most the segments in flight and the one it is filling: three of checkpointFrames.
  const redoneBound = report.interruptions * 3 * facts.checkpointFrames;
  if (report.framesRedone > redoneBound)
    problems.push(`${report.framesRedone} frames redone for ${report.interruptions} interruptions`);
  const cost = report.cost;
  if (report.interruptions === 0 && (report.framesRedone > 0 || cost.wastedGpuSeconds > 0))
    problems.push(`nothing was interrupted, yet ${report.framesRedone} frames redone`);
  if (Math.abs(cost.usefulGpuSeconds + cost.wastedGpuSeconds - cost.gpuSeconds) > 0.01)
    problems.push(
      `GPU-seconds ${cost.gpuSeconds} are not useful ${cost.usefulGpuSeconds} + wasted ${cost.wastedGpuSeconds}`,
    );
  // An attempt runs while its worker does, or until its lease is seen expired (TTL plus a sweep).
  const gpuBound = facts.workerSeconds + report.interruptions * (facts.leaseTtlSeconds + 2) + 2;
  if (cost.gpuSeconds <= 0 || cost.gpuSeconds > gpuBound)
    problems.push(
      `${cost.gpuSeconds.toFixed(1)} GPU-seconds; workers ran ${facts.workerSeconds.toFixed(1)} s`,
    );
  return problems;
}

/** No segment of the job is left in the bucket once the merge is done (retention 0); waits for the delete. */
export async function checkBlobsGone(
  s3: S3Harness,
  prefix: string,
  jobId: string,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listed = await s3.client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/jobs/${jobId}/segments/` }),
    );
    const keys = (listed.Contents ?? []).map((c) => c.Key ?? '');
    if (keys.length === 0) return [];
    if (Date.now() > deadline)
      return [`${keys.length} segment blobs left after the job: ${keys.slice(0, 3).join(', ')}`];
    await sleep(250);
  }
}
