import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { UserError } from '../core/errors.js';
import { facefusionArgsProblem, splitArguments } from '../core/facefusion.js';
import type { EngineSpec } from '../core/types.js';
import type { ExecutionProvider } from '../vision/execution.js';

/** Which engine runs a job, as `run` and `submit` take it, with FaceFusion's own options. */
export interface EngineFlags {
  engine: 'native' | 'facefusion';
  facefusionArgs?: string;
  facefusionConfig?: string;
}

/** Where a machine's FaceFusion is, as `run` and `worker` take it. */
export interface FacefusionFlags {
  engine: 'native' | 'facefusion';
  facefusionPath?: string;
  facefusionPython: string;
}

const engineOption = () =>
  new Option(
    '--engine <name>',
    "native (spotfuse's processors) or facefusion (your own FaceFusion per chunk)",
  )
    .choices(['native', 'facefusion'])
    .default('native');

export function addEngineOptions(command: Command): Command {
  return command
    .addOption(engineOption())
    .option(
      '--facefusion-args <args>',
      'FaceFusion\'s own options for every chunk, as one string (e.g. "--face-swapper-model inswapper_128")',
    )
    .option('--facefusion-config <file.ini>', "FaceFusion's options as its .ini file");
}

/** The `--facefusion-path` and `--facefusion-python` of a command that runs FaceFusion (`--engine` comes with the job's options). */
export function addFacefusionOptions(command: Command, withEngine: boolean): Command {
  if (withEngine) command.addOption(engineOption());
  return command
    .option(
      '--facefusion-path <dir>',
      'the FaceFusion 3.8 checkout to run (the folder with facefusion.py; SPOTFUSE_FACEFUSION_PATH)',
      process.env.SPOTFUSE_FACEFUSION_PATH,
    )
    .option(
      '--facefusion-python <python>',
      'the Python that runs FaceFusion (SPOTFUSE_FACEFUSION_PYTHON)',
      process.env.SPOTFUSE_FACEFUSION_PYTHON ?? 'python3',
    );
}

/** The job's engine from the flags: undefined for the native engine. Bad flags are a UserError. */
export function engineFromFlags(flags: EngineFlags): EngineSpec | undefined {
  if (flags.engine !== 'facefusion') {
    if (flags.facefusionArgs !== undefined || flags.facefusionConfig !== undefined)
      throw new UserError('--facefusion-args and --facefusion-config need --engine facefusion');
    return undefined;
  }
  const args = splitArguments(flags.facefusionArgs ?? '');
  if (typeof args === 'string') throw new UserError(args);
  const problem = facefusionArgsProblem(args);
  if (problem) throw new UserError(problem);
  let config: string | undefined;
  if (flags.facefusionConfig !== undefined) {
    try {
      config = readFileSync(flags.facefusionConfig, 'utf8');
    } catch {
      throw new UserError(`cannot read --facefusion-config ${flags.facefusionConfig}`);
    }
  }
  return { name: 'facefusion', args, ...(config === undefined ? {} : { config }) };
}

/** The FaceFusion to run, when `--engine facefusion` asks for one: `--facefusion-path` is then required. */
export function facefusionLocation(
  flags: FacefusionFlags,
  provider: ExecutionProvider,
): { path: string; python: string } | undefined {
  if (flags.engine !== 'facefusion') return undefined;
  if (provider === 'webgpu')
    throw new UserError('FaceFusion has no webgpu execution provider: use cpu, cuda or tensorrt');
  if (!flags.facefusionPath)
    throw new UserError('--engine facefusion needs --facefusion-path DIR (the folder with facefusion.py)');
  return { path: flags.facefusionPath, python: flags.facefusionPython };
}

/** The same FaceFusion, as arguments for a worker process this command starts. */
export function facefusionWorkerArgs(location: { path: string; python: string } | undefined): string[] {
  if (!location) return [];
  return [
    '--engine',
    'facefusion',
    '--facefusion-path',
    location.path,
    '--facefusion-python',
    location.python,
  ];
}
