import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { LocalWorkers } from '../../src/app/localWorkers.js';
import {
  addExecutionOptions,
  type ExecutionFlags,
  executionArgs,
  executionFromFlags,
} from '../../src/cli/faceFlags.js';
import { sessionOptions } from '../../src/vision/onnx.js';
import { useTempDir } from '../helpers/tempDir.js';

/** A stand-in worker: writes its arguments to its log, then runs until its parent's channel closes. */
const FAKE_WORKER = `
console.log(JSON.stringify(process.argv.slice(2)));
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
`;

async function argsInLog(path: string): Promise<string[]> {
  for (;;) {
    const text = (() => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return '';
      }
    })();
    if (text.includes('\n')) return JSON.parse(text.split('\n')[0]);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a worker process started with these arguments passes to onnxruntime, through the CLI's own flags. */
function providersOf(args: string[]) {
  const command = addExecutionOptions(
    new Command().exitOverride().allowUnknownOption().allowExcessArguments(),
  );
  command.parse(args, { from: 'user' });
  return sessionOptions(executionFromFlags(command.opts<ExecutionFlags>())).executionProviders ?? [];
}

describe('local workers over several GPUs', () => {
  const dir = useTempDir();

  it('starts each worker with its own device id, and a replacement with the id of the worker it replaces', async () => {
    const script = join(dir(), 'worker.cjs');
    writeFileSync(script, FAKE_WORKER);
    const gpus = [0, 1];
    const logDir = join(dir(), 'logs');
    const exits: string[] = [];
    const base = executionArgs({ provider: 'cuda', threads: 0 });
    const pool = new LocalWorkers({
      count: 3,
      command: [process.execPath, script, ...base],
      argsFor: (slot) => ['--execution-device-ids', String(gpus[slot % gpus.length])],
      logDir,
      onUnexpectedExit: (id) => exits.push(id),
    });
    pool.start();
    try {
      const ids = [1, 2, 3].map((n) => `local-${process.pid}-${n}`);
      const started = await Promise.all(ids.map((id) => argsInLog(join(logDir, `${id}.log`))));
      const devices = started.map((args) => providersOf(args)[0]);
      expect(devices).toEqual([
        { name: 'cuda', deviceId: 0 },
        { name: 'cuda', deviceId: 1 },
        { name: 'cuda', deviceId: 0 },
      ]);

      // The worker on GPU 1 dies; its replacement runs on GPU 1.
      process.kill(pool.pids()[1], 'SIGKILL');
      while (exits.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(exits).toEqual([ids[1]]);
      const replacement = pool.spawnOne(exits[0]);
      const args = await argsInLog(join(logDir, `${replacement}.log`));
      expect(providersOf(args)[0]).toEqual({ name: 'cuda', deviceId: 1 });
    } finally {
      await pool.stop(5000);
    }
  });

  it("takes FaceFusion's space-separated ids and comma-separated ones; a worker uses the first", () => {
    const parse = (args: string[]) => {
      const command = addExecutionOptions(new Command().exitOverride());
      command.parse(args, { from: 'user' });
      return command.opts<ExecutionFlags>().executionDeviceIds;
    };
    expect(parse(['--execution-device-ids', '2', '3'])).toEqual([2, 3]);
    expect(parse(['--execution-device-ids', '2,3'])).toEqual([2, 3]);
    expect(parse([])).toBeUndefined();
    expect(providersOf(['--execution-provider', 'tensorrt', '--execution-device-ids', '2', '3'])[0]).toEqual({
      name: 'tensorrt',
      deviceId: 2,
    });
    expect(() => parse(['--execution-device-ids', 'x'])).toThrow(/whole number/);
  });
});
