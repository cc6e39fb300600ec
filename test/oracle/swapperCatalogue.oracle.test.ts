import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtinModels } from '../../src/models/registry.js';
import { SWAPPER_MODELS, swapperFiles } from '../../src/vision/processors/face_swapper/swapperModels.js';
import { writeModel } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHarness } from './oracleCases.js';

/**
 * spotfuse's face swapper catalogue against FaceFusion 3.8.1's own model set and choices, read from its
 * modules: every model with its type, template, size, normalisation, pixel boosts, the files it downloads (the
 * swapper and its embedding converter) from their releases, and the licence FaceFusion gives. The pixels of
 * every model are compared in pixels.oracle.test.ts.
 */

const dir = useTempDir();

interface FaceFusionSwapper {
  license: string;
  /** `models-X.Y.Z/<file>` of each source: the swapper, then its embedding converter where it has one. */
  urls: string[];
  type: string;
  template: string;
  size: number[];
  mean: number[];
  standard_deviation: number[];
}

describe.skipIf(oracleUnavailable())('face swapper catalogue: spotfuse vs FaceFusion 3.8.1', () => {
  let swappers: Record<string, FaceFusionSwapper>;
  let boosts: Record<string, string[]>;

  beforeAll(async () => {
    const fakes = join(dir(), 'fakes');
    await writeModel(fakes, 'arcface_w600k_r50');
    const oracle: Oracle = setUpOracle(join(dir(), 'ff'), fakes);
    const sets = await runHarness<{ face_swapper: Record<string, FaceFusionSwapper> }>(
      oracle,
      'model_sets.py',
      ['face_swapper'],
      dir(),
    );
    swappers = sets.face_swapper;
    boosts = await runHarness(oracle, 'swapper_pixel_boosts.py', [], dir());
  }, ORACLE_TIMEOUT);

  it('offers exactly FaceFusion face swappers, each prepared, downloaded and licensed as FaceFusion has it', () => {
    expect(Object.keys(SWAPPER_MODELS).sort()).toEqual(Object.keys(swappers).sort());
    const catalogue = new Map(builtinModels('models-{version}').map((entry) => [entry.name, entry]));
    for (const [name, theirs] of Object.entries(swappers)) {
      const ours = SWAPPER_MODELS[name];
      expect(
        {
          type: ours.type,
          template: ours.template,
          size: [ours.size, ours.size],
          mean: ours.mean,
          std: ours.std,
        },
        name,
      ).toEqual({
        type: theirs.type,
        template: theirs.template,
        size: theirs.size,
        mean: theirs.mean,
        std: theirs.standard_deviation,
      });
      expect(ours.pixelBoosts, name).toEqual(boosts[name]);
      const files = swapperFiles(ours);
      expect(
        files.map((file) => catalogue.get(file)?.url),
        name,
      ).toEqual(theirs.urls);
      for (const file of files) expect(catalogue.get(file)?.license, `${name}: ${file}`).toBe(theirs.license);
    }
  });
});
