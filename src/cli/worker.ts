import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type ModelFlags, resolveModelSettings } from '../models/settings.js';
import type { ExecutionProvider } from '../vision/execution.js';
import { CLOUDS, instanceFacts } from '../worker/clouds/index.js';
import { PREEMPTED_EXIT_CODE, PreemptionNotice, watchPreemption } from '../worker/preemption.js';
import { instanceInfo, startGpuSampler } from '../worker/telemetry.js';
import { addDecoderOptions, type DecoderFlags, decoderHwaccelFromFlags } from './decoderFlags.js';
import { addFacefusionOptions, type FacefusionFlags, facefusionLocation } from './engineFlags.js';
import {
  addExecutionOptions,
  addFrameLoopOptions,
  type ExecutionFlags,
  executionFromFlags,
  type FrameLoopFlags,
} from './faceFlags.js';
import { createLogger } from './logger.js';
import { addModelOptions } from './models.js';
import { positiveInt, positiveNumber, unreachableLimitOption } from './options.js';

interface WorkerFlags extends ModelFlags, ExecutionFlags, FrameLoopFlags, FacefusionFlags, DecoderFlags {
  server: string;
  token: string;
  pool: 'spot' | 'on-demand';
  workerId?: string;
  workDir: string;
  maxTasks?: number;
  exitWhenIdle?: number;
  unreachableLimit: number;
  cloud: 'auto' | 'none' | (typeof CLOUDS)[number];
  gpus?: string;
}

function gpuList(value: string): string {
  if (!/^\d+(,\d+)*$/.test(value)) throw new InvalidArgumentError('give GPU indices, e.g. 0 or 0,1');
  return value;
}

export function registerWorker(program: Command): void {
  const command = addFacefusionOptions(program.command('worker'), true)
    .description('pull tasks from a coordinator and run them until stopped')
    .requiredOption('--server <url>', 'coordinator URL', process.env.SPOTFUSE_SERVER)
    .requiredOption(
      '--token <token>',
      'worker token (SPOTFUSE_TOKEN: unlike a flag, other local users cannot read it in the process list)',
      process.env.SPOTFUSE_TOKEN,
    )
    .addOption(
      new Option(
        '--pool <pool>',
        'spot or on-demand: the work this worker may claim, and its lifecycle off-cloud',
      )
        .choices(['spot', 'on-demand'])
        .default('spot'),
    )
    .option('--worker-id <id>', 'name of this worker (default: host-pid)')
    .option('--work-dir <dir>', 'scratch space for segments', join(tmpdir(), 'spotfuse-worker'))
    .option('--max-tasks <n>', 'exit after this many tasks', positiveInt)
    .option('--exit-when-idle <seconds>', 'exit after this long without work', positiveNumber)
    .addOption(unreachableLimitOption('or object store out of reach this long before exiting'))
    .option('--gpus <ids>', 'GPUs this worker may use, e.g. 0 or 2,3 (sets CUDA_VISIBLE_DEVICES)', gpuList)
    .addOption(
      new Option(
        '--cloud <name>',
        'metadata service to watch for preemption notices (auto: detect; SPOTFUSE_METADATA_<CLOUD> overrides its address)',
      )
        .choices(['auto', 'none', ...CLOUDS])
        .default(process.env.SPOTFUSE_CLOUD ?? 'auto'),
    );
  addFrameLoopOptions(command);
  addDecoderOptions(addExecutionOptions(addModelOptions(command))).action(async (flags: WorkerFlags) => {
    // Before onnxruntime loads (on the first model): CUDA reads it once, at start-up.
    if (flags.gpus !== undefined) process.env.CUDA_VISIBLE_DEVICES = flags.gpus;
    // Read once into flags: the ffmpeg and FaceFusion processes this worker starts have no use for it.
    delete process.env.SPOTFUSE_TOKEN;
    const execution = executionFromFlags(flags);
    const facefusion = await startFacefusion(flags, execution.provider);
    const decoderHwaccel = await decoderHwaccelFromFlags(flags);
    const logger = createLogger();
    if (facefusion) logger.info({ msg: 'FaceFusion', version: facefusion.version, path: facefusion.path });
    const notice = new PreemptionNotice();
    const log = (msg: string, fields?: Record<string, unknown>) => logger.info({ msg, ...fields });
    const endpoints = {
      aws: process.env.SPOTFUSE_METADATA_AWS,
      gcp: process.env.SPOTFUSE_METADATA_GCP,
      azure: process.env.SPOTFUSE_METADATA_AZURE,
      alibaba: process.env.SPOTFUSE_METADATA_ALIBABA,
    };
    const watch = watchPreemption(notice, { cloud: flags.cloud, endpoints, log });
    // Instance type, zone and lifecycle go with every claim once known (see runWorker's instanceWaitMs).
    const instance = watch.cloud
      .then(async (cloud) => instanceInfo(cloud && (await instanceFacts(cloud, { endpoints })), flags.pool))
      .catch(() => instanceInfo(undefined, flags.pool));
    void instance.then((info) => log('instance', { ...info }));
    const gpu = startGpuSampler();
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
      models: await resolveModelSettings(flags),
      execution,
      framesInFlight: flags.framesInFlight,
      processorThreads: flags.processorThreads,
      decoderHwaccel,
      facefusion,
      maxTasks: flags.maxTasks,
      exitWhenIdleMs: flags.exitWhenIdle === undefined ? undefined : flags.exitWhenIdle * 1000,
      unreachableMs: flags.unreachableLimit,
      instance,
      gpu: gpu.latest,
      log,
    });
    gpu.stop();
    // Acknowledges an Azure preemption event only now that the segment is flushed.
    await watch.stop();
    logger.info({ msg: 'worker stopped', ...summary });
    if (notice.requested) process.exitCode = PREEMPTED_EXIT_CODE;
  });
}

/** The FaceFusion of `--engine facefusion`, checked before the first claim: a wrong one is one line, no task lost. */
async function startFacefusion(flags: WorkerFlags, provider: ExecutionProvider) {
  const location = facefusionLocation(flags, provider);
  if (!location) return undefined;
  const { checkFacefusion } = await import('../worker/engines/facefusion/installation.js');
  return checkFacefusion(location.path, location.python);
}
