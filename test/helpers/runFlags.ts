import { Command } from 'commander';
import { executionFromFlags, faceOptionsFromFlags } from '../../src/cli/faceFlags.js';
import { facefusionStyle } from '../../src/cli/facefusionStyle.js';
import { encoderFromFlags, type JobFlags } from '../../src/cli/jobFlags.js';
import { registerRun } from '../../src/cli/run.js';
import type { EncoderOptions } from '../../src/core/types.js';
import type { ExecutionOptions } from '../../src/vision/execution.js';
import type { FaceOptions } from '../../src/vision/faceOptions.js';

/** What `spotfuse run ARGS` would run with, parsed as the CLI parses it, without running anything. */
export interface ParsedRun {
  flags: JobFlags & Record<string, unknown>;
  face: FaceOptions;
  execution: ExecutionOptions;
  encoder: EncoderOptions;
  /** The lines the CLI would print before running (ignored FaceFusion options). */
  said: string[];
}

export function parseRun(args: string[]): ParsedRun {
  const program = new Command('spotfuse').exitOverride().configureOutput({ writeErr: () => {} });
  registerRun(program);
  const run = program.commands[0];
  run.exitOverride().configureOutput({ writeErr: () => {} });
  let flags: (JobFlags & Record<string, unknown>) | undefined;
  run.action((parsed) => {
    flags = parsed;
  });
  const said: string[] = [];
  program.parse(['run', ...facefusionStyle(run, args, (line) => said.push(line))], { from: 'user' });
  if (!flags) throw new Error('run did not parse');
  return {
    flags,
    face: faceOptionsFromFlags(flags),
    execution: executionFromFlags(flags as never),
    encoder: encoderFromFlags(flags),
    said,
  };
}
