import { setTimeout as sleep } from 'node:timers/promises';
import {
  alive,
  type ChaosCluster,
  type ChaosWorker,
  type HeldTask,
  heldTask,
  logLines,
} from './chaosCluster.js';
import type { FaultKind, PlannedFault } from './schedule.js';

/** What one injected fault did. */
export interface FaultRecord {
  kind: FaultKind;
  /** What it hit (a worker's name, a replica, the database, the object store), or why it was skipped. */
  target: string;
  injected: boolean;
  /** Tasks it took from workers: interruptions the job's report must count. */
  interrupted: HeldTask[];
  /** Workers it ended: a claim granted as one died, never heard of, expires as an interruption too. */
  ended: string[];
  /** The job's framesDone when the fault was injected: recovery is progress past it. */
  framesBefore: number;
  injectedAt: number;
  /** When the job made progress again after the fault (ms after injection). */
  recoveredAfterMs?: number;
  /** What the fault's own checks found wrong (a zombie's late call accepted, say). */
  violations: string[];
}

export interface FaultContext {
  cluster: ChaosCluster;
  /** Whether the job has ended (then a fault that waits for a busy worker gives up). */
  jobEnded: () => Promise<boolean>;
  framesDone: number;
  /** Upper bound on every wait for a state (generous: nothing depends on the machine's speed). */
  timeoutMs: number;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`chaos: timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A worker of the fleet that holds a task, picked by `target`; undefined once the job has ended. */
async function busyWorker(ctx: FaultContext, target: number): Promise<ChaosWorker | undefined> {
  let chosen: ChaosWorker | undefined;
  await waitFor(
    'a busy worker',
    async () => {
      const busy = ctx.cluster.workers.filter((w) => alive(w.process) && heldTask(w));
      chosen = busy.length > 0 ? busy[target % busy.length] : undefined;
      return chosen !== undefined || (await ctx.jobEnded());
    },
    ctx.timeoutMs,
  );
  return chosen;
}

/** Ends a worker for good (kill -9) and notes the task it still held. */
async function killWorker(worker: ChaosWorker, record: FaultRecord): Promise<void> {
  if (alive(worker.process)) worker.process.child.kill('SIGKILL');
  await worker.process.result;
  record.ended.push(worker.name);
  const held = heldTask(worker);
  if (held) record.interrupted.push(held);
}

const ended = (worker: ChaosWorker, task: HeldTask) =>
  !alive(worker.process) || heldTask(worker)?.taskId !== task.taskId;

export async function injectFault(fault: PlannedFault, ctx: FaultContext): Promise<FaultRecord> {
  const { cluster } = ctx;
  const record: FaultRecord = {
    kind: fault.kind,
    target: '',
    injected: true,
    interrupted: [],
    ended: [],
    framesBefore: ctx.framesDone,
    injectedAt: Date.now(),
    violations: [],
  };
  const skip = (why: string) => {
    record.injected = false;
    record.target = why;
    return record;
  };
  switch (fault.kind) {
    case 'replica': {
      const index = fault.target % cluster.replicas.length;
      record.target = `replica ${index}`;
      await cluster.restartReplica(index);
      return record;
    }
    case 'postgres':
      record.target = 'postgresql';
      await cluster.pg.restart();
      return record;
    case 's3-fail':
    case 's3-stall':
      record.target = `s3 for ${fault.durationMs} ms`;
      cluster.s3Proxy.setMode(fault.kind === 's3-fail' ? 'fail' : 'stall');
      await sleep(fault.durationMs);
      cluster.s3Proxy.setMode('pass');
      return record;
  }
  const worker = await busyWorker(ctx, fault.target);
  if (!worker) return skip('no busy worker before the job ended');
  const held = heldTask(worker) as HeldTask;
  record.target = `${worker.name} on ${held.kind} task ${held.taskId}`;
  record.injectedAt = Date.now();
  switch (fault.kind) {
    case 'kill':
      await killWorker(worker, record);
      await cluster.replace(worker);
      break;
    case 'sigterm': {
      worker.process.child.kill('SIGTERM');
      const exit = await worker.process.result;
      record.ended.push(worker.name);
      await cluster.replace(worker);
      if (exit.code !== 0) record.violations.push(`${worker.name} exited ${exit.code} after SIGTERM`);
      const lines = logLines(exit.stderr).filter((l) => l.taskId === held.taskId);
      if (lines.some((l) => /^task preempted/.test(l.msg ?? ''))) record.interrupted.push(held);
      if (lines.some((l) => /^task failed/.test(l.msg ?? '')))
        record.violations.push(`${worker.name}: a preemption ended in a failed task`);
      break;
    }
    case 'zombie': {
      worker.process.child.kill('SIGSTOP');
      // The fleet sees a machine that stopped answering and replaces it.
      await cluster.replace(worker);
      await waitFor(
        `task ${held.taskId} to be claimed again`,
        async () =>
          cluster.everyWorker.some((w) =>
            logLines(w.process.stderr()).some(
              (l) => l.taskId === held.taskId && (l.epoch ?? 0) > held.epoch && /^claimed/.test(l.msg ?? ''),
            ),
          ) || (await ctx.jobEnded()),
        ctx.timeoutMs,
      );
      worker.process.child.kill('SIGCONT');
      await waitFor(`${worker.name} to notice it lost its lease`, () => ended(worker, held), ctx.timeoutMs);
      const late = logLines(worker.process.stderr()).filter(
        (l) => l.taskId === held.taskId && l.epoch === held.epoch,
      );
      if (late.some((l) => /^(task|merge) completed/.test(l.msg ?? '')))
        record.violations.push(`zombie ${worker.name} completed task ${held.taskId} after losing its lease`);
      record.interrupted.push(held);
      // Its machine is reclaimed; a task it claimed since it woke up is interrupted too.
      await killWorker(worker, record);
      break;
    }
    case 'heartbeats':
      worker.front.dropHeartbeats(true);
      await waitFor(`${worker.name}'s task to end`, () => ended(worker, held), ctx.timeoutMs);
      worker.front.dropHeartbeats(false);
      if (
        logLines(worker.process.stderr()).some(
          (l) =>
            l.taskId === held.taskId && l.epoch === held.epoch && /^lease on task .* lost/.test(l.msg ?? ''),
        )
      )
        record.interrupted.push(held);
      break;
  }
  return record;
}
