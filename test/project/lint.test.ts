import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../helpers/tempDir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');

/** `npm run lint` as package.json has it, with `biome` resolved to the installed binary. */
function lintCommand(): string[] {
  const script = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { lint: string } }
  ).scripts.lint;
  const [tool, ...args] = script.split(/\s+/);
  expect(tool).toBe('biome');
  return args;
}

/** A git folder with the project's biome.json and one clean source file, as a fresh checkout has them. */
function project(dir: string): string {
  const root = join(dir, `project-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(root, 'src'), { recursive: true });
  copyFileSync(join(ROOT, 'biome.json'), join(root, 'biome.json'));
  writeFileSync(join(root, '.gitignore'), 'node_modules/\n');
  writeFileSync(join(root, 'src', 'ok.ts'), "export const ok = 'ok';\n");
  execFileSync('git', ['init', '-q', root]);
  return root;
}

function lint(root: string) {
  return spawnSync(process.execPath, [BIOME, ...lintCommand()], { cwd: root, encoding: 'utf8' });
}

describe('npm run lint', () => {
  const dir = useTempDir();

  it('lints the sources, not reports or other files a user leaves in the folder', () => {
    const root = project(dir());
    writeFileSync(join(root, 'report.json'), '{"jobId": "unfinished');
    mkdirSync(join(root, 'out'));
    writeFileSync(join(root, 'out', 'run.json'), '{ not json');
    writeFileSync(join(root, 'scratch.ts'), 'const   x =1');
    const result = lint(root);
    expect(result.stderr + result.stdout).not.toContain('report.json');
    expect(result.status).toBe(0);
  });

  it('still fails on a broken file among the sources', () => {
    const root = project(dir());
    writeFileSync(join(root, 'src', 'broken.json'), '{ not json');
    const result = lint(root);
    expect(result.status).not.toBe(0);
    expect(result.stderr + result.stdout).toContain('broken.json');
    rmSync(join(root, 'src', 'broken.json'));
    expect(lint(root).status).toBe(0);
  });
});
