import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { distPath } from '../helpers/dist.js';

// A child that records checkpoints as fast as it can and prints each one once its transaction committed.
const writer = (storeModule: string, db: string) => `
  const { SqliteStore } = await import(${JSON.stringify(pathToFileURL(storeModule).href)});
  const store = new SqliteStore(${JSON.stringify(db)});
  const frames = 1_000_000;
  const job = await store.createJob({ key: 'k', spec: {}, probe: {}, framePts: [0], chunks: [{ start: 0, end: frames }] }, 0);
  const { task } = await store.claim({ workerId: 'w', pool: 'spot', now: 0, leaseTtlMs: 1e9 });
  console.log('job ' + job.id);
  for (let start = 0; start < frames; start += 1) {
    await store.checkpoint(task.id, task.epoch, { range: { start, end: start + 1 }, key: 'k' + start }, 1);
    await store.heartbeat(task.id, task.epoch, { framesDone: start + 1 }, 1, 1e9);
    console.log('committed ' + start);
  }
`;

describe('SqliteStore durability', () => {
  it('loses no committed row when the process is killed with SIGKILL mid-write', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'spotfuse-crash-')), 'state.db');
    const child = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      writer(distPath('src/store/sqliteStore.js'), db),
    ]);
    let output = '';
    let jobId = '';
    let lastCommitted = -1;
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stderr.on('data', (d) => reject(new Error(String(d))));
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const lines = output.split('\n');
        output = lines.pop() ?? '';
        for (const line of lines) {
          if (line.startsWith('job ')) jobId = line.slice(4);
          if (line.startsWith('committed ')) lastCommitted = Number(line.slice(10));
        }
        if (lastCommitted >= 2000) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));

    const store = new SqliteStore(db);
    const segments = await store.listSegments(jobId);
    const [task] = await store.listTasks(jobId);
    await store.close();
    // Everything the child saw committed is there, and the chain has no hole.
    expect(segments.length).toBeGreaterThanOrEqual(lastCommitted + 1);
    expect(segments.every((s, i) => s.range.start === i)).toBe(true);
    expect(task.nextFrame).toBe(segments.length);
  });
});
