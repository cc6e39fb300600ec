import { execFile } from 'node:child_process';
import {
  type GpuTelemetry,
  INSTANCE_FACT,
  type InstanceInfo,
  MAX_GPU_MEMORY_MIB,
  type Pool,
} from '../core/types.js';
import type { InstanceFacts } from './clouds/types.js';

/** One GPU as `nvidia-smi` reports it; a reading it has not got (`[N/A]`, e.g. under MIG) is undefined. */
export interface GpuReading {
  utilization: number | undefined;
  memoryUsedMiB: number | undefined;
  memoryTotalMiB: number | undefined;
}

export const NVIDIA_SMI_ARGS = [
  '--query-gpu=utilization.gpu,memory.used,memory.total',
  '--format=csv,noheader,nounits',
] as const;

function reading(field: string | undefined, max: number): number | undefined {
  const text = field?.trim() ?? '';
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** Every GPU line of `nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(output: string): GpuReading[] {
  const gpus: GpuReading[] = [];
  for (const line of output.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const fields = line.split(',');
    if (fields.length !== 3) continue;
    const gpu: GpuReading = {
      utilization: reading(fields[0], 100),
      memoryUsedMiB: reading(fields[1], MAX_GPU_MEMORY_MIB),
      memoryTotalMiB: reading(fields[2], MAX_GPU_MEMORY_MIB),
    };
    if (gpu.utilization !== undefined || gpu.memoryUsedMiB !== undefined || gpu.memoryTotalMiB !== undefined)
      gpus.push(gpu);
  }
  return gpus;
}

function known(values: (number | undefined)[]): number[] {
  return values.filter((v): v is number => v !== undefined);
}

/**
 * What a heartbeat carries for the machine's GPUs: their mean utilisation and their memory summed. A worker
 * sees every GPU of its machine (nvidia-smi ignores CUDA_VISIBLE_DEVICES), so on a machine shared by several
 * workers these are the machine's numbers, not one worker's.
 */
export function summarizeGpus(gpus: readonly GpuReading[]): GpuTelemetry | undefined {
  if (gpus.length === 0) return undefined;
  const util = known(gpus.map((g) => g.utilization));
  const used = known(gpus.map((g) => g.memoryUsedMiB));
  const total = known(gpus.map((g) => g.memoryTotalMiB));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const summary: GpuTelemetry = {};
  if (util.length > 0) summary.gpuUtilization = Math.round((sum(util) / util.length) * 10) / 10;
  if (used.length > 0) summary.gpuMemoryUsedMiB = Math.min(MAX_GPU_MEMORY_MIB, Math.round(sum(used)));
  if (total.length > 0) summary.gpuMemoryTotalMiB = Math.min(MAX_GPU_MEMORY_MIB, Math.round(sum(total)));
  return Object.keys(summary).length > 0 ? summary : undefined;
}

export interface GpuTelemetryOptions {
  /** The nvidia-smi to run (default: `nvidia-smi` on PATH). */
  command?: string;
  timeoutMs?: number;
  /** Environment of the child (default: this process's); tests pass a PATH without nvidia-smi. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The GPUs' readings through nvidia-smi, or undefined when there is no nvidia-smi, it fails, it takes longer
 * than `timeoutMs` (default 3 s) or it reports nothing readable. Never rejects.
 */
export function gpuTelemetry(options: GpuTelemetryOptions = {}): Promise<GpuReading[] | undefined> {
  return new Promise((resolve) => {
    try {
      execFile(
        options.command ?? 'nvidia-smi',
        [...NVIDIA_SMI_ARGS],
        {
          timeout: options.timeoutMs ?? 3000,
          maxBuffer: 256 * 1024,
          env: options.env ?? process.env,
          windowsHide: true,
        },
        (error, stdout) => {
          if (error) return resolve(undefined);
          const gpus = parseNvidiaSmi(String(stdout));
          resolve(gpus.length > 0 ? gpus : undefined);
        },
      ).on('error', () => resolve(undefined));
    } catch {
      resolve(undefined);
    }
  });
}

export interface GpuSampler {
  /** The latest summary, if any; never blocks. */
  latest(): GpuTelemetry | undefined;
  stop(): void;
}

/**
 * Samples the GPUs every `intervalMs` (default 5 s) in the background, so that heartbeats never wait on
 * nvidia-smi. When the first sample finds no nvidia-smi (or nothing it can read), sampling stops for good.
 */
export function startGpuSampler(options: GpuTelemetryOptions & { intervalMs?: number } = {}): GpuSampler {
  let latest: GpuTelemetry | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let first = true;
  const sample = async () => {
    const gpus = await gpuTelemetry(options);
    if (stopped) return;
    if (gpus === undefined && first) {
      stopped = true;
      return;
    }
    first = false;
    latest = gpus && summarizeGpus(gpus);
    timer = setTimeout(sample, options.intervalMs ?? 5000);
    timer.unref();
  };
  void sample();
  return {
    latest: () => latest,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** A fact fit for the claim body (INSTANCE_FACT), or undefined: a strange one must not cost the claim. */
function fact(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text && INSTANCE_FACT.test(text) ? text : undefined;
}

/**
 * The machine as a claim reports it: the cloud's metadata where there is a cloud; the lifecycle falls back
 * to the pool the worker was started for (`--pool`) when the metadata does not tell.
 */
export function instanceInfo(facts: InstanceFacts | undefined, pool: Pool): InstanceInfo {
  const info: InstanceInfo = { lifecycle: facts?.lifecycle ?? pool };
  const cloud = fact(facts?.cloud);
  const instanceType = fact(facts?.instanceType);
  const zone = fact(facts?.zone);
  if (cloud) info.cloud = cloud;
  if (instanceType) info.instanceType = instanceType;
  if (zone) info.zone = zone;
  return info;
}
