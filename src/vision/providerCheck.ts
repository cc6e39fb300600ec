import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionProvider } from './execution.js';
import { bindingDir, GPU_INSTALL_HINT, PROVIDER_CHAINS, PROVIDER_LIBRARIES } from './providers.js';
import { missingLibraries } from './sharedLibraries.js';
import { TINY_DIMS, TINY_INPUT, TINY_OUTPUT, tinyExample, tinyModel } from './tinyModel.js';

export interface ProviderStatus {
  provider: ExecutionProvider;
  /** True only when a session on the provider has run and returned the right numbers. */
  available: boolean;
  /** Why not, on one line; for an available provider, what ran. */
  detail: string;
  /** Libraries the provider's own libraries need that the loader would not find. */
  missing: string[];
}

type Env = Record<string, string | undefined>;

/** The provider's libraries beside the binding and what they need that is not there (needs read from ELF). */
export function providerFiles(
  provider: ExecutionProvider,
  dir = bindingDir(),
  env: Env = process.env,
): { absent: string[]; missing: string[] } {
  const files = PROVIDER_LIBRARIES[provider];
  const absent = files.filter((file) => !existsSync(join(dir, file)));
  const missing = new Set<string>();
  for (const file of files) {
    if (absent.includes(file)) continue;
    try {
      for (const name of missingLibraries(join(dir, file), env)) {
        // Sibling provider libraries are found through the binding, whatever the search path says.
        if (!files.includes(name)) missing.add(name);
      }
    } catch {}
  }
  return { absent, missing: [...missing] };
}

/** The first line of onnxruntime's message, without its source-file prefix. */
function firstLine(error: unknown): string {
  const text = ((error as Error)?.message ?? String(error)).split('\n')[0];
  // A failed ORT_ENFORCE reads "<file>:<line> <function> <condition> was false. <message>": keep the message.
  const enforced = / was false\. (.+)$/.exec(text);
  return (enforced ? enforced[1] : text.replace(/^\/onnxruntime_src\/\S+ /, '')).trim();
}

/** What to tell a user whose provider failed to start, given what the check found. */
function failure(provider: ExecutionProvider, missing: string[], reason: string): string {
  if (missing.length > 0) {
    return `its libraries need ${missing.join(', ')}, which the loader cannot find (install them or add their folder to LD_LIBRARY_PATH)`;
  }
  if (provider === 'webgpu') {
    return `${reason} (WebGPU runs over Vulkan: it needs a Vulkan driver — NVIDIA's, or Mesa ≥ 25 lavapipe — and VK_ICD_FILENAMES pointing at its ICD file where it is not installed)`;
  }
  return reason;
}

/**
 * Whether `provider` really works here: its libraries are installed, everything they link is found, and a
 * tiny in-memory model runs on it with the right result. Never throws.
 */
export async function checkProvider(
  provider: ExecutionProvider,
  dir = bindingDir(),
  env: Env = process.env,
): Promise<ProviderStatus> {
  const { absent, missing } = providerFiles(provider, dir, env);
  if (absent.length > 0) {
    const detail = `this onnxruntime-node install has no ${provider} provider (${absent.join(', ')} absent); ${GPU_INSTALL_HINT}`;
    return { provider, available: false, detail, missing };
  }
  const ort = await import('onnxruntime-node');
  const { input, expected } = tinyExample();
  try {
    const session = await ort.InferenceSession.create(tinyModel(), {
      executionProviders: [...PROVIDER_CHAINS[provider]],
      logSeverityLevel: 3,
    });
    try {
      const out = await session.run({ [TINY_INPUT]: new ort.Tensor('float32', input, TINY_DIMS) });
      const got = out[TINY_OUTPUT].data as Float32Array;
      const worst = Math.max(...expected.map((value, i) => Math.abs(value - got[i])));
      if (!(worst <= 1e-5)) {
        return {
          provider,
          available: false,
          detail: `a test model ran with wrong results (off by ${worst})`,
          missing,
        };
      }
    } finally {
      await session.release();
    }
  } catch (error) {
    return { provider, available: false, detail: failure(provider, missing, firstLine(error)), missing };
  }
  return { provider, available: true, detail: 'a test model ran on it', missing };
}

const checked = new Map<ExecutionProvider, Promise<ProviderStatus>>();

/** `checkProvider` once per process and provider (the default binding and environment). */
export function providerStatus(provider: ExecutionProvider): Promise<ProviderStatus> {
  let status = checked.get(provider);
  if (!status) {
    status = checkProvider(provider);
    checked.set(provider, status);
  }
  return status;
}
