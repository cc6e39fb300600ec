import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import type { ModelRole } from '../../src/models/registry.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import { FAKE_MODELS, type FakeModelName, writeModel } from '../fixtures/models.js';
import type { Oracle } from '../helpers/facefusionOracle.js';

const run = promisify(execFile);

/** One face of test/oracle/harness/analyse_faces.py's output: what FaceFusion's face analysis found. */
export interface FaceFusionFace {
  box: number[];
  score: number;
  landmarkerScore: number;
  landmarks5: [number, number][];
  landmarks5from68: [number, number][];
  landmarks68: [number, number][];
  angle: number;
  embedding: number[];
  embeddingNorm: number[];
}

/** The values agree within `tolerance`: the worst difference is below it (both lists shown when it is not). */
export function expectClose(actual: number[], expected: number[], tolerance: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  const worst = Math.max(...actual.map((value, i) => Math.abs(value - expected[i])));
  expect(
    worst,
    `${what}: ${actual.map((v) => v.toFixed(3))} vs ${expected.map((v) => v.toFixed(3))}`,
  ).toBeLessThan(tolerance);
}

/** A test that runs FaceFusion on CPU: minutes on a busy 2-core machine. */
export const ORACLE_TIMEOUT = 600_000;
const HARNESS = fileURLToPath(new URL('harness/', import.meta.url));

/** Runs one of test/oracle/harness/*.py inside the oracle's FaceFusion with `cases` as its input file. */
export async function runHarness<T>(
  oracle: Oracle,
  script: string,
  cases: unknown,
  scratch: string,
): Promise<T> {
  const input = join(scratch, `${script}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(input, JSON.stringify(cases));
  const { stdout } = await run(oracle.python, [join(HARNESS, script), input], {
    cwd: oracle.facefusionDir,
    env: oracle.env,
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout) as T;
}

/** Runs FaceFusion's headless-run once per argument list, all in one Python process; throws on a failed case. */
export async function runHeadless(oracle: Oracle, cases: string[][], scratch: string): Promise<void> {
  const input = join(scratch, `headless-${Date.now()}.json`);
  // Each case its own temp and jobs folders: FaceFusion names jobs by the second, so two cases finishing
  // within one second would collide in a shared jobs folder (and fail).
  const own = cases.map((c, i) => [
    ...c,
    '--temp-path',
    join(scratch, `ff-case-${i}`, 'temp'),
    '--jobs-path',
    join(scratch, `ff-case-${i}`, 'jobs'),
  ]);
  await writeFile(input, JSON.stringify(own));
  const { stdout, stderr } = await run(oracle.python, [join(HARNESS, 'process_images.py'), input], {
    cwd: oracle.facefusionDir,
    env: oracle.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const results = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { ok: boolean });
  const failed = cases.filter((_, i) => !results[i]?.ok);
  if (failed.length > 0)
    throw new Error(
      `FaceFusion failed on: ${failed.map((c) => c.join(' ')).join('\n')}\nIt said: ${`${stdout}${stderr}`
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('{'))
        .slice(-20)
        .join('\n')}`,
    );
}

/** Copies a model into the form FaceFusion feeds: input named `input`, optionally without the outputs' batch axis. */
export async function forFaceFusion(oracle: Oracle, from: string, to: string, squeezeBatch = false) {
  await run(
    oracle.python,
    [join(HARNESS, 'rename_input.py'), from, to, ...(squeezeBatch ? ['--squeeze-batch'] : [])],
    {
      env: oracle.env,
    },
  );
}

export interface SharedModel {
  name: string;
  role: ModelRole;
  /** The file, named `<name>.onnx`, that both engines load. */
  path: string;
}

/**
 * spotfuse's model settings serving exactly these files (by file:// URL and SHA-256) from a scratch model
 * directory; copies each into `faceFusionModels` too, so both engines load the same bytes.
 */
export async function sharedModels(
  models: SharedModel[],
  dir: string,
  faceFusionModels: string,
): Promise<ModelSettings> {
  await mkdir(faceFusionModels, { recursive: true });
  const entries = [];
  for (const { name, role, path } of models) {
    if (path !== join(faceFusionModels, `${name}.onnx`))
      await copyFile(path, join(faceFusionModels, `${name}.onnx`));
    const sha256 = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
    entries.push({ name, role, sha256, url: pathToFileURL(path).href, file: `${name}.onnx` });
  }
  const manifest = join(dir, 'oracle-models.json');
  await writeFile(manifest, JSON.stringify({ models: entries }));
  return resolveModelSettings({ modelDir: join(dir, 'spotfuse-models'), modelManifest: manifest }, {});
}

/** The named stand-in models written into `dir`/fakes, served to both engines as `sharedModels` does. */
export async function sharedStandIns(
  names: readonly FakeModelName[],
  dir: string,
): Promise<{ fakes: string; models: ModelSettings }> {
  const fakes = join(dir, 'fakes');
  const shared: SharedModel[] = [];
  for (const name of names)
    shared.push({ name, role: FAKE_MODELS[name].role, path: await writeModel(fakes, name) });
  return { fakes, models: await sharedModels(shared, dir, fakes) };
}
