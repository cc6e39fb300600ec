import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether a process with this pid runs (one owned by another user counts as running). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the marker names a process that no longer runs (it crashed while holding it). */
async function isStale(marker: string): Promise<boolean> {
  const pid = Number(await readFile(marker, 'utf8').catch(() => ''));
  // An empty marker is one being written right now, not a stale one.
  return Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid);
}

/**
 * Runs `work` while holding `<path>.busy`, so the local workers that all reach for the same model
 * on first use download it once instead of writing into the same partial file together.
 */
export async function withExclusive<T>(path: string, work: () => Promise<T>): Promise<T> {
  const marker = `${path}.busy`;
  for (;;) {
    try {
      await writeFile(marker, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (await isStale(marker)) await rm(marker, { force: true });
      else await sleep(100);
    }
  }
  try {
    return await work();
  } finally {
    await rm(marker, { force: true });
  }
}
