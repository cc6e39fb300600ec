import { decideRelease } from '../core/lease.js';
import type { FrameRange, LeaseResult, ReleaseReason, Segment, Task } from '../core/types.js';
import {
  type CheckpointRequest,
  type ClaimedTask,
  type ClaimRequest,
  claimExclusions,
  type HeartbeatProgress,
  type LostLeaseOutcome,
  type NewJob,
  type Store,
  type StoredJob,
} from '../store/store.js';
import { Heap } from './heap.js';

/** The part of the store the lease service uses. */
export type LeaseStore = Pick<
  Store,
  | 'createJob'
  | 'getJob'
  | 'getFramePts'
  | 'getTask'
  | 'listSegments'
  | 'claim'
  | 'heartbeat'
  | 'checkpoint'
  | 'complete'
  | 'release'
  | 'expireLeases'
  | 'endLeases'
  | 'close'
>;

interface MemTask extends Task {
  seq: number;
}

/**
 * The simulator's fast path: the lease calls of `SqliteStore` on plain objects, with the same release
 * decisions (`decideRelease`), the same claim order (urgent jobs, then older jobs, then frame order), the
 * same fencing and the same merge task; `test/sim` checks that a simulation gives identical results on
 * both. Claims take O(log n) from a heap instead of a scan of the pending tasks. One job's frame timestamps
 * are synthetic (frame index). Not a `Store`: no tokens, tenants, cancel or retry.
 */
export class MemoryLeaseStore implements LeaseStore {
  private readonly jobs = new Map<string, StoredJob>();
  private readonly probes = new Map<string, Record<string, unknown>>();
  private readonly tasks = new Map<string, MemTask>();
  private readonly segments = new Map<string, Segment[]>();
  private readonly open = new Map<string, number>();
  private readonly running = new Set<MemTask>();
  /** Pending tasks in claim order; entries whose task has left `pending` are skipped when popped. */
  private readonly pending = new Heap<MemTask>(claimsBefore((t) => this.jobs.get(t.jobId)!));
  private nextJob = 0;

  async createJob(job: NewJob, now: number): Promise<StoredJob> {
    const id = `job_sim${String(this.nextJob++).padStart(6, '0')}`;
    const stored: StoredJob = {
      id,
      key: job.key,
      state: 'running',
      spec: job.spec,
      frameCount: job.framePts.length,
      createdAt: now,
      finishedAt: null,
      error: null,
      tenant: job.tenant ?? null,
    };
    this.jobs.set(id, stored);
    this.probes.set(id, job.probe);
    this.segments.set(id, []);
    this.open.set(id, job.chunks.length);
    job.chunks.forEach((c, seq) => {
      this.addTask({
        id: `${id}-t${String(seq).padStart(4, '0')}`,
        jobId: id,
        kind: 'process',
        seq,
        range: c,
      });
    });
    return { ...stored };
  }

  private addTask(t: {
    id: string;
    jobId: string;
    kind: Task['kind'];
    seq: number;
    range: FrameRange;
  }): void {
    const task: MemTask = {
      ...t,
      nextFrame: t.range.start,
      state: 'pending',
      epoch: 0,
      workerId: null,
      leaseExpiresAt: null,
      failures: 0,
      preemptions: 0,
      lastError: null,
    };
    this.tasks.set(t.id, task);
    this.pending.push(task);
  }

  async getJob(id: string): Promise<StoredJob | undefined> {
    const job = this.jobs.get(id);
    return job && { ...job };
  }

  async getFramePts(jobId: string, range: FrameRange): Promise<number[]> {
    const end = Math.min(range.end, this.jobs.get(jobId)?.frameCount ?? 0);
    const out: number[] = [];
    for (let f = range.start; f < end; f++) out.push(f);
    return out;
  }

  async getTask(taskId: string): Promise<Task | undefined> {
    const t = this.tasks.get(taskId);
    return t && taskView(t);
  }

  async listSegments(jobId: string): Promise<Segment[]> {
    return [...(this.segments.get(jobId) ?? [])].sort((a, b) => a.range.start - b.range.start);
  }

  async claim(req: ClaimRequest): Promise<ClaimedTask | undefined> {
    const skip = claimExclusions(req);
    const skipped: MemTask[] = [];
    let found: MemTask | undefined;
    for (let t = this.pending.pop(); t; t = this.pending.pop()) {
      const job = this.jobs.get(t.jobId)!;
      if (t.state !== 'pending' || (job.state !== 'running' && job.state !== 'merging')) continue;
      if (
        (skip.merge && t.kind === 'merge') ||
        (skip.urgent && isUrgent(job)) ||
        (skip.interruptionCap !== undefined && t.preemptions >= skip.interruptionCap)
      ) {
        skipped.push(t);
        continue;
      }
      found = t;
      break;
    }
    for (const t of skipped) this.pending.push(t);
    if (!found) return undefined;
    found.state = 'running';
    found.epoch++;
    found.workerId = req.workerId;
    found.leaseExpiresAt = req.now + req.leaseTtlMs;
    this.running.add(found);
    const job = this.jobs.get(found.jobId)!;
    return { task: taskView(found), job: { ...job }, probe: this.probes.get(job.id)! };
  }

