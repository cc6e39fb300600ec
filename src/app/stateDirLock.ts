import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../core/errors.js';

/** Locks held by this process, kept reachable so that a collected handle never drops one. */
const held = new Set<Database.Database>();

/**
 * One embedded coordinator per state directory: a second `spotfuse run` on the same directory would
 * treat the first one's leases as abandoned.
 *
 * The lock is an exclusive SQLite lock (an fcntl lock) on `lock.db`, held while the process lives: the
 * kernel drops it the moment its holder dies, so a run killed with `kill -9` frees the directory at once,
 * even while it lingers as an unreaped zombie, and a reused pid or two runs starting together cannot
 * fool it. `lock.pid` only names the holder in the error message.
 */
export class StateDirLock {
  private constructor(private db: Database.Database | undefined) {}

  static acquire(stateDir: string): StateDirLock {
    const db = new Database(join(stateDir, 'lock.db'), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // The first write takes the exclusive lock; in this locking mode it is kept until the handle closes.
      db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held (pid INTEGER); COMMIT');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      const holder = readHolder(stateDir);
      throw new UserError(
        `another spotfuse run${holder ? ` (pid ${holder})` : ''} is using the state directory ${stateDir}`,
      );
    }
    held.add(db);
    writeFileSync(join(stateDir, 'lock.pid'), String(process.pid), { mode: 0o600 });
    return new StateDirLock(db);
  }

  release(): void {
    if (!this.db) return;
    held.delete(this.db);
    this.db.close();
    this.db = undefined;
  }
}

function readHolder(stateDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(stateDir, 'lock.pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
