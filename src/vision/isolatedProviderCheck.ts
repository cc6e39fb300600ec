import { fork } from 'node:child_process';
import type { ExecutionProvider } from './execution.js';
import type { ProviderStatus } from './providerCheck.js';

/** What a check's process printed that is kept, from its end: enough for the last lines of a crash. */
const KEPT_OUTPUT_CHARS = 4000;

export interface IsolatedCheckOptions {
  /** The module the process runs (default: providerCheckChild.js beside this one). */
  child?: URL;
  /** How long the check may take before its process is killed (default 120 s: a GPU's first session compiles). */
  timeoutMs?: number;
}

/**
 * `checkProvider` in a process of its own. A provider's native code writes to the process's stderr
 * directly (Dawn's "Warning: vkCreateInstance: Found no drivers!" where WebGPU has no Vulkan driver) and
 * may abort or crash it (a CUDA library built for another driver): here that output is the check's, not
 * the report's, and a crash or a hang is a failed check with the last line the process printed. Never throws.
 */
export function checkProviderIsolated(
  provider: ExecutionProvider,
  options: IsolatedCheckOptions = {},
): Promise<ProviderStatus> {
  const failed = (detail: string): ProviderStatus => ({ provider, available: false, detail, missing: [] });
  return new Promise((resolve) => {
    let output = '';
    let status: ProviderStatus | undefined;
    const child = fork(options.child ?? new URL('./providerCheckChild.js', import.meta.url), [provider], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-KEPT_OUTPUT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const timeoutMs = options.timeoutMs ?? 120_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (message) => {
      status = message as ProviderStatus;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve(failed(`the check could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (status) return resolve(status);
      if (timedOut) return resolve(failed(`the check gave no answer within ${timeoutMs / 1000} s`));
      const last = output.trim().split('\n').at(-1)?.trim();
      resolve(failed(`the check ended its process (${signal ?? `exit ${code}`})${last ? `: ${last}` : ''}`));
    });
  });
}
