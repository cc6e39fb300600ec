import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { messageWithCause, UserError } from '../core/errors.js';
import { formatDuration } from '../core/format.js';
import { DEFAULT_UNREACHABLE_MS, Outage } from '../core/outage.js';
import type { EngineName, GpuTelemetry, InstanceInfo, Pool } from '../core/types.js';
import type { ModelSettings } from '../models/settings.js';
import type { ClaimResponse } from '../protocol/wire.js';
import { type ExecutionOptions, faceOptionsOf } from '../vision/faceOptions.js';
import type { FrameChain } from '../vision/processors/chain.js';
import {
  DEFAULT_PROCESSOR_THREADS,
  loadFrameChain,
  startProcessorThreads,
} from '../vision/processors/threadedChain.js';
import { runFacefusionTask } from './engines/facefusion/facefusionTask.js';
import type { FacefusionInstallation } from './engines/facefusion/installation.js';
import { type HeartbeatState, startHeartbeat } from './heartbeat.js';
import { type LeaseClient, LeaseLostError } from './leaseClient.js';
import { runMergeTask } from './mergeTask.js';
import type { PreemptionNotice } from './preemption.js';
import { runProcessTask } from './processTask.js';
import { retryWhileStoreUnreachable } from './storeRetry.js';
import { readableLocation, storeUnreachable } from './transfer.js';

export interface WorkerOptions {
  client: LeaseClient;
  workerId?: string;
  pool: Pool;
  workDir: string;
  notice: PreemptionNotice;
  /** Where this worker's models come from and run. */
  models: ModelSettings;
  execution: ExecutionOptions;
  /** `--frames-in-flight`: frames in the processor chain at once (see runProcessTask). */
  framesInFlight?: number;
  /** `--processor-threads`: threads the processor chain runs in (default 1: this thread). */
  processorThreads?: number;
  /** ffmpeg's `-hwaccel` method for decoding input video (e.g. cuda), checked at start; default software. */
  decoderHwaccel?: string;
  /** The FaceFusion this worker runs `facefusion` jobs with; without it, it fails their tasks. */
  facefusion?: FacefusionInstallation;
  /** Exit after this many tasks (Kubernetes Job style). */
  maxTasks?: number;
  /** Exit after this long without work. */
  exitWhenIdleMs?: number;
  /**
   * How long the coordinator (between tasks) or the object store (during one) may stay out of reach before
   * the worker gives up (`--unreachable-limit`; default DEFAULT_UNREACHABLE_MS).
   */
  unreachableMs?: number;
  /**
   * The machine, as claims report it; may still be in the making (cloud detection): the first claim waits
   * for it up to `instanceWaitMs` (default 3 s), later claims carry it from when it is known.
   */
  instance?: InstanceInfo | Promise<InstanceInfo | undefined>;
  instanceWaitMs?: number;
  /** The latest GPU readings, for heartbeats. */
  gpu?: () => GpuTelemetry | undefined;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

export interface WorkerSummary {
  completed: number;
  preempted: number;
  failed: number;
  lost: number;
}

const IDLE_POLL_MS = 250;

/** One loaded processor chain, reused while consecutive tasks belong to the same job. */
class ChainCache {
  private jobId: string | undefined;
  private chain: FrameChain | undefined;

  constructor(private readonly options: Pick<WorkerOptions, 'models' | 'execution' | 'processorThreads'>) {}

  async for(claim: ClaimResponse): Promise<FrameChain> {
    if (this.jobId !== claim.task.jobId || !this.chain) {
      await this.dispose();
      const { spec } = claim;
      const options = {
        sources: spec.sources,
        target: readableLocation(claim.inputUrl),
        face: faceOptionsOf(spec.face),
        execution: this.options.execution,
        models: this.options.models,
      };
      this.chain = await loadFrameChain(
        spec.processors,
        options,
        this.options.processorThreads ?? DEFAULT_PROCESSOR_THREADS,
      );
      this.jobId = claim.task.jobId;
    }
    return this.chain;
  }

