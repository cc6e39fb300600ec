import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** What each folder of src/ may import (DESIGN.md's layout: dependencies point down, never up). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  blob: ['core'],
  models: ['core'],
  media: ['core'],
  store: ['core'],
  cost: ['core'],
  deploy: ['core', 'cost'],
  vision: ['core', 'media', 'models'],
  notify: ['core', 'cost', 'store'],
  protocol: ['core', 'blob', 'media', 'vision', 'notify'],
  coordinator: ['core', 'protocol', 'blob', 'models', 'media', 'store', 'cost', 'vision', 'notify'],
  worker: ['core', 'protocol', 'blob', 'models', 'media', 'vision'],
  sim: ['core', 'blob', 'cost', 'store', 'coordinator'],
  // Routes call the coordinator's services, never the store: not even a type of it (see the test below).
  api: ['core', 'protocol', 'blob', 'models', 'media', 'cost', 'vision', 'notify', 'coordinator'],
  app: ['core', 'protocol', 'blob', 'models', 'media', 'store', 'cost', 'vision', 'notify', 'coordinator'],
  web: ['protocol'],
};
ALLOWED.app.push('worker', 'api', 'sim');
ALLOWED.cli = [...Object.keys(ALLOWED), 'cli'];

/**
 * Upward imports that the architecture work has not removed yet. The list must only shrink: a new upward
 * import fails, and so does an entry here that no longer exists.
 */
const KNOWN_UPWARD: string[] = [];

interface Edge {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Relative imports of a file, type-only ones included: a type import ties modules together too. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms),
    ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g),
  ].map((match) => match[1]);
  return specifiers.map((specifier) => {
    const ts = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
    // The dashboard's components are .tsx files, imported as .js like every other module.
    return existsSync(ts) ? ts : `${ts}x`;
  });
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) graph.set(file, importsOf(file));
  return graph;
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function importCircles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.includes(node)) circles.push(component);
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return circles.map((component) => component.map((file) => relative(SRC, file)).sort());
}

const folderOf = (file: string): string => relative(SRC, file).split('/')[0];

function folderEdges(graph: Map<string, string[]>): Edge[] {
  const seen = new Map<string, Edge>();
  for (const [file, imports] of graph) {
    for (const imported of imports) {
      const edge = { from: folderOf(file), to: folderOf(imported) };
      if (edge.from !== edge.to) seen.set(`${edge.from} -> ${edge.to}`, edge);
    }
  }
  return [...seen.values()];
}

describe('import graph of src/', () => {
  const graph = importGraph();

  it('reads the imports it checks', () => {
    expect(graph.size).toBeGreaterThan(100);
    const processTask = graph.get(join(SRC, 'worker/processTask.ts'));
    expect(processTask).toContain(join(SRC, 'vision/frame.ts'));
    expect(graph.get(join(SRC, 'web/main.tsx'))).toContain(join(SRC, 'web/pages/Jobs.tsx'));
  });

  it('has no import circles', () => {
    expect(importCircles(graph)).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    const a = join(SRC, 'a.ts');
    const b = join(SRC, 'b.ts');
    expect(
      importCircles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts']]);
  });

  it('has api/ call services, not the store: no file of api/ imports store/, type imports included', () => {
    const reaching = [...graph]
      .filter(([file]) => folderOf(file) === 'api')
      .flatMap(([file, imports]) =>
        imports
          .filter((i) => folderOf(i) === 'store')
          .map((i) => `${relative(SRC, file)} -> ${relative(SRC, i)}`),
      );
    expect(reaching).toEqual([]);
  });

  it('has every folder import only the folders below it', () => {
    const folders = new Set([...graph.keys()].map(folderOf));
    for (const folder of folders)
      expect(Object.keys(ALLOWED), `folder ${folder} has no rule`).toContain(folder);
    const upward = folderEdges(graph)
      .filter((edge) => !ALLOWED[edge.from]?.includes(edge.to))
      .map((edge) => `${edge.from} -> ${edge.to}`)
      .sort();
    expect(upward).toEqual(KNOWN_UPWARD);
  });
});
