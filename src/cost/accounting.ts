/** What a job's attempts cost: GPU time, useful and wasted, priced from a price table. Pure. */
import { framesLost, isInterruption } from '../core/lease.js';
import type { Attempt, FrameRange, Task, TaskKind, TaskState } from '../core/types.js';
import { findPrice, type PriceTable } from './prices.js';

type PricedAttempt = Pick<
  Attempt,
  | 'taskId'
  | 'startedAt'
  | 'endedAt'
  | 'outcome'
  | 'framesDone'
  | 'framesCheckpointed'
  | 'cloud'
  | 'instanceType'
  | 'lifecycle'
>;

export interface AttemptCost {
  gpuSeconds: number;
  wastedGpuSeconds: number;
  /** USD; null when the instance type has no price. */
  paid: number | null;
  /** The same GPU time at the on-demand price of the same instance type (local workers: the local price). */
  onDemand: number | null;
  /** `cloud/instanceType` of an attempt that could not be priced. */
  unpriced?: string;
}

/** Hourly prices for an attempt's machine: undefined when the table does not know it. */
function hourlyPrices(
  attempt: PricedAttempt,
  prices: PriceTable,
): { paid: number; onDemand: number } | undefined {
  // A worker that found no cloud metadata service runs on the user's own machine.
  if (attempt.cloud === null && attempt.instanceType === null)
    return { paid: prices.localPerHour, onDemand: prices.localPerHour };
  if (attempt.cloud === null || attempt.instanceType === null || attempt.lifecycle === null) return undefined;
  const entry = findPrice(prices, attempt.cloud, attempt.instanceType);
  if (!entry) return undefined;
  return { paid: attempt.lifecycle === 'spot' ? entry.spot : entry.onDemand, onDemand: entry.onDemand };
}

export function attemptCost(attempt: PricedAttempt, prices: PriceTable, now: number): AttemptCost {
  const gpuSeconds = Math.max(0, (attempt.endedAt ?? now) - attempt.startedAt) / 1000;
  // Wasted: the share of an attempt's time that produced frames it never checkpointed (they are redone),
  // counted in proportion to frames; an attempt that ended unfinished without reporting a frame wasted all
  // of it. Running and completed attempts waste nothing (yet).
  const lost = framesLost(attempt);
  const ended = attempt.outcome !== 'running' && attempt.outcome !== 'completed';
  const wastedShare = !ended ? 0 : attempt.framesDone > 0 ? lost / attempt.framesDone : 1;
  const hourly = hourlyPrices(attempt, prices);
  const hours = gpuSeconds / 3600;
  return {
    gpuSeconds,
    wastedGpuSeconds: gpuSeconds * wastedShare,
    paid: hourly ? hourly.paid * hours : null,
    onDemand: hourly ? hourly.onDemand * hours : null,
    ...(hourly ? {} : { unpriced: `${attempt.cloud ?? '?'}/${attempt.instanceType ?? '?'}` }),
  };
}

export interface CostTotals {
  currency: 'USD';
  /** What the priced attempts cost at their own lifecycle's price. */
  paid: number;
  /** The same GPU time at on-demand prices. */
  onDemand: number;
  saving: number;
  /** Saving as a percentage of the on-demand cost; null when that is 0 (nothing priced, or free local GPUs). */
  savingPercent: number | null;
  gpuSeconds: number;
  usefulGpuSeconds: number;
  wastedGpuSeconds: number;
  /** GPU time on instance types the price table does not know: in no money figure. */
  unpricedGpuSeconds: number;
  /** `cloud/instanceType` of each unpriced machine. */
  unpricedInstanceTypes: string[];
}

export interface TaskCost {
  taskId: string;
  kind: TaskKind;
  state: TaskState;
  range: FrameRange;
  attempts: number;
  interruptions: number;
  framesRedone: number;
  gpuSeconds: number;
  wastedGpuSeconds: number;
  paid: number;
  onDemand: number;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function totals(costs: AttemptCost[]): CostTotals {
  let paid = 0;
  let onDemand = 0;
  let gpuSeconds = 0;
  let wasted = 0;
  let unpricedSeconds = 0;
  const unpriced = new Set<string>();
  for (const c of costs) {
    gpuSeconds += c.gpuSeconds;
    wasted += c.wastedGpuSeconds;
    if (c.unpriced !== undefined) {
      unpricedSeconds += c.gpuSeconds;
      unpriced.add(c.unpriced);
    }
    paid += c.paid ?? 0;
    onDemand += c.onDemand ?? 0;
  }
  return {
    currency: 'USD',
    paid: round(paid, 6),
    onDemand: round(onDemand, 6),
    saving: round(onDemand - paid, 6),
    savingPercent: onDemand > 0 ? round(((onDemand - paid) / onDemand) * 100, 2) : null,
    gpuSeconds: round(gpuSeconds, 3),
    usefulGpuSeconds: round(gpuSeconds - wasted, 3),
    wastedGpuSeconds: round(wasted, 3),
    unpricedGpuSeconds: round(unpricedSeconds, 3),
    unpricedInstanceTypes: [...unpriced].sort(),
  };
}

export type JobCost = CostTotals & { tasks?: TaskCost[] };

/** A job's cost from its attempts; with `tasks`, each task's share as well. */
export function jobCost(
  attempts: readonly PricedAttempt[],
  prices: PriceTable,
  now: number,
  tasks?: readonly Task[],
): JobCost {
  const costs = attempts.map((a) => attemptCost(a, prices, now));
  const cost: JobCost = totals(costs);
  if (tasks) {
    const byTask = new Map<string, { attempt: PricedAttempt; cost: AttemptCost }[]>();
    attempts.forEach((attempt, i) => {
      const list = byTask.get(attempt.taskId) ?? [];
      list.push({ attempt, cost: costs[i] });
      byTask.set(attempt.taskId, list);
    });
    cost.tasks = tasks.map((task) => {
      const mine = byTask.get(task.id) ?? [];
      const t = totals(mine.map((m) => m.cost));
      return {
        taskId: task.id,
        kind: task.kind,
        state: task.state,
        range: task.range,
        attempts: mine.length,
        interruptions: mine.filter((m) => isInterruption(m.attempt.outcome)).length,
        framesRedone: mine.reduce((sum, m) => sum + framesLost(m.attempt), 0),
        gpuSeconds: t.gpuSeconds,
        wastedGpuSeconds: t.wastedGpuSeconds,
        paid: t.paid,
        onDemand: t.onDemand,
      };
    });
  }
  return cost;
}