  private leaseHolder(taskId: string, epoch: number): MemTask | Exclude<LeaseResult, 'ok'> {
    const t = this.tasks.get(taskId);
    if (!t || t.epoch !== epoch) return 'stale';
    if (this.jobs.get(t.jobId)!.state === 'canceled' || t.state === 'canceled') return 'canceled';
    if (t.state !== 'running') return 'stale';
    return t;
  }

  async heartbeat(
    taskId: string,
    epoch: number,
    _progress: HeartbeatProgress,
    now: number,
    leaseTtlMs: number,
  ): Promise<LeaseResult> {
    const t = this.leaseHolder(taskId, epoch);
    if (typeof t === 'string') return t;
    t.leaseExpiresAt = now + leaseTtlMs;
    return 'ok';
  }

  async checkpoint(taskId: string, epoch: number, segment: CheckpointRequest): Promise<LeaseResult> {
    const t = this.leaseHolder(taskId, epoch);
    if (typeof t === 'string') return t;
    const { start, end } = segment.range;
    const segments = this.segments.get(t.jobId)!;
    if (start < t.nextFrame) {
      const same = segments.some(
        (s) => s.taskId === taskId && s.range.start === start && s.range.end === end && s.key === segment.key,
      );
      return same ? 'ok' : 'stale';
    }
    if (start !== t.nextFrame || end <= start || end > t.range.end) {
      throw new RangeError(
        `segment ${start}-${end} does not continue task ${taskId} at frame ${t.nextFrame} (ends ${t.range.end})`,
      );
    }
    segments.push({ jobId: t.jobId, taskId, range: { start, end }, key: segment.key, epoch });
    t.nextFrame = end;
    return 'ok';
  }

  async complete(taskId: string, epoch: number, now: number): Promise<LeaseResult> {
    const current = this.tasks.get(taskId);
    if (current?.state === 'done' && current.epoch === epoch) return 'ok';
    const t = this.leaseHolder(taskId, epoch);
    if (typeof t === 'string') return t;
    if (t.kind === 'process' && t.nextFrame < t.range.end) {
      throw new RangeError(
        `task ${taskId} cannot complete: frames ${t.nextFrame}-${t.range.end} have no segment`,
      );
    }
    this.endLease(t, 'done');
    const job = this.jobs.get(t.jobId)!;
    if (t.kind === 'merge') {
      job.state = 'completed';
      job.finishedAt = now;
      return 'ok';
    }
    const open = this.open.get(job.id)! - 1;
    this.open.set(job.id, open);
    if (open === 0 && !this.tasks.has(`${job.id}-merge`)) {
      this.addTask({
        id: `${job.id}-merge`,
        jobId: job.id,
        kind: 'merge',
        seq: 1_000_000,
        range: { start: 0, end: job.frameCount },
      });
      if (job.state === 'running') job.state = 'merging';
    }
    return 'ok';
  }

  async release(
    taskId: string,
    epoch: number,
    reason: ReleaseReason,
    error: string | null,
    now: number,
    maxAttempts: number,
  ): Promise<LeaseResult> {
    const t = this.leaseHolder(taskId, epoch);
    if (typeof t === 'string') return t;
    const next = decideRelease(t, reason, maxAttempts);
    t.failures = next.failures;
    t.preemptions = next.preemptions;
    t.lastError = error ?? t.lastError;
    this.endLease(t, next.state);
    if (next.state === 'failed') {
      const job = this.jobs.get(t.jobId)!;
      job.state = 'failed';
      job.error = `task ${taskId} failed ${next.failures} times: ${error ?? 'unknown error'}`;
      job.finishedAt = now;
    }
    return 'ok';
  }

  private endLease(t: MemTask, state: Task['state']): void {
    t.state = state;
    t.workerId = null;
    t.leaseExpiresAt = null;
    this.running.delete(t);
    if (state === 'pending') this.pending.push(t);
  }

  async expireLeases(now: number): Promise<number> {
    return this.endLeasesWhere((t) => (t.leaseExpiresAt ?? Number.POSITIVE_INFINITY) < now);
  }

  async endLeases(_outcome: LostLeaseOutcome, _now: number, workerId?: string): Promise<number> {
    return this.endLeasesWhere((t) => workerId === undefined || t.workerId === workerId);
  }

  private endLeasesWhere(match: (t: MemTask) => boolean): number {
    const ended = [...this.running].filter(match).sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const t of ended) {
      t.preemptions++;
      this.endLease(t, 'pending');
    }
    return ended.length;
  }

  async close(): Promise<void> {}
}

function isUrgent(job: StoredJob): boolean {
  return (job.spec as { priority?: string }).priority === 'urgent';
}

function taskView(t: MemTask): Task {
  const { seq: _seq, ...task } = t;
  return { ...task, range: { ...t.range } };
}

/** Claim order of pending tasks: urgent jobs, then older jobs, then frame order (as the stores' claim). */
function claimsBefore(jobOf: (t: MemTask) => StoredJob) {
  return (a: MemTask, b: MemTask): boolean => {
    const ja = jobOf(a);
    const jb = jobOf(b);
    const ua = isUrgent(ja);
    const ub = isUrgent(jb);
    if (ua !== ub) return ua;
    if (ja.createdAt !== jb.createdAt) return ja.createdAt < jb.createdAt;
    if (ja.id !== jb.id) return ja.id < jb.id;
    return a.seq < b.seq;
  };
}
