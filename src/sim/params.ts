import { UserError } from '../core/errors.js';
import type { OnDemandOnly } from '../core/types.js';
import type { PriceEntry } from '../cost/prices.js';
import { SIM_DEFAULTS, type SimGpuType, type SimParams, type SimZone } from './simulate.js';

/** What a user describes: the job either as GPU-minutes of work or as video length, fps and GPU speed. */
export interface SimInput {
  workGpuMinutes?: number;
  videoSeconds?: number;
  fps?: number;
  gpuFps?: number;
  spotPrice: number;
  onDemandPrice: number;
  interruptionRate?: number;
  noticeSeconds?: number;
  chunkSeconds?: number;
  checkpointFrames?: number;
  workers?: number;
  onDemandWorkers?: number;
  startupSeconds?: number;
  replacementSeconds?: number;
  mergeSeconds?: number;
  leaseTtlSeconds?: number;
  seed?: number;
  onDemandFor?: readonly OnDemandOnly[];
  onDemandAfter?: number;
  zones?: SimZone[];
  zoneReclaimRate?: number;
  zoneOutageSeconds?: number;
  /** A mixed fleet; replaces `gpuFps`, `workers`, `onDemandWorkers` and the single pair of prices. */
  gpuTypes?: SimGpuType[];
  deadlineMinutes?: number;
  spotWaitLimitSeconds?: number;
  smallTenantFrames?: number;
}

/**
 * Model parameters from a user's description. With `workGpuMinutes` the video is `videoSeconds` (default
 * 300) at `fps` (default 30) and the GPU speed follows; otherwise `gpuFps` is required.
 */
export function simParams(input: SimInput): SimParams {
  const fps = input.fps ?? SIM_DEFAULTS.fps;
  const videoSeconds = input.videoSeconds ?? SIM_DEFAULTS.videoSeconds;
  const frameCount = Math.max(1, Math.round(videoSeconds * fps));
  let gpuFps: number;
  const types = input.gpuTypes;
  if (types !== undefined) {
    if (input.workGpuMinutes !== undefined || input.gpuFps !== undefined)
      throw new UserError(
        '--gpu-types gives each type its speed: leave out --work-gpu-minutes and --gpu-fps',
      );
    const n = types.reduce((k, t) => k + t.spot + t.onDemand, 0);
    if (n < 1) throw new UserError('the simulation needs at least one worker');
    // For display only: the fleet's mean speed per worker.
    gpuFps = types.reduce((k, t) => k + t.gpuFps * (t.spot + t.onDemand), 0) / n;
  } else if (input.workGpuMinutes !== undefined) {
    if (input.gpuFps !== undefined)
      throw new UserError('give either --work-gpu-minutes or --gpu-fps, not both');
    gpuFps = frameCount / (input.workGpuMinutes * 60);
  } else if (input.gpuFps !== undefined) {
    gpuFps = input.gpuFps;
  } else {
    throw new UserError('give --work-gpu-minutes, or --gpu-fps with --video-seconds and --fps');
  }
  const workers = types ? types.reduce((k, t) => k + t.spot, 0) : (input.workers ?? SIM_DEFAULTS.workers);
  const onDemandWorkers = types
    ? types.reduce((k, t) => k + t.onDemand, 0)
    : (input.onDemandWorkers ?? SIM_DEFAULTS.onDemandWorkers);
  if (input.zoneReclaimRate && !input.zones?.length) throw new UserError('--zone-reclaim-rate needs --zones');
  if (workers + onDemandWorkers < 1) throw new UserError('the simulation needs at least one worker');
  return {
    frameCount,
    fps,
    gpuFps,
    chunkSeconds: input.chunkSeconds ?? SIM_DEFAULTS.chunkSeconds,
    checkpointFrames: input.checkpointFrames ?? SIM_DEFAULTS.checkpointFrames,
    workers,
    onDemandWorkers,
    spotPrice: input.spotPrice,
    onDemandPrice: input.onDemandPrice,
    interruptionRate: input.interruptionRate ?? 0,
    noticeSeconds: input.noticeSeconds ?? SIM_DEFAULTS.noticeSeconds,
    startupSeconds: input.startupSeconds ?? SIM_DEFAULTS.startupSeconds,
    replacementSeconds: input.replacementSeconds ?? SIM_DEFAULTS.replacementSeconds,
    mergeSeconds: input.mergeSeconds ?? SIM_DEFAULTS.mergeSeconds,
    leaseTtlSeconds: input.leaseTtlSeconds ?? SIM_DEFAULTS.leaseTtlSeconds,
    maxAttempts: SIM_DEFAULTS.maxAttempts,
    seed: input.seed ?? SIM_DEFAULTS.seed,
    onDemandFor: input.onDemandFor,
    onDemandAfter: input.onDemandAfter,
    zones: input.zones,
    zoneReclaimRate: input.zoneReclaimRate,
    zoneOutageSeconds: input.zoneOutageSeconds,
    gpuTypes: input.gpuTypes,
    deadlineMinutes: input.deadlineMinutes,
    spotWaitLimitSeconds: input.spotWaitLimitSeconds,
    smallTenantFrames: input.smallTenantFrames,
  };
}

