import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

type Env = Record<string, string | undefined>;

export interface NvidiaGpu {
  name: string;
  driver: string;
  memoryMiB: number | null;
}

export interface VulkanIcd {
  /** The ICD manifest (JSON) the Vulkan loader reads. */
  file: string;
  library: string | null;
  apiVersion: string | null;
  /** Whether the library it names is there (absolute paths only; bare names are the loader's to find). */
  libraryFound: boolean | null;
}

export interface VulkanInfo {
  /** Where the loader's list came from: VK_DRIVER_FILES/VK_ICD_FILENAMES, or the standard folders. */
  source: string;
  icds: VulkanIcd[];
  /** `vulkaninfo --summary` device names, when vulkaninfo is installed (null when it is not). */
  adapters: string[] | null;
}

function run(command: string, args: string[], env: Env): Promise<string | undefined> {
  return new Promise((resolve) => {
    try {
      execFile(
        command,
        args,
        { timeout: 10_000, maxBuffer: 1 << 20, env: env as NodeJS.ProcessEnv },
        (error, stdout) => resolve(error ? undefined : String(stdout)),
      ).on('error', () => resolve(undefined));
    } catch {
      resolve(undefined);
    }
  });
}

/** `nvidia-smi --query-gpu=name,driver_version,memory.total` lines. */
export function parseNvidiaGpus(output: string): NvidiaGpu[] {
  return output
    .split('\n')
    .map((line) => line.split(',').map((field) => field.trim()))
    .filter((fields) => fields.length === 3 && fields[0] !== '')
    .map(([name, driver, memory]) => ({
      name,
      driver,
      memoryMiB: /^\d+$/.test(memory) ? Number(memory) : null,
    }));
}

/** The NVIDIA GPUs nvidia-smi sees; null when there is no nvidia-smi or it fails (no driver). */
export async function nvidiaGpus(env: Env = process.env): Promise<NvidiaGpu[] | null> {
  const out = await run(
    'nvidia-smi',
    ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader,nounits'],
    env,
  );
  return out === undefined ? null : parseNvidiaGpus(out);
}

const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

function readIcd(file: string): VulkanIcd {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as {
      ICD?: { library_path?: string; api_version?: string };
    };
    const library = json.ICD?.library_path ?? null;
    return {
      file,
      library,
      apiVersion: json.ICD?.api_version ?? null,
      libraryFound: library?.startsWith('/') ? existsSync(library) : null,
    };
  } catch {
    return { file, library: null, apiVersion: null, libraryFound: false };
  }
}

/** The device names of `vulkaninfo --summary`. */
export function parseVulkaninfo(output: string): string[] {
  return [...output.matchAll(/^\s*deviceName\s*=\s*(.+)$/gm)].map((match) => match[1].trim());
}

/** The Vulkan drivers the loader would use (as it chooses its ICD files) and, with vulkaninfo, its adapters. */
export async function vulkanInfo(env: Env = process.env): Promise<VulkanInfo> {
  const named = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  let source: string;
  let files: string[];
  if (named) {
    source = env.VK_DRIVER_FILES ? 'VK_DRIVER_FILES' : 'VK_ICD_FILENAMES';
    files = named.split(delimiter).filter(Boolean);
  } else {
    source = ICD_DIRS.join(', ');
    files = ICD_DIRS.flatMap((dir) => {
      try {
        return readdirSync(dir)
          .filter((name) => name.endsWith('.json'))
          .sort()
          .map((name) => join(dir, name));
      } catch {
        return [];
      }
    });
  }
  const out = await run('vulkaninfo', ['--summary'], env);
  return { source, icds: files.map(readIcd), adapters: out === undefined ? null : parseVulkaninfo(out) };
}
