import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { isProcessAlive } from '../models/exclusive.js';

/**
 * One embedded coordinator per state directory: a second `spotfuse run` on the same directory would
 * treat the first one's leases as abandoned. A lock left by a killed process is taken over.
 */
export class StateDirLock {
  private constructor(private readonly path: string) {}

  static acquire(stateDir: string): StateDirLock {
    const path = join(stateDir, 'run.lock');
    for (;;) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx' });
        return new StateDirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = Number(readFileSync(path, 'utf8'));
      if (holder && holder !== process.pid && isProcessAlive(holder)) {
        throw new UserError(`another spotfuse run (pid ${holder}) is using the state directory ${stateDir}`);
      }
      rmSync(path, { force: true });
    }
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
