import type { FaceAnalysisOptions, FaceSelectorOrder, Gender, Race } from './analysisOptions.js';
import type { FaceClass } from './classifier.js';
import type { DetectedFace } from './detectors/detector.js';
import { type Embedding, faceDistance } from './recognizer.js';

type Ranked = Pick<DetectedFace, 'box' | 'score'>;

export const faceArea = ({ box }: Ranked): number => (box[2] - box[0]) * (box[3] - box[1]);

/** Sort key and direction of each order, as FaceFusion's `sort_faces_by_order`. */
const ORDERS: Record<FaceSelectorOrder, [key: (face: Ranked) => number, descending: boolean]> = {
  'left-right': [(face) => face.box[0], false],
  'right-left': [(face) => face.box[0], true],
  'top-bottom': [(face) => face.box[1], false],
  'bottom-top': [(face) => face.box[1], true],
  'small-large': [faceArea, false],
  'large-small': [faceArea, true],
  'best-worst': [(face) => face.score, true],
  'worst-best': [(face) => face.score, false],
};

/** A sorted copy of `faces` (stable: equal keys keep their detection order, as Python's `sorted`). */
export function orderFaces<T extends Ranked>(faces: readonly T[], order: FaceSelectorOrder): T[] {
  const [key, descending] = ORDERS[order];
  const sign = descending ? -1 : 1;
  return [...faces].sort((a, b) => sign * (key(a) - key(b)));
}

/**
 * The face at `position` in this order, or the last one when there are fewer (FaceFusion's
 * `get_one_face`); undefined when there is none.
 */
export function faceAt<T extends Ranked & { classification?: FaceClass }>(
  faces: readonly T[],
  order: FaceSelectorOrder,
  position = 0,
  filters: FaceFilters = {},
): T | undefined {
  const ordered = filterFaces(orderFaces(faces, order), filters);
  return ordered[Math.min(Math.max(position, 0), ordered.length - 1)];
}

/** The largest face (first in `large-small` order): a source image's face. */
export function largestFace<T extends Ranked>(faces: readonly T[]): T | undefined {
  return faceAt(faces, 'large-small');
}

type SelectorOptions = FaceAnalysisOptions['selector'];

/** The selector's filters with `auto` resolved: what a face's class must match. */
export interface FaceFilters {
  gender?: Gender;
  race?: Race;
  /** [start, end) in years, the bracket must meet it. */
  age?: readonly [start: number, end: number];
}

/**
 * The filters of `--face-selector-gender/-race/-age-start/-age-end`, `auto` taken from `source` (the
 * largest source face's class; no filter without one), as FaceFusion's sort_and_filter_faces. The age
 * filter applies when either end is set and not 0 (FaceFusion tests `start or end`); an end not given is
 * 0 (start) or 100 (end).
 */
export function faceFilters(selector: SelectorOptions, source?: FaceClass): FaceFilters {
  const { gender, race, ageStart, ageEnd } = selector;
  const filters: FaceFilters = {};
  const resolvedGender = gender === 'auto' ? source?.gender : gender;
  const resolvedRace = race === 'auto' ? source?.race : race;
  if (resolvedGender) filters.gender = resolvedGender;
  if (resolvedRace) filters.race = resolvedRace;
  if (ageStart || ageEnd) filters.age = [ageStart ?? 0, ageEnd ?? 100];
  return filters;
}

/** Whether any filter is asked for (then every face needs the classifier). */
export function filtersFaces(selector: SelectorOptions): boolean {
  return Boolean(selector.gender || selector.race || selector.ageStart || selector.ageEnd);
}

/**
 * The faces whose class matches every filter, in their order: same gender, same race, an age bracket
 * that meets [start, end). A face without a class matches only when there is no filter.
 */
export function filterFaces<T extends { classification?: FaceClass }>(
  faces: readonly T[],
  filters: FaceFilters,
): T[] {
  const { gender, race, age } = filters;
  if (!gender && !race && !age) return [...faces];
  return faces.filter(({ classification: c }) => {
    if (!c) return false;
    if (gender && c.gender !== gender) return false;
    if (race && c.race !== race) return false;
    return !age || Math.max(c.age[0], age[0]) < Math.min(c.age[1], age[1]);
  });
}

/**
 * The faces the processors should touch, as FaceFusion's select_faces: `many` all of them in selector
 * order, `one` the first in that order, both after `filters`; `reference` those whose face distance to
 * `reference` is below `referenceDistance`, in detection order, unfiltered (FaceFusion filters the faces
 * of the reference frame instead); none without a reference, or for a face without an embedding.
 */
export function selectFaces<T extends Ranked & { embedding?: Embedding; classification?: FaceClass }>(
  faces: readonly T[],
  selector: Pick<SelectorOptions, 'mode' | 'order' | 'referenceDistance'>,
  reference?: Embedding,
  filters: FaceFilters = {},
): T[] {
  const ordered = filterFaces(orderFaces(faces, selector.order), filters);
  switch (selector.mode) {
    case 'many':
      return ordered;
    case 'one':
      return ordered.slice(0, 1);
    case 'reference':
      if (!reference) return [];
      return faces.filter(
        (face) => face.embedding && faceDistance(face.embedding, reference) < selector.referenceDistance,
      );
  }
}
