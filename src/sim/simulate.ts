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
 * - Cost is billed instance time (start-up, work, work lost) at the hourly price of the worker's GPU type and
 *   pool. The on-demand comparison runs the same job on the same fleet (same types), all on-demand, never
 *   interrupted.
 * - Zones (`zones`): a spot instance starts in the zone with the most spare capacity, or waits until one has
 *   some. A zone-wide reclaim (Poisson, `zoneReclaimRate` per zone per hour) gives every spot worker of the
 *   zone its notice at once and leaves the zone without capacity for `zoneOutageSeconds`.
 * - Pool policy (`onDemandFor`, `onDemandAfter`) goes to the LeaseService as in `spotfuse server`; a spot
 *   worker that finds nothing it may claim wakes a parked on-demand one.
 * - On-demand fallback (`deadlineMinutes`, `spotWaitLimitSeconds`): the on-demand workers are a reserve
 *   that starts only when the coordinator's rules (core/fallback.ts, checked every `FALLBACK_CHECK_MS` on
 *   the job's rows) ask for them: a deadline spot alone would miss, or tasks waiting past the limit.
 */
import type { BlobStore } from '../blob/blobStore.js';
import { LeaseService, segmentKey } from '../coordinator/leaseService.js';
import { jobFlow, onDemandCall } from '../core/fallback.js';
import { chooseChunkFrames, planChunks } from '../core/planner.js';
import type { FrameRange, JobSpec, OnDemandOnly, Pool } from '../core/types.js';
import { SqliteStore } from '../store/sqliteStore.js';
import { EventQueue } from './eventQueue.js';
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
  /** Pool policy passed to the real LeaseService: work only on-demand workers may claim (`--on-demand-for`). */
  onDemandFor?: readonly OnDemandOnly[];
  /** Pool policy: interruptions after which a task is kept for on-demand workers (`--on-demand-after`). */
  onDemandAfter?: number;
  /** Zones with their spot capacity (`--zones`); none: unlimited capacity, no zone reclaims. */
  zones?: SimZone[];
  /** Zone-wide reclaims per zone per hour (Poisson): every spot worker of the zone gets the notice at once. */
  zoneReclaimRate?: number;
  /** How long a reclaimed zone has no spot capacity. */
  zoneOutageSeconds?: number;
  /** A mixed fleet (`--gpu-types`); none: `workers` and `onDemandWorkers` of one type at `gpuFps`. */
  gpuTypes?: SimGpuType[];
  /** The job's deadline, minutes after submission (`--deadline`): on-demand workers start to meet it. */
  deadlineMinutes?: number;
  /** Tasks waiting longer than this for a spot worker go to on-demand workers (`--spot-wait-limit`). */
  spotWaitLimitSeconds?: number;
  /**
   * Fair share: the job above is tenant `big`'s, and tenant `small` submits a job of this many frames right
   * after it; the store's claim order shares the workers between them.
   */
  smallTenantFrames?: number;
}

/** How often the simulated coordinator asks the fallback rules how many on-demand workers the job wants. */
export const FALLBACK_CHECK_MS = 15_000;

export interface SimZone {
  name: string;
  /** Most spot workers running in the zone at once. */
  capacity: number;
}

export interface SimGpuType {
  name: string;
  gpuFps: number;
  spotPrice: number;
  onDemandPrice: number;
  /** Spot workers of this type. */
  spot: number;
  /** On-demand workers of this type. */
  onDemand: number;
}

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
  /** Most on-demand workers the fallback rules had running at once (0 without a deadline or spot-wait limit). */
  fallbackWorkers: number;
  /** With `smallTenantFrames`: when the small tenant's job and the big one's were done. */
  tenants?: { smallWallMinutes: number; bigWallMinutes: number };
  /** Most times one task went back to the queue because its spot worker was interrupted. */
  maxTaskInterruptions: number;
  zones: ZoneResult[];
  /** Billed seconds and cost per GPU type and pool. */
  gpuTypes: { name: string; pool: Pool; seconds: number; cost: number }[];
  /** Each zone-wide reclaim: when, and how many running workers it interrupted. */
  zoneReclaims: { zone: string; atMinutes: number; workers: number }[];
}

export interface ZoneResult {
  name: string;
  interruptions: number;
  workerSeconds: number;
  /** Most spot workers running in the zone at once (never above its capacity). */
  maxWorkers: number;
  reclaims: number;
}

