import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PreemptionNotice, watchSignals } from '../worker/preemption.js';
import { createLogger } from './logger.js';
import { positiveInt, positiveNumber } from './options.js';

interface WorkerFlags {
  server: string;
  token: string;
  pool: 'spot' | 'on-demand';
  workerId?: string;
  workDir: string;
  maxTasks?: number;
  exitWhenIdle?: number;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('pull tasks from a coordinator and run them until stopped')
    .requiredOption('--server <url>', 'coordinator URL', process.env.SPOTFUSE_SERVER)
    .requiredOption('--token <token>', 'worker token', process.env.SPOTFUSE_TOKEN)
    .option('--pool <pool>', 'spot or on-demand', 'spot')
    .option('--worker-id <id>', 'name of this worker (default: host-pid)')
    .option('--work-dir <dir>', 'scratch space for segments', join(tmpdir(), 'spotfuse-worker'))
    .option('--max-tasks <n>', 'exit after this many tasks', positiveInt)
    .option('--exit-when-idle <seconds>', 'exit after this long without work', positiveNumber)
    .action(async (flags: WorkerFlags) => {
      const logger = createLogger();
      const notice = new PreemptionNotice();
      watchSignals(notice);
      notice.onNotice((source) => logger.info({ msg: 'preemption notice', source }));
      // Started by `spotfuse run`: if that process dies, there is nobody left to report to.
      // The channel itself must not keep the process alive once the worker is done.
      if (process.send) {
        process.once('disconnect', () => process.exit(1));
        process.channel?.unref();
      }
      const [{ LeaseClient }, { runWorker }] = await Promise.all([
        import('../worker/leaseClient.js'),
        import('../worker/workerLoop.js'),
      ]);
      const summary = await runWorker({
        client: new LeaseClient(flags.server, flags.token),
        workerId: flags.workerId,
        pool: flags.pool,
        workDir: join(flags.workDir, flags.workerId ?? String(process.pid)),
        notice,
        maxTasks: flags.maxTasks,
        exitWhenIdleMs: flags.exitWhenIdle === undefined ? undefined : flags.exitWhenIdle * 1000,
        log: (msg, fields) => logger.info({ msg, ...fields }),
      });
      logger.info({ msg: 'worker stopped', ...summary });
    });
}
