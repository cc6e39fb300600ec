import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../core/errors.js';
import {
  FACEFUSION_HOUSEKEEPING,
  iniArguments,
  parseIni,
  translateCommandLine,
} from '../core/facefusionCommandLine.js';

/**
 * A FaceFusion `headless-run` command line, as `run` and `submit` take it: FaceFusion's spellings, its
 * `--config-path facefusion.ini`, its housekeeping options (ignored, said in one line) and, for options
 * spotfuse does not have yet, one error line naming them. Returns the arguments for commander.
 */
export function facefusionStyle(
  command: Command,
  args: readonly string[],
  say: (line: string) => void,
): string[] {
  const { rest, configPath } = takeConfigPath(args);
  const config = configPath === undefined ? [] : configArguments(configPath);
  const known = new Set(command.options.flatMap((o) => (o.long ? [o.long] : [])));
  const translated = translateCommandLine(rest, known, config);
  if (translated.unsupported.length > 0)
    throw new UserError(
      `spotfuse does not support FaceFusion's ${translated.unsupported.join(', ')} yet` +
        (configPath === undefined ? '' : ` (command line or ${configPath})`),
    );
  if (translated.ignored.length > 0)
    say(
      `ignoring FaceFusion's ${translated.ignored
        .map((name) => `${name} (${FACEFUSION_HOUSEKEEPING[name]})`)
        .join(', ')}`,
    );
  return translated.args;
}

/** The arguments less `--config-path FILE` (or `--config-path=FILE`), and FILE. */
function takeConfigPath(args: readonly string[]): { rest: string[]; configPath?: string } {
  const rest: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--config-path') {
      configPath = args[++i];
      if (configPath === undefined) throw new UserError('--config-path needs a file (facefusion.ini)');
    } else if (arg.startsWith('--config-path=')) configPath = arg.slice('--config-path='.length);
    else rest.push(arg);
  }
  return { rest, configPath };
}

function configArguments(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`cannot read --config-path ${path}`);
  }
  const sections = parseIni(text);
  if (typeof sections === 'string') throw new UserError(`--config-path ${path}: ${sections}`);
  return iniArguments(sections);
}
