import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobReport } from '../../../src/cost/jobReport.js';
import { ffmpeg } from '../../fixtures/videos.js';
import { clientCli } from '../../helpers/cluster.js';
import { ChaosCluster, storeRetries } from './chaosCluster.js';
import { type FaultRecord, injectFault } from './faults.js';
import { checkAccounting, checkBlobsGone, checkFrames } from './invariants.js';
import { drawSchedule, type PlannedFault, type ScheduleOptions } from './schedule.js';

export interface ChaosOptions {
  /** Scratch space: the database, the bucket, the videos. */
  dir: string;
  seeds: number[];
  workers?: number;
  /** The generated input: seconds of 30 fps video at `size`. */
  video?: { seconds: number; size: string };
  chunkFrames?: number;
  checkpointFrames?: number;
  schedule?: ScheduleOptions;
  /** Upper bound on every wait for a state, and on a job (generous: nothing depends on speed). */
  timeoutMs?: number;
  /** Run a fault-free job first, the measure of the extra wall time (default true). */
  baseline?: boolean;
  /** Keep every process's log in this folder. */
  logs?: string;
  /** Progress lines (a run takes a while). */
  log?: (line: string) => void;
}

export interface RunResult {
  seed: number | 'baseline';
  jobId: string;
  state: string;
  faults: FaultRecord[];
  report: JobReport;
  violations: string[];
}

export interface ChaosResult {
  baseline?: RunResult;
  runs: RunResult[];
  /** The machine's ffmpeg and the run's settings, for the record. */
  settings: string;
}

const LEASE_TTL_SECONDS = 3;
const MAX_ATTEMPTS = 3;
const TERMINAL = new Set(['completed', 'failed', 'canceled']);

/** Runs a fault-free baseline job, then one job per seed under that seed's faults, each checked after. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => {});
  const video = options.video ?? { seconds: 20, size: '320x240' };
  const chunkFrames = options.chunkFrames ?? 100;
  const checkpointFrames = options.checkpointFrames ?? 20;
  const timeoutMs = options.timeoutMs ?? 180_000;
  const workers = options.workers ?? 3;
  const input = join(options.dir, 'input.mp4');
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `testsrc2=s=${video.size}:r=30:d=${video.seconds}`],
    ...['-f', 'lavfi', '-i', `sine=f=440:r=48000:d=${video.seconds}`],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
    input,
  ]);
  const cluster = await ChaosCluster.start({
    dir: options.dir,
    workers,
    leaseTtlSeconds: LEASE_TTL_SECONDS,
    maxAttempts: MAX_ATTEMPTS,
  });
  try {
    const runJob = async (seed: number | 'baseline', schedule: PlannedFault[]): Promise<RunResult> => {
      const startedAt = Date.now();
      const submit = await clientCli(
        options.dir,
        cluster.addresses()[0],
        [
          ...['submit', '-t', input, '--processors', 'passthrough'],
          ...['--chunk-frames', String(chunkFrames), '--checkpoint-frames', String(checkpointFrames)],
          ...['--output-video-preset', 'slower'],
        ],
        cluster.tenantToken,
      );
      if (submit.code !== 0) throw new Error(`submit failed: ${submit.stderr}`);
      const jobId = submit.stdout.trim();
      log(`seed ${seed}: job ${jobId}, ${schedule.map((f) => f.kind).join(', ') || 'no faults'}`);
      const report = (tasks = false) =>
        cluster.get<JobReport>(`/v1/jobs/${jobId}${tasks ? '?tasks=true' : ''}`);
      let latest = await report();
      const jobEnded = async () => {
        latest = await report().catch(() => latest);
        return TERMINAL.has(latest.state);
      };
      const faults: FaultRecord[] = [];
      const violations: string[] = [];
      let most = 0;
      for (let next = 0; ; ) {
        latest = await report().catch(() => latest);
        most = Math.max(most, latest.framesDone);
        for (const f of faults)
          if (
            f.recoveredAfterMs === undefined &&
            (latest.framesDone > f.framesBefore || TERMINAL.has(latest.state))
          )
            f.recoveredAfterMs = Date.now() - f.injectedAt;
        if (TERMINAL.has(latest.state)) break;
        if (Date.now() - startedAt > timeoutMs) {
          violations.push(`job still ${latest.state} after ${timeoutMs / 1000} s`);
          break;
        }
        if (next < schedule.length && most >= schedule[next].atShare * latest.frames) {
          const fault = schedule[next++];
          try {
            const record = await injectFault(fault, {
              cluster,
              jobEnded,
              framesDone: latest.framesDone,
              timeoutMs,
            });
            faults.push(record);
            log(`seed ${seed}: ${record.kind} ${record.target}`);
          } catch (error) {
            violations.push(`${fault.kind}: ${(error as Error).message}`);
          }
          continue;
        }
        await sleep(200);
      }
      const endedAt = Date.now();
      const final = await report(true);
      if (final.state !== 'completed')
        violations.push(`job ${final.state}: ${final.error ?? 'no reason given'}`);
      for (const f of faults) violations.push(...f.violations.map((v) => `${f.kind}: ${v}`));
      if (final.state === 'completed') {
        const output = join(options.dir, `${jobId}.mp4`);
        const download = await clientCli(
          options.dir,
          cluster.addresses()[0],
          ['download', jobId, '-o', output],
          cluster.tenantToken,
        );
        if (download.code !== 0) violations.push(`download failed: ${download.stderr.trim()}`);
        else violations.push(...(await checkFrames(input, output)));
        violations.push(...(await checkBlobsGone(cluster.s3, cluster.config.prefix, jobId, 90_000)));
      }
      const workerSeconds = cluster.everyWorker.reduce(
        (sum, w) =>
          sum +
          Math.max(0, Math.min(w.endedAt ?? endedAt, endedAt) - Math.max(w.startedAt, startedAt)) / 1000,
        0,
      );
      violations.push(...(await cluster.restartCrashedReplicas()));
      const attempts = await cluster.attempts(jobId);
      violations.push(
        ...checkAccounting({
          report: final,
          attempts,
          faults,
          workerSeconds,
          leaseTtlSeconds: LEASE_TTL_SECONDS,
          checkpointFrames,
          fleet: workers,
          retries: storeRetries(cluster.everyWorker),
        }),
      );
      log(
        `seed ${seed}: ${final.state} in ${final.wallSeconds.toFixed(1)} s, ${violations.length} violations`,
      );
      return { seed, jobId, state: final.state, faults, report: final, violations };
    };
    const baseline = options.baseline === false ? undefined : await runJob('baseline', []);
    const runs: RunResult[] = [];
    for (const seed of options.seeds)
      runs.push(await runJob(seed, drawSchedule(seed, options.schedule ?? { faults: { min: 3, max: 6 } })));
    const settings =
      `${video.seconds} s of ${video.size} at 30 fps (${video.seconds * 30} frames), ${workers} workers, ` +
      `chunks of ${chunkFrames} frames, checkpoints every ${checkpointFrames}, lease TTL ${LEASE_TTL_SECONDS} s`;
    return { baseline, runs, settings };
  } finally {
    if (options.logs) await cluster.saveLogs(options.logs);
    await cluster.stop();
  }
}
