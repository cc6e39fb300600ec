import { Command, CommanderError } from 'commander';
import { UserError } from '../core/errors.js';
import { MediaError } from '../media/errors.js';
import { registerClient } from './client/commands.js';
import { registerDoctor } from './doctor.js';
import { facefusionStyle } from './facefusionStyle.js';
import { registerFaces } from './faces.js';
import { registerK8s } from './k8s.js';
import { registerModels } from './models.js';
import { registerRun } from './run.js';
import { registerServer } from './server.js';
import { registerSimulate } from './simulate.js';
import { registerWorker } from './worker.js';

// The SDK warns on every command that its releases from 2027 will need Node 22; the lock file pins ones
// that run on Node 20, so the warning is noise on stderr where users expect one-line errors.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command('spotfuse')
  .description('FaceFusion-style video processing on spot GPUs: chunked, checkpointed, resumable')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`spotfuse: ${text.replace(/^error: /, '')}`) });
registerRun(program);
registerWorker(program);
registerServer(program);
registerClient(program);
registerModels(program);
registerFaces(program);
registerSimulate(program);
registerK8s(program);
registerDoctor(program);

const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
/** The commands that take a FaceFusion headless-run command's options (see facefusionStyle.ts). */
const FACEFUSION_STYLE = ['run', 'submit'];
try {
  const [name, ...args] = process.argv.slice(2);
  const command = program.commands.find((c) => c.name() === name);
  const quiet = args.includes('-q') || args.includes('--quiet');
  const argv =
    command && FACEFUSION_STYLE.includes(name)
      ? [
          name,
          ...facefusionStyle(command, args, (line) => quiet || process.stderr.write(`spotfuse: ${line}\n`)),
        ]
      : process.argv.slice(2);
  await program.parseAsync(argv, { from: 'user' });
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    const known = error instanceof UserError || error instanceof MediaError;
    const message = (error as Error).message ?? String(error);
    process.stderr.write(
      `spotfuse: error: ${message}${known || verbose ? '' : ' (--verbose shows details)'}\n`,
    );
    if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
  }
}