  async dispose(): Promise<void> {
    await this.chain?.dispose();
    this.chain = undefined;
    this.jobId = undefined;
  }
}

/** Claims tasks and runs them until told to stop, idle for too long, or out of its task budget. */
export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  const { client, notice, log } = options;
  const workerId = options.workerId ?? `${hostname()}-${process.pid}`;
  const summary: WorkerSummary = { completed: 0, preempted: 0, failed: 0, lost: 0 };
  const processorThreads = options.processorThreads ?? DEFAULT_PROCESSOR_THREADS;
  if (processorThreads > 1) startProcessorThreads(processorThreads);
  const chains = new ChainCache(options);
  // A notice ends any wait at once, timer included, so the process can exit right away.
  const stopWaiting = new AbortController();
  notice.onNotice(() => stopWaiting.abort());
  const idle = (ms: number) => sleep(ms, undefined, { signal: stopWaiting.signal }).catch(() => {});
  let idleSince = Date.now();
  const unreachableMs = options.unreachableMs ?? DEFAULT_UNREACHABLE_MS;
  let unreachable: Outage | undefined;
  let instance: InstanceInfo | undefined;
  // A worker with a FaceFusion (checked at start) takes native jobs too: their processors are its own.
  const engines: EngineName[] = options.facefusion ? ['native', 'facefusion'] : ['native'];
  const learnt = Promise.resolve(options.instance).then(
    (known) => {
      instance = known;
    },
    () => {},
  );
  // The first claim waits a little for the machine's facts, so that its attempt is priced as what it
  // ran on; a metadata service slower than that only leaves the first attempt without them.
  const factsKnown = new AbortController();
  void learnt.then(() => factsKnown.abort());
  await sleep(options.instanceWaitMs ?? 3000, undefined, {
    signal: AbortSignal.any([stopWaiting.signal, factsKnown.signal]),
  }).catch(() => {});
  try {
    while (!notice.requested) {
      if (options.maxTasks !== undefined && summary.completed + summary.failed >= options.maxTasks) break;
      let claim: ClaimResponse | undefined;
      try {
        claim = await client.claim(workerId, options.pool, instance, engines);
        if (unreachable) log(`coordinator reachable again after ${unreachable.lasted()}`);
        unreachable = undefined;
      } catch (error) {
        // Refused for good (its token, its request, another lease protocol): no retry changes that.
        if (error instanceof UserError) throw error;
        const message = (error as Error).message;
        if (!unreachable) {
          log(
            `coordinator unreachable, retrying for up to ${formatDuration(unreachableMs / 1000)}: ${message}`,
          );
          unreachable = new Outage();
        }
        if (unreachable.outlasts(unreachableMs)) {
          throw new Error(`coordinator unreachable for ${unreachable.lasted()}: ${message}`);
        }
        await idle(unreachable.nextPauseMs());
        continue;
      }
      if (!claim) {
        if (options.exitWhenIdleMs !== undefined && Date.now() - idleSince > options.exitWhenIdleMs) break;
        await idle(IDLE_POLL_MS);
        continue;
      }
      const outcome = await runClaim(claim, chains, options, workerId, unreachableMs);
      summary[outcome]++;
      idleSince = Date.now();
    }
  } finally {
    await chains.dispose();
  }
  return summary;
}

async function runClaim(
  claim: ClaimResponse,
  chains: ChainCache,
  options: WorkerOptions,
  workerId: string,
  unreachableMs: number,
): Promise<keyof WorkerSummary> {
  const { client, log } = options;
  const { task } = claim;
  // Every line about the task carries the fields that find it in the coordinator's logs too.
  const fields = { jobId: task.jobId, taskId: task.id, epoch: task.epoch, workerId };
  let current = claim;
  const taskLog = (message: string, extra?: Record<string, unknown>) => log(message, { ...fields, ...extra });
  const controller = new AbortController();
  const progress = { framesDone: 0 };
  const stopHeartbeat = startHeartbeat(
    client,
    task,
    claim.leaseTtlMs,
    progress,
    controller,
    options.gpu,
    taskLog,
  );
  taskLog(`claimed ${task.kind} task frames ${task.nextFrame}-${task.endFrame}`);
  const run = async (): Promise<'completed' | 'preempted'> => {
    if (task.kind === 'merge') {
      const merged = await runMergeTask({
        client,
        claim,
        workDir: options.workDir,
        signal: controller.signal,
      });
      taskLog(
        merged === 'completed' ? 'merge completed' : 'damaged segments handed back; their frames run again',
      );
      return 'completed';
    }
    const outcome = claim.spec.engine
      ? await runEngineTask(claim, options, progress, controller.signal, taskLog)
      : await runProcessTask({
          client,
          claim: current,
          chain: await chains.for(claim),
          workDir: options.workDir,
          decoderHwaccel: options.decoderHwaccel,
          notice: options.notice,
          progress,
          signal: controller.signal,
          framesInFlight: options.framesInFlight,
          checkpointed: (endFrame) => {
            current = { ...current, task: { ...current.task, nextFrame: endFrame } };
          },
          log: taskLog,
        });
    taskLog(`task ${outcome}`, { frames: progress.framesDone });
    return outcome;
  };
  try {
    return await retryWhileStoreUnreachable(run, {
      until: unreachableMs,
      stopped: () => controller.signal.aborted || options.notice.requested,
      signal: controller.signal,
      log: (message) => taskLog(`${message}, retrying from frame ${current.task.nextFrame}`),
    });
  } catch (error) {
    if (error instanceof LeaseLostError) {
      taskLog(error.message);
      return 'lost';
    }
    const message = messageWithCause(error);
    if (options.notice.requested && storeUnreachable(error)) {
      // The machine is going away and the store is out of reach: a preemption, not the task's failure.
      taskLog(`task preempted while the object store was unreachable: ${message}`);
      await client.release(task.id, task.epoch, 'preempted').catch(() => {});
      return 'preempted';
    }
    taskLog(`task failed: ${message}`);
    await client.release(task.id, task.epoch, 'error', message).catch(() => {});
    return 'failed';
  } finally {
    stopHeartbeat();
  }
}

/** A task of a job that runs on another engine than the native one: FaceFusion, the only one so far. */
function runEngineTask(
  claim: ClaimResponse,
  options: WorkerOptions,
  progress: HeartbeatState,
  signal: AbortSignal,
  log: (message: string, fields?: Record<string, unknown>) => void,
): Promise<'completed' | 'preempted'> {
  if (!options.facefusion)
    throw new Error(
      'this job runs on FaceFusion and this worker has none: start workers for it with --engine facefusion --facefusion-path DIR',
    );
  return runFacefusionTask({
    client: options.client,
    claim,
    installation: options.facefusion,
    execution: options.execution,
    workDir: options.workDir,
    notice: options.notice,
    progress,
    signal,
    log,
  });
}