/** `us-east-1a:10,us-east-1b:10`: zones and the most spot workers each may run. */
export function parseZones(text: string): SimZone[] {
  const zones: SimZone[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9._-]+):(\d+)\s*$/.exec(part);
    if (!m)
      throw new UserError(`--zones takes NAME:CAPACITY,… (e.g. us-east-1a:10,us-east-1b:10), not "${part}"`);
    if (zones.some((z) => z.name === m[1])) throw new UserError(`--zones lists ${m[1]} twice`);
    zones.push({ name: m[1], capacity: Number(m[2]) });
  }
  return zones;
}

const GPU_TYPE_KEYS = ['fps', 'spot', 'count', 'on-demand', 'spot-price', 'on-demand-price'];

/**
 * `g4dn.xlarge:fps=12:spot=10,p3.2xlarge:fps=30:spot=5:on-demand=2`: a mixed fleet. `count` is a synonym of
 * `spot`; `spot-price` and `on-demand-price` replace the price table's (needed for types it does not list).
 */
export function parseGpuTypes(text: string, price: (instanceType: string) => PriceEntry): SimGpuType[] {
  const types: SimGpuType[] = [];
  for (const part of text.split(',')) {
    const [name, ...fields] = part.trim().split(':');
    const kv: Record<string, number> = {};
    for (const field of fields) {
      const m = /^([a-z-]+)=(.+)$/.exec(field);
      const value = m ? Number(m[2]) : Number.NaN;
      if (!m || !GPU_TYPE_KEYS.includes(m[1]) || !Number.isFinite(value) || value < 0) {
        throw new UserError(
          `--gpu-types: "${field}" in ${part.trim()} is not one of fps=, spot= (count=), on-demand=, spot-price=, on-demand-price= with a number`,
        );
      }
      kv[m[1] === 'count' ? 'spot' : m[1]] = value;
    }
    if (!name || !(kv.fps > 0))
      throw new UserError(`--gpu-types takes TYPE:fps=N:spot=N[:on-demand=N],…, not "${part.trim()}"`);
    for (const k of ['spot', 'on-demand']) {
      if (kv[k] !== undefined && !Number.isInteger(kv[k]))
        throw new UserError(`--gpu-types: ${k}= in ${part.trim()} must be a whole number`);
    }
    const entry =
      kv['spot-price'] !== undefined && kv['on-demand-price'] !== undefined ? undefined : price(name);
    types.push({
      name,
      gpuFps: kv.fps,
      spotPrice: kv['spot-price'] ?? entry!.spot,
      onDemandPrice: kv['on-demand-price'] ?? entry!.onDemand,
      spot: kv.spot ?? 0,
      onDemand: kv['on-demand'] ?? 0,
    });
  }
  return types;
}

/** Parameters `--sweep KEY=V1,V2,…` may vary, by their flag names (`deadline` in minutes, `spot-wait-limit` in seconds). */
export const SWEEP_KEYS: Record<string, keyof SimInput> = {
  'chunk-seconds': 'chunkSeconds',
  'checkpoint-frames': 'checkpointFrames',
  workers: 'workers',
  'on-demand-workers': 'onDemandWorkers',
  'interruption-rate': 'interruptionRate',
  notice: 'noticeSeconds',
  seed: 'seed',
  'on-demand-after': 'onDemandAfter',
  'zone-reclaim-rate': 'zoneReclaimRate',
  'zone-outage-seconds': 'zoneOutageSeconds',
  deadline: 'deadlineMinutes',
  'spot-wait-limit': 'spotWaitLimitSeconds',
};

export interface Sweep {
  flag: string;
  key: keyof SimInput;
  values: number[];
}

export function parseSweep(text: string): Sweep {
  const m = /^([a-z-]+)=(.+)$/.exec(text.trim());
  const key = m ? SWEEP_KEYS[m[1]] : undefined;
  if (!m || !key) {
    throw new UserError(`--sweep takes KEY=V1,V2,… with KEY one of ${Object.keys(SWEEP_KEYS).join(', ')}`);
  }
  const values = m[2].split(',').map((v) => Number(v.trim()));
  if (values.some((v) => !Number.isFinite(v) || v < 0)) {
    throw new UserError(`--sweep ${m[1]}: values must be numbers, 0 or more`);
  }
  return { flag: m[1], key, values };
}
