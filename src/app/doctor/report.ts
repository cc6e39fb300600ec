import type { S3BlobStoreOptions } from '../../blob/s3BlobStore.js';
import { type FfmpegInfo, ffmpegInfo, NOTABLE_ENCODERS } from '../../media/toolInfo.js';
import { EXECUTION_PROVIDERS } from '../../vision/execution.js';
import { checkProviderIsolated } from '../../vision/isolatedProviderCheck.js';
import type { ProviderStatus } from '../../vision/providerCheck.js';
import { type NvidiaGpu, nvidiaGpus, type VulkanInfo, vulkanInfo } from './gpus.js';
import { type Reach, reachBlobStore, reachDatabase } from './reach.js';

export type Verdict = 'ok' | 'warn' | 'fail' | 'info';

/** One line of the report. */
export interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
}

export interface ModelPresence {
  dir: string;
  /** Every known model's name and whether its file is in the folder. */
  models: { name: string; present: boolean; defaultChain: boolean }[];
}

export interface DoctorReport {
  /** False when a basic (ffmpeg, ffprobe, the cpu provider) or an asked-for check (--db, --blob) fails. */
  ok: boolean;
  checks: Check[];
  ffmpeg: FfmpegInfo | null;
  providers: ProviderStatus[];
  nvidia: NvidiaGpu[] | null;
  vulkan: VulkanInfo;
  models: ModelPresence;
  database: Reach | null;
  blob: Reach | null;
}

export interface DoctorOptions {
  models: () => Promise<ModelPresence>;
  db?: string;
  blob?: string;
  s3?: S3BlobStoreOptions;
}

const firstLine = (error: unknown) => ((error as Error)?.message ?? String(error)).split('\n')[0];
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function ffmpegChecks(info: FfmpegInfo | null, error: string | undefined): Check[] {
  if (!info) return [{ name: 'ffmpeg', verdict: 'fail', detail: error ?? 'not found' }];
  const notable = NOTABLE_ENCODERS.filter((name) => info.encoders.includes(name));
  const hw = info.hwaccels.length > 0 ? info.hwaccels.join(', ') : 'none';
  return [
    {
      name: 'ffmpeg',
      verdict: 'ok',
      detail: `${info.ffmpeg.path} ${info.ffmpeg.version}; encoders ${notable.join(', ') || 'none of note'}; hwaccels ${hw}`,
    },
    { name: 'ffprobe', verdict: 'ok', detail: `${info.ffprobe.path} ${info.ffprobe.version}` },
  ];
}

function gpuChecks(nvidia: NvidiaGpu[] | null, vulkan: VulkanInfo): Check[] {
  const gpus =
    nvidia === null
      ? 'none seen (no nvidia-smi, or it failed)'
      : nvidia.map((g) => `${g.name} (driver ${g.driver}, ${g.memoryMiB ?? '?'} MiB)`).join('; ') || 'none';
  const icds = vulkan.icds.map((icd) => {
    const lib = icd.library ?? 'unreadable';
    const api = icd.apiVersion ? ` Vulkan ${icd.apiVersion}` : '';
    return `${lib}${api}${icd.libraryFound === false ? ' (missing)' : ''}`;
  });
  const adapters = vulkan.adapters === null ? '' : `; adapters: ${vulkan.adapters.join(', ') || 'none'}`;
  return [
    { name: 'gpus', verdict: 'info', detail: gpus },
    {
      name: 'vulkan',
      verdict: 'info',
      detail: `${plural(icds.length, 'driver')} from ${vulkan.source}${icds.length ? `: ${icds.join(', ')}` : ''}${adapters}`,
    },
  ];
}

function modelCheck({ dir, models }: ModelPresence): Check {
  const present = models.filter((m) => m.present).map((m) => m.name);
  const missing = models.filter((m) => m.defaultChain && !m.present).map((m) => m.name);
  const chain = missing.length
    ? `the default chain still needs ${missing.join(', ')} (fetched on first use, or "spotfuse models download")`
    : 'the default chain has all it needs';
  return {
    name: 'models',
    verdict: missing.length ? 'warn' : 'ok',
    detail: `${dir}: ${present.length} of ${models.length} present${present.length ? ` (${present.join(', ')})` : ''}; ${chain}`,
  };
}

/** Runs every check; never throws for what it finds, only reports it. */
export async function doctorReport(options: DoctorOptions): Promise<DoctorReport> {
  let ffmpeg: FfmpegInfo | null = null;
  let ffmpegError: string | undefined;
  try {
    ffmpeg = await ffmpegInfo();
  } catch (error) {
    ffmpegError = firstLine(error);
  }
  // One after another: each check creates a session, a GPU's taking the GPU's memory.
  const providers: ProviderStatus[] = [];
  for (const provider of EXECUTION_PROVIDERS) providers.push(await checkProviderIsolated(provider));
  const [nvidia, vulkan, models, database, blob] = await Promise.all([
    nvidiaGpus(),
    vulkanInfo(),
    options.models(),
    options.db ? reachDatabase(options.db) : null,
    options.blob ? reachBlobStore(options.blob, options.s3) : null,
  ]);
  const checks: Check[] = [
    ...ffmpegChecks(ffmpeg, ffmpegError),
    ...providers.map(
      (p): Check => ({
        name: p.provider,
        verdict: p.available ? 'ok' : p.provider === 'cpu' ? 'fail' : 'warn',
        detail: p.detail,
      }),
    ),
    ...gpuChecks(nvidia, vulkan),
    modelCheck(models),
  ];
  if (database)
    checks.push({ name: 'database', verdict: database.ok ? 'ok' : 'fail', detail: database.detail });
  if (blob) checks.push({ name: 'blob', verdict: blob.ok ? 'ok' : 'fail', detail: blob.detail });
  return {
    ok: checks.every((check) => check.verdict !== 'fail'),
    checks,
    ffmpeg,
    providers,
    nvidia,
    vulkan,
    models,
    database,
    blob,
  };
}
