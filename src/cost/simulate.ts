/**
 * `spotfuse simulate`: the real coordinator (LeaseService over an in-memory SqliteStore: same claim order,
 * fencing, release decisions, lease expiry and merge task) driven by simulated workers on a virtual clock.
 *
 * Model, per worker instance:
 * - An instance boots (`startupSeconds`, billed), claims a task, processes `gpuFps` frames per second and
 *   checkpoints every `checkpointFrames` frames (heartbeat + checkpoint at each boundary), completes, claims
 *   again. An instance that finds nothing to claim is scaled in (autoscaling on queue depth: billing stops);
 *   parked instances are started again when released or expired tasks make the queue grow.
 * - Spot instances get interruption notices as a Poisson process of `interruptionRate` per hour while they
 *   run. With a notice at least as long as what is left of the current segment, the worker finishes the
 *   segment, checkpoints it and releases the task as `preempted` (or completes it): nothing is lost. With a
 *   shorter notice it reports its progress and releases at once, losing the frames since its last checkpoint.
 *   With no notice (`noticeSeconds` 0) it vanishes: its lease runs out `leaseTtl` after its last heartbeat
 *   and `expireLeases` makes the task runnable again. A replacement instance arrives `replacementSeconds`
 *   after the interrupted one terminates.
 * - Cost is billed instance time (start-up, work, work lost) at the pool's hourly price. The on-demand
 *   comparison runs the same job on the same number of on-demand workers, never interrupted.
 */
