import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { framesLost, isInterruption } from '../../../src/core/lease.js';
import type { AttemptOutcome } from '../../../src/core/types.js';
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

/** One row of the coordinator's attempts table, as the chaos runner reads it. */
export interface AttemptRow {
  taskId: string;
  epoch: number;
  workerId: string;
  outcome: AttemptOutcome;
  framesDone: number;
  framesCheckpointed: number;
}

export interface AccountingFacts {
  report: JobReport;
  attempts: AttemptRow[];
  faults: FaultRecord[];
  /** Seconds the job's workers were running (alive, or stopped as zombies) while the job ran. */
  workerSeconds: number;
  leaseTtlSeconds: number;
  checkpointFrames: number;
  /** Workers a coordinator-side fault can leave with a claim they never heard of (each an interruption). */
  fleet: number;
  /** How often each attempt (`taskId epoch`) ran its task again in place, the object store out of reach. */
  retries: Map<string, number>;
}

/**
 * The report against the attempts and what was injected: no failure from a preemption, every attempt
 * chaos interrupted recorded as an interruption, no other interruption but those a coordinator fault
 * can cause, frames redone and GPU time that fit them.
 */
export function checkAccounting(facts: AccountingFacts): string[] {
  const { report, faults, attempts } = facts;
  const problems: string[] = [];
  const failed = attempts.filter((a) => a.outcome === 'error');
  if (failed.length > 0) problems.push(`${failed.length} task attempts counted as failed`);
  const interrupted = attempts.filter((a) => isInterruption(a.outcome));
  if (report.interruptions !== interrupted.length || report.failures !== failed.length)
    problems.push(
      `report counts ${report.interruptions} interruptions and ${report.failures} failures; ` +
        `the attempts ${interrupted.length} and ${failed.length}`,
    );
  const redone = attempts.reduce((sum, a) => sum + framesLost(a), 0);
  if (report.framesRedone !== redone)
    problems.push(`report counts ${report.framesRedone} frames redone, the attempts ${redone}`);
  const caused = faults.flatMap((f) => f.interrupted);
  const attemptOf = (t: { taskId: string; epoch: number }) =>
    attempts.find((a) => a.taskId === t.taskId && a.epoch === t.epoch);
  for (const task of caused) {
    const outcome = attemptOf(task)?.outcome ?? 'missing';
    if (!isInterruption(outcome as AttemptOutcome))
      problems.push(`chaos interrupted task ${task.taskId} epoch ${task.epoch}; its attempt is ${outcome}`);
  }
  // A claim in flight when a replica or the database goes away can be granted without the worker hearing
  // of it: that lease expires too. Nothing else interrupts a task.
  const coordinatorFaults = faults.filter((f) => f.injected && ['replica', 'postgres'].includes(f.kind));
  const ended = new Set(faults.flatMap((f) => f.ended));
  const unexplained = interrupted.filter(
    (a) =>
      !caused.some((c) => c.taskId === a.taskId && c.epoch === a.epoch) &&
      // A claim granted to a worker as chaos ended it, the answer never read.
      !ended.has(a.workerId.split(':').at(-1) ?? ''),
  );
  if (unexplained.length > coordinatorFaults.length * facts.fleet)
    problems.push(
      `interruptions chaos did not cause: ${unexplained.map((a) => `${a.taskId} epoch ${a.epoch} on ${a.workerId} ${a.outcome}`).join(', ')}`,
    );
  // A worker loses at most the segments in flight and the one it is filling: three of checkpointFrames, for
  // each run of the task (it runs again from its last checkpoint when the object store was out of reach).
  for (const a of attempts)
    if (framesLost(a) > 3 * facts.checkpointFrames * (1 + (facts.retries.get(`${a.taskId} ${a.epoch}`) ?? 0)))
      problems.push(`attempt ${a.taskId} epoch ${a.epoch} lost ${framesLost(a)} frames`);
  const cost = report.cost;
  if (Math.abs(cost.usefulGpuSeconds + cost.wastedGpuSeconds - cost.gpuSeconds) > 0.01)
    problems.push(
      `GPU-seconds ${cost.gpuSeconds} are not useful ${cost.usefulGpuSeconds} + wasted ${cost.wastedGpuSeconds}`,
    );
  if (interrupted.length === 0 && failed.length === 0 && cost.wastedGpuSeconds > 0)
    problems.push(`nothing was interrupted, yet ${cost.wastedGpuSeconds} GPU-seconds wasted`);
  // An attempt runs while its worker does, or until its lease is seen expired (TTL plus a sweep).
  const gpuBound = facts.workerSeconds + interrupted.length * (facts.leaseTtlSeconds + 2) + 2;
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
