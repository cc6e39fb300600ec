import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS_OPTIONS, type Gender, type Race } from '../../src/vision/analysisOptions.js';
import type { FaceClass } from '../../src/vision/classifier.js';
import type { DetectedFace } from '../../src/vision/detectors/detector.js';
import { FACE_SELECTOR_ORDERS, type FaceSelectorOrder } from '../../src/vision/faceOptions.js';
import type { Embedding } from '../../src/vision/recognizer.js';
import {
  type FaceFilters,
  faceAt,
  faceFilters,
  filterFaces,
  filtersFaces,
  largestFace,
  orderFaces,
  selectFaces,
} from '../../src/vision/selector.js';

interface Face extends Pick<DetectedFace, 'box' | 'score'> {
  name: string;
  embedding?: Embedding;
  classification?: FaceClass;
}

const face = (
  name: string,
  x: number,
  y: number,
  side: number,
  score: number,
  embedding?: Embedding,
): Face => ({
  name,
  box: [x, y, x + side, y + side],
  score,
  ...(embedding ? { embedding } : {}),
});

/** A unit embedding at `degrees` in a plane: cosine between two is the cosine of the angle between them. */
const at = (degrees: number): Embedding => {
  const radians = (degrees * Math.PI) / 180;
  return { vector: new Float32Array([Math.cos(radians), Math.sin(radians), 0]), norm: 20 };
};

// Left to right: a, b, c; top to bottom: c, a, b; small to large: b, c, a; worst to best: c, a, b.
const faces: Face[] = [
  face('b', 200, 150, 40, 0.9),
  face('a', 10, 100, 120, 0.7),
  face('c', 400, 20, 80, 0.6),
];

const EXPECTED: Record<FaceSelectorOrder, string> = {
  'left-right': 'abc',
  'right-left': 'cba',
  'top-bottom': 'cab',
  'bottom-top': 'bac',
  'small-large': 'bca',
  'large-small': 'acb',
  'best-worst': 'bac',
  'worst-best': 'cab',
};

const names = (list: Face[]) => list.map((f) => f.name).join('');

describe('face selector', () => {
  it.each(FACE_SELECTOR_ORDERS)('orders faces %s', (order) => {
    expect(names(orderFaces(faces, order))).toBe(EXPECTED[order]);
  });

  it('sorts a copy and keeps the detection order between equal keys', () => {
    const twins = [face('x', 0, 0, 50, 0.5), face('y', 100, 0, 50, 0.5), face('z', 200, 0, 60, 0.5)];
    expect(names(orderFaces(twins, 'large-small'))).toBe('zxy');
    expect(names(orderFaces(twins, 'best-worst'))).toBe('xyz');
    expect(names(twins)).toBe('xyz');
    expect(names(faces)).toBe('bac');
  });

  it('picks the face at a position, the last one past the end, none from nothing', () => {
    expect(faceAt(faces, 'left-right', 1)?.name).toBe('b');
    expect(faceAt(faces, 'left-right', 7)?.name).toBe('c');
    expect(faceAt([], 'left-right', 0)).toBeUndefined();
    expect(largestFace(faces)?.name).toBe('a');
    expect(largestFace([])).toBeUndefined();
  });

  const selector = { order: 'left-right', referenceDistance: 0.3 } as const;

  it('selects every face in order (many) or the first in order (one)', () => {
    expect(names(selectFaces(faces, { ...selector, mode: 'many' }))).toBe('abc');
    expect(names(selectFaces(faces, { ...selector, mode: 'one' }))).toBe('a');
    expect(names(selectFaces(faces, { ...selector, mode: 'one', order: 'best-worst' }))).toBe('b');
    expect(selectFaces([], { ...selector, mode: 'one' })).toEqual([]);
  });

  it('selects the faces closer to the reference than the reference distance', () => {
    // Face distance (1 − cos) / 2: 0° → 0, 60° → 0.25, 70° → 0.33, 180° → 1; 0.3 is cos 0.4 (66.4°).
    const people = [
      face('p', 300, 0, 50, 0.9, at(60)),
      face('q', 0, 0, 50, 0.9, at(0)),
      face('r', 100, 0, 50, 0.9, at(70)),
      face('s', 200, 0, 50, 0.9, at(180)),
      face('t', 50, 0, 50, 0.9),
    ];
    const reference = at(0);
    // In detection order, whatever the selector order (FaceFusion's find_match_faces).
    expect(names(selectFaces(people, { ...selector, mode: 'reference' }, reference))).toBe('pq');
    expect(
      names(selectFaces(people, { ...selector, mode: 'reference', referenceDistance: 0.34 }, reference)),
    ).toBe('pqr');
    expect(selectFaces(people, { ...selector, mode: 'reference' })).toEqual([]);
  });
});

