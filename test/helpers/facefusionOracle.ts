import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above with a package.json (this file also runs compiled, from dist/). */
function findRepo(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const REPO = findRepo();

/** The unmodified FaceFusion 3.8.1 beside the repository (see its README), or wherever SPOTFUSE_FACEFUSION_ORACLE points. */
export const ORACLE = resolve(
  REPO,
  process.env.SPOTFUSE_FACEFUSION_ORACLE ?? join('..', 'shared', 'facefusion-oracle'),
);
const PYTHON = '/usr/bin/python3';
const PYTHON_MODULES = ['numpy', 'cv2', 'scipy', 'psutil', 'tqdm', 'onnx'];

function findUnavailable(): string | undefined {
  if (!existsSync(join(ORACLE, 'setup.sh'))) return `no FaceFusion oracle at ${ORACLE}`;
  if (!existsSync(PYTHON)) return `no ${PYTHON}`;
  try {
    execFileSync(PYTHON, ['-c', `import ${PYTHON_MODULES.join(', ')}`], { stdio: 'ignore' });
  } catch {
    return 'Debian packages missing: apt-get install python3-numpy python3-opencv python3-scipy python3-psutil python3-tqdm python3-onnx';
  }
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'curl missing (FaceFusion pre-checks with it)';
  }
  return undefined;
}

let unavailable: string | undefined | null = null;

/** Why the oracle cannot run on this machine, or undefined when it can. Tests skip with this reason printed. */
export function oracleUnavailable(): string | undefined {
  if (unavailable === null) {
    unavailable = findUnavailable();
    if (unavailable) console.warn(`FaceFusion oracle tests skipped: ${unavailable}`);
  }
  return unavailable;
}

export interface Oracle {
  /** The wrapper script: `ff headless-run -s … -t … -o …` (any FaceFusion command). */
  ff: string;
  /** FaceFusion's source tree (cwd for its harness scripts). */
  facefusionDir: string;
  /** Environment to run harness scripts with /usr/bin/python3 (the onnxruntime stand-in on PYTHONPATH). */
  env: NodeJS.ProcessEnv;
  python: string;
}

/** A private, runnable FaceFusion in `dest` whose models are `modelsDir/*.onnx` (named as FaceFusion names them). */
export function setUpOracle(dest: string, modelsDir: string): Oracle {
  const lib = join(
    REPO,
    'node_modules',
    'onnxruntime-node',
    'bin',
    'napi-v6',
    'linux',
    'x64',
    'libonnxruntime.so.1',
  );
  const ff = execFileSync(join(ORACLE, 'setup.sh'), [dest, modelsDir, lib], { encoding: 'utf8' }).trim();
  return {
    ff,
    facefusionDir: join(dest, 'facefusion'),
    env: { ...process.env, PYTHONPATH: join(ORACLE, 'shim'), ONNXRUNTIME_LIBRARY: lib },
    python: PYTHON,
  };
}