/** What `simulate` reports: the spot plan's run, its cost, and the same job on on-demand only. */
export interface SimResult
  extends Omit<
    RunResult,
    'cost' | 'spotGpuMinutes' | 'onDemandGpuMinutes' | 'events' | 'zoneReclaims' | 'gpuTypes'
  > {
  /** The job on spot workers (and on-demand ones if any), at their prices. */
  spotCost: number;
  /** The same job on on-demand workers only. */
  onDemandCost: number;
  onDemandWallMinutes: number;
  savingPercent: number;
  /** With a deadline: whether it was met, and what meeting it cost over the same run without one. */
  deadline?: DeadlineResult;
}

export interface DeadlineResult {
  minutes: number;
  met: boolean;
  /** The run without the deadline (and its on-demand fallback): wall time and cost. */
  withoutWallMinutes: number;
  withoutCost: number;
  /** Cost with the deadline minus cost without it. */
  extraCost: number;
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
  size: async () => undefined,
  delete: async () => {},
  list: async () => [],
};

type WorkerState = 'booting' | 'busy' | 'parked' | 'gone' | 'done' | 'waiting';

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
  type: SimGpuType;
  /** The zone of a running spot worker. */
  zone?: ZoneState;
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
  | { type: 'expire' }
  | { type: 'fallback' }
  | { type: 'reclaim'; zone: ZoneState }
  | { type: 'zoneBack'; zone: ZoneState };

interface ZoneState extends ZoneResult {
  capacity: number;
  running: number;
  outageUntil: number;
}

/** The fleet: `gpuTypes`, or one type from the single-type parameters. */
export function fleetTypes(p: SimParams): SimGpuType[] {
  return (
    p.gpuTypes ?? [
      {
        name: 'sim-gpu',
        gpuFps: p.gpuFps,
        spotPrice: p.spotPrice,
        onDemandPrice: p.onDemandPrice,
        spot: p.workers,
        onDemand: p.onDemandWorkers,
      },
    ]
  );
}

/**
 * Runs one job to completion on the given pools. Deterministic for a given seed. With `reserve`, the
 * on-demand workers wait for the fallback rules even without a deadline or spot-wait limit.
 */