describe('face selector filters (fairface)', () => {
  const classified = (name: string, x: number, gender: Gender, race: Race, age: [number, number]) => ({
    ...face(name, x, 0, 50, 0.9),
    classification: { gender, race, age } as FaceClass,
  });
  // Left to right: w (white woman, 20–29), k (black man, 40–49), l (latino woman, 60–69), y (white boy, 3–9).
  const people = [
    classified('l', 300, 'female', 'latino', [60, 69]),
    classified('w', 0, 'female', 'white', [20, 29]),
    classified('y', 400, 'male', 'white', [3, 9]),
    classified('k', 100, 'male', 'black', [40, 49]),
  ];
  const pick = (filters: FaceFilters, mode: 'many' | 'one' = 'many') =>
    names(selectFaces(people, { mode, order: 'left-right', referenceDistance: 0.3 }, undefined, filters));

  it('keeps the faces of the gender, the race, and an age bracket that meets [start, end)', () => {
    expect(pick({})).toBe('wkly');
    expect(pick({ gender: 'female' })).toBe('wl');
    expect(pick({ race: 'white' })).toBe('wy');
    expect(pick({ gender: 'male', race: 'white' })).toBe('y');
    expect(pick({ race: 'asian' })).toBe('');
    // FaceFusion's brackets are range(from, to): 29 is in none of them, 20–29 ends at 28.
    expect(pick({ age: [29, 40] })).toBe('');
    expect(pick({ age: [28, 41] })).toBe('wk');
    expect(pick({ age: [0, 100] })).toBe('wkly');
    expect(pick({ gender: 'female' }, 'one')).toBe('w');
  });

  it('takes auto from the source face, sets the age filter when either end is given, none by default', () => {
    const selector = { ...DEFAULT_ANALYSIS_OPTIONS.selector };
    expect(faceFilters(selector)).toEqual({});
    expect(filtersFaces(selector)).toBe(false);
    const source: FaceClass = { gender: 'female', race: 'latino', age: [60, 69] };
    expect(faceFilters({ ...selector, gender: 'auto', race: 'auto' }, source)).toEqual({
      gender: 'female',
      race: 'latino',
    });
    // No source face: auto filters nothing, as in FaceFusion.
    expect(faceFilters({ ...selector, gender: 'auto' })).toEqual({});
    expect(faceFilters({ ...selector, ageStart: 30 })).toEqual({ age: [30, 100] });
    expect(faceFilters({ ...selector, ageEnd: 30 })).toEqual({ age: [0, 30] });
    // FaceFusion tests `start or end`: 0 and 0 is no filter.
    expect(faceFilters({ ...selector, ageStart: 0, ageEnd: 0 })).toEqual({});
    expect(filtersFaces({ ...selector, race: 'auto' })).toBe(true);
  });

  it('picks the reference position among the filtered faces; a face without a class fails any filter', () => {
    expect(faceAt(people, 'left-right', 1, { gender: 'female' })?.name).toBe('l');
    expect(faceAt(people, 'left-right', 5, { gender: 'female' })?.name).toBe('l');
    expect(faceAt(people, 'left-right', 0, { race: 'asian' })).toBeUndefined();
    expect(filterFaces([face('n', 0, 0, 10, 1)], { gender: 'male' })).toEqual([]);
    expect(filterFaces([face('n', 0, 0, 10, 1)], {})).toHaveLength(1);
  });
});
