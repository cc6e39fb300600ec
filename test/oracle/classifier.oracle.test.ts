import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import type { FaceAnalysisOptions } from '../../src/vision/analysisOptions.js';
import { loadFaceAnalyser } from '../../src/vision/faceAnalyser.js';
import { DEFAULT_EXECUTION, faceOptionsOf } from '../../src/vision/faceOptions.js';
import type { AnalysedFace } from '../../src/vision/frame.js';
import { loadImage } from '../../src/vision/image.js';
import { rgbToFrame } from '../../src/vision/rgbFrame.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { drawSquares, type FakeModelName } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHarness, sharedStandIns } from './oracleCases.js';
import { writePng } from './pictures.js';

/**
 * The face classifier and the selector's filters: FaceFusion 3.8.1's gender, age and race of each face
 * and the faces its select_faces picks with --face-selector-gender/-race/-age-start/-age-end
 * (test/oracle/harness/analyse_faces.py), against spotfuse's face analyser on the same picture, with the
 * stand-in models (fairface classifies by colour, test/fixtures/models.ts).
 */

interface FaceFusionFace {
  box: number[];
  gender: string;
  age: [number, number];
  race: string;
}

interface FaceFusionCase {
  faces: FaceFusionFace[];
  picked: number[];
}

const dir = useTempDir();

/** Four faces the stand-in fairface tells apart: each a different gender, race or age. */
const FACES = [
  { x: 64, y: 96, colour: [250, 120, 30] }, // red: white, 20–29, male (green > blue)
  { x: 256, y: 64, colour: [40, 255, 90] }, // green: black, 40–49, male
  { x: 448, y: 288, colour: [90, 40, 250] }, // blue: latino, 60–69, female
  { x: 160, y: 320, colour: [250, 60, 200] }, // red: white, 20–29, female (blue > green)
] as const;

const MODELS: FakeModelName[] = ['yoloface_8n', '2dfan4', 'fan_68_5', 'arcface_w600k_r50', 'fairface'];

describe.skipIf(oracleUnavailable())(
  'face classifier and selector filters: spotfuse vs FaceFusion 3.8.1',
  () => {
    let oracle: Oracle;
    let models: ModelSettings;
    let target: string;
    let image: RgbImage;
    let sources: Record<'female' | 'male', string>;

    beforeAll(async () => {
      const standIns = await sharedStandIns(MODELS, dir());
      const fakes = standIns.fakes;
      models = standIns.models;
      oracle = setUpOracle(join(dir(), 'ff'), fakes);
      target = await writePng(drawSquares(640, 480, FACES), join(dir(), 'faces'));
      image = await loadImage(target);
      sources = {
        female: await writePng(
          drawSquares(320, 240, [{ x: 96, y: 64, colour: [90, 40, 250] }]),
          join(dir(), 'female'),
        ),
        male: await writePng(
          drawSquares(320, 240, [{ x: 96, y: 64, colour: [40, 255, 90] }]),
          join(dir(), 'male'),
        ),
      };
    }, ORACLE_TIMEOUT);

    /** The faces spotfuse's analyser picks, with their index into FaceFusion's faces (matched by box). */
    async function spotfusePicks(
      selector: Partial<FaceAnalysisOptions['selector']>,
      theirs: FaceFusionFace[],
      source?: string,
    ): Promise<{ index: number; face: AnalysedFace }[]> {
      const analyser = await loadFaceAnalyser({
        sources: source ? [source] : [],
        target,
        face: faceOptionsOf({ selector }),
        execution: DEFAULT_EXECUTION,
        models,
      });
      try {
        const faces = await analyser.selectFaces(rgbToFrame(image));
        return faces.map((face) => ({
          index: theirs.findIndex((their) => their.box.every((v, i) => Math.abs(v - face.box[i]) < 0.5)),
          face,
        }));
      } finally {
        await analyser.dispose();
      }
    }

    it(
      'the same gender, age and race for every face, and the same picks for each filter',
      async () => {
        const selections: {
          args: string[];
          selector: Partial<FaceAnalysisOptions['selector']>;
          source?: 'female' | 'male';
        }[] = [
          { args: [], selector: {} },
          { args: ['--face-selector-gender', 'female'], selector: { gender: 'female' } },
          { args: ['--face-selector-race', 'white'], selector: { race: 'white' } },
          { args: ['--face-selector-race', 'asian'], selector: { race: 'asian' } },
          {
            args: ['--face-selector-gender', 'male', '--face-selector-race', 'black'],
            selector: { gender: 'male', race: 'black' },
          },
          {
            args: ['--face-selector-age-start', '30', '--face-selector-age-end', '50'],
            selector: { ageStart: 30, ageEnd: 50 },
          },
          {
            args: ['--face-selector-age-start', '29', '--face-selector-age-end', '40'],
            selector: { ageStart: 29, ageEnd: 40 },
          },
          {
            args: [
              '--face-selector-gender',
              'female',
              '--face-selector-age-start',
              '0',
              '--face-selector-age-end',
              '30',
            ],
            selector: { gender: 'female', ageStart: 0, ageEnd: 30 },
          },
          { args: ['--face-selector-gender', 'auto'], selector: { gender: 'auto' }, source: 'female' },
          { args: ['--face-selector-race', 'auto'], selector: { race: 'auto' }, source: 'male' },
        ];
        const modes = [
          {
            args: ['--face-selector-mode', 'many', '--face-selector-order', 'left-right'],
            mode: 'many',
            order: 'left-right',
          },
          {
            args: ['--face-selector-mode', 'one', '--face-selector-order', 'large-small'],
            mode: 'one',
            order: 'large-small',
          },
          {
            args: [
              '--face-selector-mode',
              'reference',
              '--face-selector-order',
              'top-bottom',
              '--reference-face-position',
              '1',
            ],
            mode: 'reference',
            order: 'top-bottom',
            referencePosition: 1,
          },
        ] as const;
        const cases = modes.flatMap((mode) =>
          selections.map(({ args, source }) => ({
            target,
            sources: source ? [sources[source]] : [],
            args: [...mode.args, ...args],
          })),
        );
        const theirs = await runHarness<FaceFusionCase[]>(oracle, 'analyse_faces.py', cases, dir());
        const faces = theirs[0].faces;
        expect(faces.map(({ gender, age, race }) => `${gender} ${race} ${age.join('-')}`).sort()).toEqual([
          'female latino 60-69',
          'female white 20-29',
          'male black 40-49',
          'male white 20-29',
        ]);
        // A filter every face passes: spotfuse classifies them all.
        const all = await spotfusePicks({ mode: 'many', ageStart: 0, ageEnd: 100 }, faces);
        expect(all.map(({ index }) => index).sort()).toEqual([0, 1, 2, 3]);
        for (const { index, face } of all) {
          const { gender, age, race } = faces[index];
          expect(face.classification, `face ${index}`).toEqual({ gender, age, race });
        }
        let at = 0;
        let filtered = 0;
        for (const { mode, order, ...rest } of modes) {
          const referencePosition = 'referencePosition' in rest ? rest.referencePosition : 0;
          for (const { args, selector, source } of selections) {
            const { picked } = theirs[at++];
            if (picked.length < faces.length) filtered++;
            const ours = await spotfusePicks(
              { mode, order, referencePosition, ...selector },
              faces,
              source && sources[source],
            );
            expect(
              ours.map(({ index }) => index),
              `${mode} ${order} ${args.join(' ')}`,
            ).toEqual(picked);
          }
        }
        expect(filtered, 'cases where the filters left some faces out').toBeGreaterThan(10);
      },
      ORACLE_TIMEOUT,
    );
  },
);