import type { BlobStore } from '../blob/blobStore.js';
import { LeaseService, segmentKey } from '../coordinator/leaseService.js';
import { chooseChunkFrames, planChunks } from '../core/planner.js';
import type { FrameRange, JobSpec, Pool } from '../core/types.js';
import { SqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { EventQueue } from './eventQueue.js';
import { type LeaseStore, MemoryLeaseStore } from './memoryStore.js';
import { exponential, mulberry32 } from './random.js';

export interface SimParams {
  /** Frames of the video. */
  frameCount: number;
  /** Video frame rate (frames per video second); sizes chunks given in seconds. */
  fps: number;
  /** Frames one GPU processes per second. */
  gpuFps: number;
  chunkSeconds: number;
  checkpointFrames: number;
  /** Spot workers. */
  workers: number;
  onDemandWorkers: number;
  spotPrice: number;
  onDemandPrice: number;
  /** Interruption notices per spot instance per hour of running. */
  interruptionRate: number;
  noticeSeconds: number;
  /** Billed time from an instance's start to its first claim. */
  startupSeconds: number;
  /** From an interrupted instance's termination to its replacement's start. */
  replacementSeconds: number;
  /** GPU time of the merge task. */
  mergeSeconds: number;
  /** Lease TTL; at least three checkpoint intervals are used, since simulated workers heartbeat per checkpoint. */
  leaseTtlSeconds: number;
  maxAttempts: number;
  seed: number;
  /**
   * `sqlite`: the real SqliteStore on an in-memory database. `memory`: MemoryLeaseStore, the same lease
   * decisions without SQL (claims in O(log n)); for large runs. Default `sqlite`.
   */
  store?: SimStoreKind;
}

export type SimStoreKind = 'sqlite' | 'memory';

export const SIM_DEFAULTS = {
  fps: 30,
  videoSeconds: 300,
  chunkSeconds: 10,
  checkpointFrames: 150,
  workers: 20,
  onDemandWorkers: 0,
  noticeSeconds: 120,
  startupSeconds: 0,
  replacementSeconds: 60,
  mergeSeconds: 0,
  leaseTtlSeconds: 60,
  maxAttempts: 3,
  seed: 1,
} as const;

/** One run of the model. Minutes and dollars, rounded for printing by the caller. */
export interface RunResult {
  wallMinutes: number;
  /** Billed instance minutes, all pools. */
  gpuMinutes: number;
  /** The job's own GPU minutes: every frame once, plus the merge. */
  workGpuMinutes: number;
  /** Billed minutes that produced nothing kept: work redone and start-ups. */
  wastedGpuMinutes: number;
  redoneGpuMinutes: number;
  startupGpuMinutes: number;
  framesRedone: number;
  interruptions: number;
  /** Tasks that went back to the queue: releases as `preempted` plus leases `expireLeases` ended. */
  tasksRequeued: number;
  tasks: number;
  cost: number;
  spotGpuMinutes: number;
  onDemandGpuMinutes: number;
  events: number;
  completed: boolean;
}

/** What `simulate` reports: the spot plan's run, its cost, and the same job on on-demand only. */
export interface SimResult
  extends Omit<RunResult, 'cost' | 'spotGpuMinutes' | 'onDemandGpuMinutes' | 'events'> {
  /** The job on spot workers (and on-demand ones if any), at their prices. */
  spotCost: number;
  /** The same job on on-demand workers only. */
  onDemandCost: number;
  onDemandWallMinutes: number;
  savingPercent: number;
}

/** The store with synthetic frame timestamps (frame index in 1/fps ticks), so no claim copies the whole table. */
class SimStore extends SqliteStore {
  constructor(private readonly frames: number) {
    super(':memory:');
  }

  override async getFramePts(_jobId: string, range: FrameRange): Promise<number[]> {
    const end = Math.min(range.end, this.frames);
    const out: number[] = [];
    for (let f = range.start; f < end; f++) out.push(f);
    return out;
  }
}

const nullBlobs: BlobStore = {
  readUrl: async (key) => `sim://${key}`,
  writeUrl: async (key) => `sim://${key}`,
  delete: async () => {},
};

type WorkerState = 'booting' | 'busy' | 'parked' | 'gone' | 'done';

interface SimTask {
  id: string;
  jobId: string;
  epoch: number;
  kind: 'process' | 'merge';
  start: number;
  end: number;
  /** First frame not checkpointed yet. */
  pos: number;
  segEnd: number;
  segStartedAt: number;
  tickAt: number;
}

interface SimWorker {
  id: string;
  pool: Pool;
  gen: number;
  state: WorkerState;
  aliveSince: number;
  bootedAt: number;
  task?: SimTask;
  /** Notice received: finish the current segment, then release and terminate at `terminateAt`. */
  draining: boolean;
  terminateAt: number;
}

type SimEvent =
  | { type: 'boot'; worker: SimWorker; gen: number }
  | { type: 'tick'; worker: SimWorker; gen: number }
  | { type: 'interrupt'; worker: SimWorker; gen: number }
  | { type: 'back'; worker: SimWorker }
  | { type: 'expire' };

/** Runs one job to completion on the given pools. Deterministic for a given seed. */
export async function runOnce(p: SimParams, pools: { spot: number; onDemand: number }): Promise<RunResult> {
  const rand = mulberry32(p.seed);
  const store: LeaseStore = p.store === 'memory' ? new MemoryLeaseStore() : new SimStore(p.frameCount);
  const segSeconds = p.checkpointFrames / p.gpuFps;
  const leaseTtlMs = Math.max(p.leaseTtlSeconds, 3 * segSeconds) * 1000;
  let nowMs = 0;
  const lease = new LeaseService(store as Store, nullBlobs, {
    leaseTtlMs,
    maxAttempts: p.maxAttempts,
    now: () => nowMs,
  });
  const chunkFrames = chooseChunkFrames({
    frameCount: p.frameCount,
    fps: p.fps,
    processors: ['face_swapper'],
    parallelism: pools.spot + pools.onDemand,
    chunkSeconds: p.chunkSeconds,
    checkpointFrames: p.checkpointFrames,
  });
  const chunks = planChunks(p.frameCount, chunkFrames);
  const spec: JobSpec = {
    input: 'sim://input.mp4',
    sources: [],
    output: 'sim://output.mp4',
    processors: ['face_swapper'],
    // Face options do not change the schedule; an empty object keeps the spec the claim query reads small.
    face: {} as JobSpec['face'],
    encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
    checkpointFrames: p.checkpointFrames,
  };
  await store.createJob(
    {
      key: 'sim',
      spec,
      probe: { video: { timeBase: { num: 1, den: p.fps }, lastFrameDurationTicks: 1 } },
      framePts: Array.from({ length: p.frameCount }, (_, i) => i),
      chunks,
    },
    0,
  );

  const queue = new EventQueue<SimEvent>();
  const billed = { spot: 0, 'on-demand': 0 };
  let startupMs = 0;
  let redoneMs = 0;
  let framesRedone = 0;
  let interruptions = 0;
  let tasksRequeued = 0;
  let events = 0;
  let finishedAt: number | undefined;
  const failed = false;

  const workers: SimWorker[] = [];
  const addWorkers = (n: number, pool: Pool) => {
    for (let i = 0; i < n; i++) {
      workers.push({
        id: `${pool}-${String(i).padStart(4, '0')}`,
        pool,
        gen: 0,
        state: 'parked',
        aliveSince: 0,
        bootedAt: 0,
        draining: false,
        terminateAt: 0,
      });
    }
  };
  addWorkers(pools.spot, 'spot');
  addWorkers(pools.onDemand, 'on-demand');

  const start = (w: SimWorker) => {
    w.gen++;
    w.state = 'booting';
    w.draining = false;
    w.aliveSince = nowMs;
    w.bootedAt = nowMs + p.startupSeconds * 1000;
    queue.push(w.bootedAt, { type: 'boot', worker: w, gen: w.gen });
    if (w.pool === 'spot' && p.interruptionRate > 0) {
      const at = nowMs + exponential(rand, p.interruptionRate / 3_600_000);
      queue.push(at, { type: 'interrupt', worker: w, gen: w.gen });
    }
  };
  /** Ends billing for the instance; `next` is what it becomes. */
  const stop = (w: SimWorker, next: WorkerState) => {
    billed[w.pool] += nowMs - w.aliveSince;
    startupMs += Math.min(nowMs, w.bootedAt) - w.aliveSince;
    w.gen++;
    w.state = next;
    w.task = undefined;
    w.draining = false;
  };
  /** Scale out: parked instances start again, one per task that went back to the queue. */
  const wake = (n: number) => {
    for (const w of workers) {
      if (n <= 0) break;
      if (w.state === 'parked') {
        start(w);
        n--;
      }
    }
  };
  const scheduleSegment = (w: SimWorker) => {
    const t = w.task!;
    t.segEnd = t.kind === 'merge' ? t.end : Math.min(t.pos + p.checkpointFrames, t.end);
    t.segStartedAt = nowMs;
    t.tickAt =
      t.kind === 'merge' ? nowMs + p.mergeSeconds * 1000 : nowMs + ((t.segEnd - t.pos) / p.gpuFps) * 1000;
    queue.push(t.tickAt, { type: 'tick', worker: w, gen: w.gen });
  };
  const claim = async (w: SimWorker) => {
    if (finishedAt !== undefined || failed) return stop(w, 'done');
    const res = await lease.claim(w.id, w.pool, { cloud: 'sim', instanceType: 'sim-gpu' });
    if (!res) return stop(w, 'parked');
    w.state = 'busy';
    w.task = {
      id: res.task.id,
      jobId: res.task.jobId,
      epoch: res.task.epoch,
      kind: res.task.kind,
      start: res.task.nextFrame,
      end: res.task.endFrame,
      pos: res.task.nextFrame,
      segEnd: 0,
      segStartedAt: 0,
      tickAt: 0,
    };
    scheduleSegment(w);
  };
  /** Work since the last checkpoint is lost: it will be done again. */
  const loseSegment = (t: SimTask) => {
    const frames = Math.min(t.segEnd - t.pos, Math.floor(((nowMs - t.segStartedAt) / 1000) * p.gpuFps));
    if (t.kind === 'process') framesRedone += frames;
    redoneMs += nowMs - t.segStartedAt;
    return frames;
  };
  const terminate = (w: SimWorker, terminateAt: number) => {
    stop(w, 'gone');
    queue.push(Math.max(nowMs, terminateAt) + p.replacementSeconds * 1000, { type: 'back', worker: w });
  };

  // Autoscaling on queue depth: no more instances than tasks waiting, spot ones first.
  wake(chunks.length);

  while (queue.size > 0 && finishedAt === undefined && !failed) {
    const next = queue.pop()!;
    nowMs = next.at;
    const e = next.value;
    events++;
    if (e.type === 'expire') {
      const expired = await lease.expireLeases();
      tasksRequeued += expired;
      wake(expired);
      continue;
    }
    const w = e.worker;
    if (e.type === 'back') {
      if (w.state === 'gone') start(w);
      continue;
    }
    if (e.gen !== w.gen) continue;
    if (e.type === 'boot') {
      await claim(w);
    } else if (e.type === 'tick') {
      const t = w.task!;
      if (t.kind === 'process') {
        await lease.heartbeat(t.id, t.epoch, { framesDone: t.segEnd - t.start, fps: p.gpuFps });
        const key = segmentKey(t.jobId, t.id, t.epoch, t.pos);
        const r = await lease.checkpoint(t.id, t.epoch, t.pos, t.segEnd, key);
        if (r !== 'ok') throw new Error(`simulated checkpoint refused: ${r}`);
        t.pos = t.segEnd;
      }
      if (t.kind === 'merge' || t.pos >= t.end) {
        const r = await lease.complete(t.id, t.epoch);
        if (r !== 'ok') throw new Error(`simulated complete refused: ${r}`);
        if (t.kind === 'merge') finishedAt = nowMs;
        if (w.draining) {
          terminate(w, w.terminateAt);
          wake(1);
        } else await claim(w);
      } else if (w.draining) {
        await lease.release(t.id, t.epoch, 'preempted');
        tasksRequeued++;
        terminate(w, w.terminateAt);
        wake(1);
      } else {
        scheduleSegment(w);
      }
    } else if (e.type === 'interrupt') {
      interruptions++;
      const noticeMs = p.noticeSeconds * 1000;
      const t = w.task;
      if (w.state !== 'busy' || !t) {
        terminate(w, nowMs + noticeMs);
      } else if (noticeMs > 0 && t.tickAt - nowMs <= noticeMs) {
        w.draining = true;
        w.terminateAt = nowMs + noticeMs;
        // No further notices for this instance: it is going away.
        w.gen++;
        queue.push(t.tickAt, { type: 'tick', worker: w, gen: w.gen });
      } else if (noticeMs > 0) {
        const lost = loseSegment(t);
        if (t.kind === 'process') {
          await lease.heartbeat(t.id, t.epoch, { framesDone: t.pos - t.start + lost, fps: p.gpuFps });
        }
        await lease.release(t.id, t.epoch, 'preempted');
        tasksRequeued++;
        terminate(w, nowMs + noticeMs);
        wake(1);
      } else {
        // Killed without notice: the coordinator finds out when the lease (renewed at the last checkpoint) runs out.
        loseSegment(t);
        queue.push(t.segStartedAt + leaseTtlMs + 1, { type: 'expire' });
        terminate(w, nowMs);
      }
    }
  }
  for (const w of workers) if (w.state === 'booting' || w.state === 'busy') stop(w, 'done');

  await store.close();
  const billedMs = billed.spot + billed['on-demand'];
  const minutes = (ms: number) => ms / 60_000;
  return {
    wallMinutes: minutes(finishedAt ?? nowMs),
    gpuMinutes: minutes(billedMs),
    workGpuMinutes: p.frameCount / p.gpuFps / 60 + p.mergeSeconds / 60,
    wastedGpuMinutes: minutes(redoneMs + startupMs),
    redoneGpuMinutes: minutes(redoneMs),
    startupGpuMinutes: minutes(startupMs),
    framesRedone,
    interruptions,
    tasksRequeued,
    tasks: chunks.length,
    cost: (billed.spot / 3_600_000) * p.spotPrice + (billed['on-demand'] / 3_600_000) * p.onDemandPrice,
    spotGpuMinutes: minutes(billed.spot),
    onDemandGpuMinutes: minutes(billed['on-demand']),
    events,
    completed: finishedAt !== undefined,
  };
}

/** The job on the spot plan, and the same job on on-demand workers only. */
export async function simulate(
  p: SimParams,
): Promise<SimResult & { run: RunResult; onDemandRun: RunResult }> {
  const run = await runOnce(p, { spot: p.workers, onDemand: p.onDemandWorkers });
  const onDemandRun = await runOnce(
    { ...p, interruptionRate: 0 },
    { spot: 0, onDemand: p.workers + p.onDemandWorkers },
  );
  return {
    wallMinutes: run.wallMinutes,
    gpuMinutes: run.gpuMinutes,
    workGpuMinutes: run.workGpuMinutes,
    wastedGpuMinutes: run.wastedGpuMinutes,
    redoneGpuMinutes: run.redoneGpuMinutes,
    startupGpuMinutes: run.startupGpuMinutes,
    framesRedone: run.framesRedone,
    interruptions: run.interruptions,
    tasksRequeued: run.tasksRequeued,
    tasks: run.tasks,
    spotCost: run.cost,
    onDemandCost: onDemandRun.cost,
    onDemandWallMinutes: onDemandRun.wallMinutes,
    savingPercent: onDemandRun.cost > 0 ? ((onDemandRun.cost - run.cost) / onDemandRun.cost) * 100 : 0,
    completed: run.completed && onDemandRun.completed,
    run,
    onDemandRun,
  };
}
