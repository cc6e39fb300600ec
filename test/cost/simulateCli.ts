import { Command } from 'commander';
import { vi } from 'vitest';
import { registerSimulate } from '../../src/cli/simulate.js';

/**
 * Runs `spotfuse simulate ARGS` in this process and returns what it printed; a refused command gives its
 * error and exit code. Restore the stdout spy with `vi.restoreAllMocks()` after each test.
 */
export async function simulateCli(...args: string[]): Promise<{ out: string; err: string; code?: number }> {
  let out = '';
  let err = '';
  const program = new Command('spotfuse')
    .exitOverride()
    .configureOutput({ writeErr: (s) => (err += s), writeOut: (s) => (out += s) });
  registerSimulate(program);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['simulate', ...args], { from: 'user' });
    return { out, err };
  } catch (error) {
    return {
      out,
      err: err || (error as Error).message,
      code: (error as { exitCode?: number }).exitCode ?? 1,
    };
  }
}
