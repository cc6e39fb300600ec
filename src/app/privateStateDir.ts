import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';

/** Owner only: the state directory holds the webhook secret, the job's segments and its output path. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export interface PrivateLayout {
  /** Folders under the state directory (segments, logs, scratch). */
  dirs: readonly string[];
  /** The SQLite database: created empty with the owner-only mode when missing, so that SQLite's
   * `-wal` and `-shm` files, which take the database's mode, are owner-only too. */
  database: string;
}

function tighten(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new UserError(`cannot make ${path} private (chmod ${mode.toString(8)}): ${code}`);
  }
}

/**
 * Creates the state directory readable by its owner only (0700, its folders too, the database 0600) and
 * tightens one an earlier version left world-readable. Returns the database's path.
 */
export function openPrivateStateDir(stateDir: string, layout: PrivateLayout): string {
  mkdirSync(stateDir, { recursive: true, mode: DIR_MODE });
  // Windows has no such modes (chmod only toggles read-only): its folders inherit the owner's ACLs.
  if (process.platform === 'win32') return join(stateDir, layout.database);
  tighten(stateDir, DIR_MODE);
  for (const dir of layout.dirs) {
    const path = join(stateDir, dir);
    mkdirSync(path, { recursive: true, mode: DIR_MODE });
    tighten(path, DIR_MODE);
  }
  const database = join(stateDir, layout.database);
  if (!existsSync(database)) closeSync(openSync(database, 'a', FILE_MODE));
  for (const suffix of ['', '-wal', '-shm', '-journal']) tighten(`${database}${suffix}`, FILE_MODE);
  return database;
}
