import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { readElfDynamic } from './elf.js';

type Env = Record<string, string | undefined>;

/** The directories of /etc/ld.so.conf and the files it includes (one level of `include` globs `dir/*.conf`). */
function ldSoConfDirs(conf = '/etc/ld.so.conf', depth = 0): string[] {
  let text: string;
  try {
    text = readFileSync(conf, 'utf8');
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const include = /^include\s+(.+)$/.exec(line);
    if (!include) {
      dirs.push(line);
      continue;
    }
    if (depth > 2) continue;
    const pattern = resolve(dirname(conf), include[1]);
    const star = pattern.lastIndexOf('*');
    const dir = dirname(pattern);
    const files =
      star < 0
        ? [pattern]
        : listDir(dir)
            .filter((name) => name.endsWith(pattern.slice(star + 1)))
            .sort();
    for (const file of files)
      dirs.push(...ldSoConfDirs(isAbsolute(file) ? file : join(dir, file), depth + 1));
  }
  return dirs;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The dynamic loader's trusted directories on 64-bit Linux (Debian multiarch first). */
function systemDirs(): string[] {
  const triplet = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

/** Where the loader looks for the libraries `library` needs, in its order (`$ORIGIN` expanded). */
export function searchPath(library: string, env: Env = process.env): string[] {
  const { runpath, rpath } = readElfDynamic(readFileSync(library));
  const origin = dirname(resolve(library));
  const own = runpath.map((dir) => dir.replace(/\$(ORIGIN\b|\{ORIGIN\})/g, origin));
  const fromEnv = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const rest = [...ldSoConfDirs(), ...systemDirs()];
  return rpath ? [...own, ...fromEnv, ...rest] : [...fromEnv, ...own, ...rest];
}

export interface NeededLibrary {
  name: string;
  /** Where the loader would find it; undefined when it is nowhere on the search path. */
  path: string | undefined;
}

/** The libraries `library` needs (DT_NEEDED) and where each one is, as the dynamic loader would look. */
export function neededLibraries(library: string, env: Env = process.env): NeededLibrary[] {
  const { needed } = readElfDynamic(readFileSync(library));
  const dirs = searchPath(library, env);
  return needed.map((name) => {
    if (name.includes('/')) return { name, path: existsSync(name) ? name : undefined };
    const dir = dirs.find((d) => existsSync(join(d, name)));
    return { name, path: dir ? join(dir, name) : undefined };
  });
}

/** The names of the libraries `library` needs that the loader would not find. */
export function missingLibraries(library: string, env: Env = process.env): string[] {
  return neededLibraries(library, env)
    .filter((lib) => lib.path === undefined)
    .map((lib) => lib.name);
}
