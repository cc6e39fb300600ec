import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, symlinkSync } from 'node:fs';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { distPath } from '../helpers/dist.js';
import { useTempDir } from '../helpers/tempDir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The installed packages `spotfuse` needs at run time (no devDependencies), as folders under node_modules. */
function runtimePackages(): string[] {
  // --parseable lists every package of the production tree; exit status aside (a checkout may hold extras).
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const top = join(ROOT, 'node_modules');
  return listed.stdout
    .split('\n')
    .map((path) => relative(top, path.trim()))
    .filter((name) => name !== '' && !name.startsWith('..') && !name.split(sep).includes('node_modules'));
}

/**
 * `npm install -g --prefix PREFIX spotfuse-X.tgz` without a registry: the packed tarball unpacked where npm
 * puts global packages, its bin linked into PREFIX/bin, and its dependencies linked from this checkout,
 * only the runtime ones (the tarball must not need TypeScript or any devDependency).
 */
function installGlobally(tarball: string, prefix: string): void {
  const lib = join(prefix, 'lib', 'node_modules');
  mkdirSync(lib, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', lib]);
  const installed = join(lib, 'spotfuse');
  renameSync(join(lib, 'package'), installed);
  for (const name of runtimePackages()) {
    const link = join(installed, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), link, 'dir');
  }
  mkdirSync(join(prefix, 'bin'));
  for (const [command, file] of Object.entries(pkg.bin)) {
    chmodSync(join(installed, file), 0o755);
    symlinkSync(join('..', 'lib', 'node_modules', 'spotfuse', file), join(prefix, 'bin', command));
  }
}

describe('a global install from `npm pack`', () => {
  const dir = useTempDir();
  let files: string[] = [];
  let prefix = '';
  let elsewhere = '';

  beforeAll(() => {
    distPath('src/cli/main.js'); // packs the build that `npm test` has just made
    const packDir = join(dir(), 'pack');
    mkdirSync(packDir);
    // --ignore-scripts: no `prepare` (the build is there already); packing reads only this folder.
    const [packed] = JSON.parse(
      npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT),
    ) as { filename: string; files: { path: string }[] }[];
    files = packed.files.map((f) => f.path);
    prefix = join(dir(), 'prefix');
    installGlobally(join(packDir, packed.filename), prefix);
    elsewhere = join(dir(), 'somewhere-else');
    mkdirSync(elsewhere);
  });

  const spotfuse = (args: string[]) =>
    spawnSync('spotfuse', args, {
      cwd: elsewhere,
      encoding: 'utf8',
      env: { ...process.env, PATH: [join(prefix, 'bin'), dirname(process.execPath)].join(delimiter) },
    });

  it('holds the bin, the build and the files read at run time, not the sources or tests', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'bin/spotfuse.js',
        'dist/src/cli/main.js',
        'src/cost/gpu-prices.yaml',
        // The built dashboard that `spotfuse server` serves at `/`, without its sources.
        'dist/web/index.html',
      ]),
    );
    expect(files.some((f) => /^dist\/web\/assets\/index-[\w-]+\.js$/.test(f))).toBe(true);
    expect(files.filter((f) => f.startsWith('test/') || /^src\/.*\.tsx?$/.test(f))).toEqual([]);
  });

  it('runs `spotfuse --version` and `spotfuse run --help` from outside the repository', () => {
    const version = spotfuse(['--version']);
    expect(version.stderr).toBe('');
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);

    const help = spotfuse(['run', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--target');
  });

  it('finds the shipped price table from the installed location', () => {
    const result = spotfuse([
      'simulate',
      '--work-gpu-minutes',
      '1',
      '--instance-type',
      'g4dn.xlarge',
      '--cloud',
      'aws',
      '--workers',
      '1',
      '--seed',
      '1',
      '--json',
    ]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ spotCost: expect.any(Number) });
  });
});
