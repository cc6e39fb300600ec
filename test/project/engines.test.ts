import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
}

const read = (file: string) => JSON.parse(readFileSync(join(ROOT, file), 'utf8'));

describe('engines', () => {
  const supported: string = read('package.json').engines.node;
  // The oldest release of each Node line that package.json promises (20.19.0, 22.13.0, 24.0.0).
  const oldest = supported.split('||').map((range) => semver.minVersion(range.trim())?.version ?? range);

  it('promises Node 20, 22 and 24, which CI tests', () => {
    expect(oldest.map((v) => semver.satisfies(v, supported) && Number(v.split('.')[0]))).toEqual([
      20, 22, 24,
    ]);
  });

  it('no installed package asks for a newer Node than package.json promises (npm warns EBADENGINE)', () => {
    const packages: Record<string, LockEntry> = read('package-lock.json').packages;
    const refusing = Object.entries(packages).flatMap(([path, entry]) => {
      const wanted = entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
      if (!path || !wanted) return [];
      const refused = oldest.filter((v) => !semver.satisfies(v, wanted));
      return refused.length > 0
        ? [`${path}@${entry.version} wants node ${wanted}, not ${refused.join(', ')}`]
        : [];
    });
    expect(refusing).toEqual([]);
  });
});
