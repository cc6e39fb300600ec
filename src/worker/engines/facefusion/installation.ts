import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../../../core/errors.js';

/** A FaceFusion this worker can drive: where it is, the Python that runs it, and its version. */
export interface FacefusionInstallation {
  path: string;
  python: string;
  version: string;
}

/** The versions whose command line, trim ranges and output spotfuse has been checked against. */
const SUPPORTED = /^3\.8\.\d+$/;
const SUPPORTED_TEXT = 'FaceFusion 3.8 (tested with 3.8.1)';
const VERSION_TIMEOUT_MS = 120_000;

function lastLine(text: string): string | undefined {
  return text
    .split(/[\r\n]+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .at(-1);
}

/**
 * Checks the FaceFusion at `path` (a checkout with facefusion.py) with `python`: it must start and tell a
 * supported version (`facefusion.py --version`). Anything else is a UserError of one line.
 */
export async function checkFacefusion(path: string, python: string): Promise<FacefusionInstallation> {
  const dir = resolve(path);
  if (!existsSync(join(dir, 'facefusion.py')))
    throw new UserError(`no FaceFusion at ${dir}: it has no facefusion.py (--facefusion-path)`);
  const output = await new Promise<string>((done, fail) => {
    execFile(
      python,
      ['facefusion.py', '--version'],
      { cwd: dir, timeout: VERSION_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return done(stdout);
        if ((error as NodeJS.ErrnoException).code === 'ENOENT')
          return fail(new UserError(`no Python at ${python} (--facefusion-python)`));
        const why = lastLine(stderr) ?? lastLine(stdout) ?? error.message;
        fail(new UserError(`cannot run FaceFusion at ${dir} with ${python}: ${why}`));
      },
    );
  });
  const version = /FaceFusion (\d+\.\d+\.\d+)/.exec(output)?.[1];
  if (!version)
    throw new UserError(`${dir} did not tell a FaceFusion version: ${lastLine(output) ?? 'no output'}`);
  if (!SUPPORTED.test(version))
    throw new UserError(`FaceFusion ${version} at ${dir} is not supported: spotfuse runs ${SUPPORTED_TEXT}`);
  return { path: dir, python, version };
}
