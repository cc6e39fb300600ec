import { type EnsureOptions, ensureModel } from '../models/download.js';
import type { Gender, Race } from './analysisOptions.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { type InferenceSession, openSession, runNamed } from './onnx.js';
import type { RgbImage } from './rgbImage.js';
import type { WarpTemplate } from './templates.js';

/** What FaceFusion's face classifier says about a face. */
export interface FaceClass {
  gender: Gender;
  /** The age bracket, [from, to) in years, as FaceFusion's `range(from, to)`. */
  age: readonly [from: number, to: number];
  race: Race;
}

/** fairface's crop (face_classifier.py): arcface_112_v2 at 224×224, RGB on 0–1 with ImageNet normalisation. */
export const CLASSIFIER_CROP: { template: WarpTemplate; size: number } = {
  template: 'arcface_112_v2',
  size: 224,
};
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

/** The model manager's name of FaceFusion's face classifier. */
export const CLASSIFIER_MODEL = 'fairface';

/** FaceFusion's age brackets by fairface's age class (categorize_age); the last one for any other class. */
const AGE_BRACKETS: readonly (readonly [number, number])[] = [
  [0, 2],
  [3, 9],
  [10, 19],
  [20, 29],
  [30, 39],
  [40, 49],
  [50, 59],
  [60, 69],
  [70, 100],
];
/** fairface's race classes as FaceFusion names them (categorize_race: both East and Southeast Asian are asian). */
const RACE_CLASSES: Readonly<Record<number, Race>> = {
  1: 'black',
  2: 'latino',
  3: 'asian',
  4: 'asian',
  5: 'indian',
  6: 'arabic',
};

/** FaceFusion's names for fairface's class ids (categorize_gender, categorize_age, categorize_race). */
export function categorize(genderId: number, ageId: number, raceId: number): FaceClass {
  return {
    gender: genderId === 1 ? 'female' : 'male',
    age: AGE_BRACKETS[ageId] ?? AGE_BRACKETS[AGE_BRACKETS.length - 1],
    race: RACE_CLASSES[raceId] ?? 'white',
  };
}

/** The first value of an integer output tensor. */
function firstId(data: unknown): number {
  const first = (data as ArrayLike<number | bigint>)[0];
  return Number(first);
}

/**
 * FaceFusion's face classifier, fairface (face_classifier.classify_face): the face aligned to
 * arcface_112_v2 at 224×224, normalised, NCHW; its three outputs, read by position, are the race,
 * gender and age class ids.
 */
export class FaceClassifier {
  private readonly input = new Float32Array(3 * CLASSIFIER_CROP.size * CLASSIFIER_CROP.size);

  constructor(
    readonly name: string,
    private readonly session: InferenceSession,
  ) {}

  /** The class of a face aligned as CLASSIFIER_CROP says. */
  async classifyCrop(crop: RgbImage): Promise<FaceClass> {
    const { size } = CLASSIFIER_CROP;
    if (crop.width !== size || crop.height !== size) {
      throw new RangeError(`${this.name} takes ${size}x${size} crops, not ${crop.width}x${crop.height}`);
    }
    const area = size * size;
    const { input } = this;
    for (let i = 0; i < area; i++) {
      for (let c = 0; c < 3; c++) input[c * area + i] = (crop.data[i * 3 + c] / 255 - MEAN[c]) / STD[c];
    }
    const { session } = this;
    const outputs = await runNamed(session, {
      [session.inputNames[0]]: { data: input, dims: [1, 3, size, size] },
    });
    const [race, gender, age] = session.outputNames.map((name) => firstId(outputs[name].data));
    return categorize(gender, age, race);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Fetches (if needed) and opens fairface. */
export async function loadFaceClassifier(
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<FaceClassifier> {
  const path = await ensureModel(CLASSIFIER_MODEL, models);
  return new FaceClassifier(CLASSIFIER_MODEL, await openSession(path, CLASSIFIER_MODEL, execution));
}