export async function runOnce(p: SimParams, onDemandOnly = false, reserve = false): Promise<RunResult> {
  const rand = mulberry32(p.seed);
  const zoneRand = mulberry32(p.seed ^ 0x5a5a5a5a);
  const store = new SimStore(p.frameCount);
  const types = fleetTypes(p);
  const totalWorkers = types.reduce((n, t) => n + t.spot + t.onDemand, 0);
  const segSeconds = p.checkpointFrames / Math.min(...types.map((t) => t.gpuFps));
  const leaseTtlMs = Math.max(p.leaseTtlSeconds, 3 * segSeconds) * 1000;
  let nowMs = 0;
  const lease = new LeaseService(store, nullBlobs, {
    leaseTtlMs,
    maxAttempts: p.maxAttempts,
    now: () => nowMs,
    onDemandOnly: p.onDemandFor,
    spotInterruptionCap: p.onDemandAfter,
  });
  const chunkFrames = chooseChunkFrames({
    frameCount: p.frameCount,
    fps: p.fps,
    // The simulated GPUs' own speed; chunks are sized by chunkSeconds anyway.
    msPerFrame: 1000 / Math.min(...types.map((t) => t.gpuFps)),
    parallelism: totalWorkers,
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
    ...(p.deadlineMinutes === undefined ? {} : { deadline: p.deadlineMinutes * 60_000 }),
  };
  const submit = (key: string, frames: number, jobChunks: FrameRange[], tenant?: string, at = 0) =>
    store.createJob(
      {
        key,
        spec,
        probe: { video: { timeBase: { num: 1, den: p.fps }, lastFrameDurationTicks: 1 } },
        framePts: Array.from({ length: frames }, (_, i) => i),
        chunks: jobChunks,
        tenant,
      },
      at,
    );
  const twoTenants = p.smallTenantFrames !== undefined;
  const job = await submit('sim', p.frameCount, chunks, twoTenants ? 'big' : undefined);
  const smallChunks = twoTenants ? planChunks(p.smallTenantFrames!, chunkFrames) : [];
  const small = twoTenants
    ? await submit('sim-small', p.smallTenantFrames!, smallChunks, 'small', 1)
    : undefined;
  /** When each job's merge completed; the run ends with the last. */
  const jobEnds = new Map<string, number>();

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
  let workMs = 0;
  let cost = 0;
  const taskInterruptions = new Map<string, number>();
  const requeuedByInterruption = (taskId: string) =>
    taskInterruptions.set(taskId, (taskInterruptions.get(taskId) ?? 0) + 1);
  const zones: ZoneState[] = (p.zones ?? []).map((z) => ({
    name: z.name,
    capacity: z.capacity,
    interruptions: 0,
    workerSeconds: 0,
    maxWorkers: 0,
    reclaims: 0,
    running: 0,
    outageUntil: 0,
  }));
  const zoneReclaims: RunResult['zoneReclaims'] = [];
  const byType = new Map<string, RunResult['gpuTypes'][number]>();
  const zoneReclaimRate = onDemandOnly ? 0 : (p.zoneReclaimRate ?? 0);
  const zoneOutageMs = (p.zoneOutageSeconds ?? 0) * 1000;
  if (zoneReclaimRate > 0) {
    for (const z of zones) {
      queue.push(exponential(zoneRand, zoneReclaimRate / 3_600_000), { type: 'reclaim', zone: z });
    }
  }

  const workers: SimWorker[] = [];
  const addWorkers = (n: number, pool: Pool, type: SimGpuType) => {
    for (let i = 0; i < n; i++) {
      workers.push({
        id: `${pool}-${type.name}-${String(i).padStart(4, '0')}`,
        pool,
        type,
        gen: 0,
        state: 'parked',
        aliveSince: 0,
        bootedAt: 0,
        draining: false,
        terminateAt: 0,
      });
    }
  };
  for (const t of types) {
    if (onDemandOnly) addWorkers(t.spot + t.onDemand, 'on-demand', t);
    else addWorkers(t.spot, 'spot', t);
  }
  if (!onDemandOnly) for (const t of types) addWorkers(t.onDemand, 'on-demand', t);

  /** The zone with the most spare spot capacity (first listed on a tie), if any has some. */
  const pickZone = (): ZoneState | undefined => {
    let best: ZoneState | undefined;
    for (const z of zones) {
      if (z.outageUntil > nowMs || z.running >= z.capacity) continue;
      if (!best || z.capacity - z.running > best.capacity - best.running) best = z;
    }
    return best;
  };
  /** Spot workers waiting for zone capacity, started as it frees. */
  const waiting: SimWorker[] = [];
  const start = (w: SimWorker) => {
    if (w.pool === 'spot' && zones.length > 0) {
      const z = pickZone();
      if (!z) {
        w.state = 'waiting';
        waiting.push(w);
        return;
      }
      w.zone = z;
      z.running++;
      z.maxWorkers = Math.max(z.maxWorkers, z.running);
    }
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
    const price = w.pool === 'spot' ? w.type.spotPrice : w.type.onDemandPrice;
    const c = ((nowMs - w.aliveSince) / 3_600_000) * price;
    cost += c;
    const key = `${w.type.name} ${w.pool}`;
    const row = byType.get(key) ?? { name: w.type.name, pool: w.pool, seconds: 0, cost: 0 };
    row.seconds += (nowMs - w.aliveSince) / 1000;
    row.cost += c;
    byType.set(key, row);
    const z = w.zone;
    if (z) {
      z.workerSeconds += (nowMs - w.aliveSince) / 1000;
      z.running--;
      w.zone = undefined;
    }
    startupMs += Math.min(nowMs, w.bootedAt) - w.aliveSince;
    w.gen++;
    w.state = next;
    w.task = undefined;
    w.draining = false;
    if (z) startWaiting();
  };
  /** Zone capacity freed: waiting spot workers start where there is room. */
  const startWaiting = () => {
    while (waiting.length > 0 && pickZone()) {
      const w = waiting.shift()!;
      if (w.state === 'waiting') start(w);
    }
  };
  // The on-demand reserve waits for the fallback rules; without them on-demand workers start with the rest.
  const fallback =
    !onDemandOnly && (reserve || p.deadlineMinutes !== undefined || p.spotWaitLimitSeconds !== undefined);
  let fallbackWorkers = 0;
  /** Scale out: parked instances start again, one per task that went back to the queue. */
  const wake = (n: number) => wakePool(n, fallback ? 'spot' : undefined);
  const wakePool = (n: number, pool?: Pool) => {
    for (const w of workers) {
      if (n <= 0) break;
      if (w.state === 'parked' && (pool === undefined || w.pool === pool)) {
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
      t.kind === 'merge'
        ? nowMs + p.mergeSeconds * 1000
        : nowMs + ((t.segEnd - t.pos) / w.type.gpuFps) * 1000;
    queue.push(t.tickAt, { type: 'tick', worker: w, gen: w.gen });
  };
  const claim = async (w: SimWorker) => {
    if (finishedAt !== undefined || failed) return stop(w, 'done');
    const res = await lease.claim(w.id, w.pool, {
      cloud: 'sim',
      instanceType: w.type.name,
      zone: w.zone?.name,
    });
    if (!res) {
      stop(w, 'parked');
      // Work the pool policy keeps from spot workers may be waiting: an on-demand worker comes for it.
      if (w.pool === 'spot' && (p.onDemandFor?.length || p.onDemandAfter !== undefined))
        wakePool(1, 'on-demand');
      return;
    }
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
  const loseSegment = (w: SimWorker, t: SimTask) => {
    const frames = Math.min(t.segEnd - t.pos, Math.floor(((nowMs - t.segStartedAt) / 1000) * w.type.gpuFps));
    if (t.kind === 'process') framesRedone += frames;
    redoneMs += nowMs - t.segStartedAt;
    return frames;
  };
  const terminate = (w: SimWorker, terminateAt: number) => {
    stop(w, 'gone');
    queue.push(Math.max(nowMs, terminateAt) + p.replacementSeconds * 1000, { type: 'back', worker: w });
  };

  /** An interruption notice (the instance's own, or its zone's reclaim). */
  const interrupt = async (w: SimWorker) => {
    interruptions++;
    if (w.zone) w.zone.interruptions++;
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
      const lost = loseSegment(w, t);
      if (t.kind === 'process') {
        await lease.heartbeat(t.id, t.epoch, { framesDone: t.pos - t.start + lost, fps: w.type.gpuFps });
      }
      await lease.release(t.id, t.epoch, 'preempted');
      tasksRequeued++;
      requeuedByInterruption(t.id);
      terminate(w, nowMs + noticeMs);
      wake(1);
    } else {
      // Killed without notice: the coordinator finds out when the lease (renewed at the last checkpoint) runs out.
      loseSegment(w, t);
      requeuedByInterruption(t.id);
      queue.push(t.segStartedAt + leaseTtlMs + 1, { type: 'expire' });
      terminate(w, nowMs);
    }
  };

  /** What the coordinator's fallback rules ask for, from the job's rows; parked on-demand workers start to match. */
  const checkFallback = async () => {
    const [tasks, attempts] = await Promise.all([store.listTasks(job.id), store.listAttempts(job.id)]);
    const meanFps = types.reduce((k, t) => k + t.gpuFps, 0) / types.length;
    const call = onDemandCall(jobFlow(job, tasks, attempts, meanFps), nowMs, {
      spotWaitLimitMs: p.spotWaitLimitSeconds === undefined ? undefined : p.spotWaitLimitSeconds * 1000,
    });
    const running = workers.filter(
      (w) => w.pool === 'on-demand' && (w.state === 'booting' || w.state === 'busy'),
    ).length;
    if (call && call.workers > running) wakePool(call.workers - running, 'on-demand');
    fallbackWorkers = Math.max(
      fallbackWorkers,
      workers.filter((w) => w.pool === 'on-demand' && (w.state === 'booting' || w.state === 'busy')).length,
    );
  };

  // Autoscaling on queue depth: no more instances than tasks waiting, spot ones first.
  wake(chunks.length + smallChunks.length);
  if (fallback) queue.push(0, { type: 'fallback' });

  // Zone reclaims recur forever: the run ends when nothing else is left to happen.
  const recurring = (zoneReclaimRate > 0 ? zones.length : 0) + (fallback ? 1 : 0);
  while (queue.size > recurring && finishedAt === undefined && !failed) {
    const next = queue.pop()!;
    nowMs = next.at;
    const e = next.value;
    events++;
    if (e.type === 'reclaim') {
      const z = e.zone;
      queue.push(nowMs + exponential(zoneRand, zoneReclaimRate / 3_600_000), { type: 'reclaim', zone: z });
      if (z.outageUntil > nowMs) continue;
      z.reclaims++;
      z.outageUntil = nowMs + zoneOutageMs;
      queue.push(z.outageUntil, { type: 'zoneBack', zone: z });
      const hit = workers.filter((w) => w.zone === z && !w.draining);
      zoneReclaims.push({ zone: z.name, atMinutes: nowMs / 60_000, workers: hit.length });
      for (const w of hit) await interrupt(w);
      continue;
    }
    if (e.type === 'fallback') {
      await checkFallback();
      queue.push(nowMs + FALLBACK_CHECK_MS, { type: 'fallback' });
      continue;
    }
    if (e.type === 'zoneBack') {
      startWaiting();
      continue;
    }
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
        await lease.heartbeat(t.id, t.epoch, { framesDone: t.segEnd - t.start, fps: w.type.gpuFps });
        const key = segmentKey(t.jobId, t.id, t.epoch, t.pos);
        const r = await lease.checkpoint(t.id, t.epoch, t.pos, t.segEnd, key);
        if (r !== 'ok') throw new Error(`simulated checkpoint refused: ${r}`);
        t.pos = t.segEnd;
      }
      workMs += nowMs - t.segStartedAt;
      if (t.kind === 'merge' || t.pos >= t.end) {
        const r = await lease.complete(t.id, t.epoch);
        if (r !== 'ok') throw new Error(`simulated complete refused: ${r}`);
        if (t.kind === 'merge') {
          jobEnds.set(t.jobId, nowMs);
          if (jobEnds.size === (small ? 2 : 1)) finishedAt = nowMs;
        }
        if (w.draining) {
          terminate(w, w.terminateAt);
          wake(1);
        } else await claim(w);
      } else if (w.draining) {
        await lease.release(t.id, t.epoch, 'preempted');
        tasksRequeued++;
        requeuedByInterruption(t.id);
        terminate(w, w.terminateAt);
        wake(1);
      } else {
        scheduleSegment(w);
      }
    } else if (e.type === 'interrupt') {
      await interrupt(w);
    }
  }
  for (const w of workers) if (w.state === 'booting' || w.state === 'busy') stop(w, 'done');

  await store.close();
  const billedMs = billed.spot + billed['on-demand'];
  const minutes = (ms: number) => ms / 60_000;
  return {
    wallMinutes: minutes(finishedAt ?? nowMs),
    gpuMinutes: minutes(billedMs),
    workGpuMinutes: minutes(workMs),
    wastedGpuMinutes: minutes(redoneMs + startupMs),
    redoneGpuMinutes: minutes(redoneMs),
    startupGpuMinutes: minutes(startupMs),
    framesRedone,
    interruptions,
    tasksRequeued,
    tasks: chunks.length + smallChunks.length,
    cost,
    spotGpuMinutes: minutes(billed.spot),
    onDemandGpuMinutes: minutes(billed['on-demand']),
    events,
    completed: finishedAt !== undefined,
    fallbackWorkers,
    ...(small
      ? {
          tenants: {
            smallWallMinutes: minutes(jobEnds.get(small.id) ?? nowMs),
            bigWallMinutes: minutes(jobEnds.get(job.id) ?? nowMs),
          },
        }
      : {}),
    maxTaskInterruptions: Math.max(0, ...taskInterruptions.values()),
    zones: zones.map((z) => ({
      name: z.name,
      interruptions: z.interruptions,
      workerSeconds: z.workerSeconds,
      maxWorkers: z.maxWorkers,
      reclaims: z.reclaims,
    })),
    gpuTypes: [...byType.values()],
    zoneReclaims,
  };
}

/** What meeting the deadline cost: the run against the same run without the deadline (the reserve kept). */
async function deadlineResult(p: SimParams, run: RunResult): Promise<DeadlineResult | undefined> {
  if (p.deadlineMinutes === undefined) return undefined;
  const without = await runOnce({ ...p, deadlineMinutes: undefined }, false, true);
  return {
    minutes: p.deadlineMinutes,
    met: run.completed && run.wallMinutes <= p.deadlineMinutes,
    withoutWallMinutes: without.wallMinutes,
    withoutCost: without.cost,
    extraCost: run.cost - without.cost,
  };
}

/** The job on the spot plan, and the same job on on-demand workers only (and, with a deadline, without it). */
export async function simulate(
  p: SimParams,
): Promise<SimResult & { run: RunResult; onDemandRun: RunResult }> {
  const run = await runOnce(p);
  const onDemandRun = await runOnce({ ...p, interruptionRate: 0 }, true);
  const deadline = await deadlineResult(p, run);
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
    maxTaskInterruptions: run.maxTaskInterruptions,
    zones: run.zones,
    fallbackWorkers: run.fallbackWorkers,
    ...(run.tenants ? { tenants: run.tenants } : {}),
    ...(deadline ? { deadline } : {}),
    run,
    onDemandRun,
  };
}
