import { ANALYSIS_GROUPS, type FaceAnalysisOptions } from './analysisOptions.js';
import type { FaceOptions } from './faceOptions.js';
import type { AnyProcessorDescriptor } from './processors/descriptor.js';
import { PROCESSORS } from './processors/list.js';

/**
 * Which processors read which groups of face options: what a job may set, and what a client sends. Derived
 * from the descriptors, which load no model code, so clients import it without loading any of it.
 */

/** Processors that work on the faces of each frame, through the shared face analyser. */
const FACE_PROCESSORS = new Set(PROCESSORS.filter((p) => p.analysesFaces).map((p) => p.name));

export function usesFaces(processors: readonly string[]): boolean {
  return processors.some((p) => FACE_PROCESSORS.has(p));
}

/**
 * The processors that read each group of face options: the face analysis groups are every face
 * processor's, and each processor's own group is its own.
 */
export function optionReaders(
  descriptors: readonly AnyProcessorDescriptor[],
): Record<string, readonly string[]> {
  const faceReaders = descriptors.filter((p) => p.analysesFaces).map((p) => p.name);
  return {
    ...Object.fromEntries(ANALYSIS_GROUPS.map((group) => [group, faceReaders])),
    ...Object.fromEntries(descriptors.flatMap((p) => (p.options ? [[p.options.key, [p.name]]] : []))),
  };
}

const OPTION_READERS = optionReaders(PROCESSORS);
const GROUPS = Object.keys(OPTION_READERS) as (keyof FaceOptions)[];

const readBy = (group: keyof FaceOptions, processors: readonly string[]) =>
  OPTION_READERS[group].some((p) => processors.includes(p));

/** The groups of `face` that the chain reads: what a client sends, since options of other processors are refused. */
export function faceOptionsFor(processors: readonly string[], face: FaceOptions): Partial<FaceOptions> {
  const groups = GROUPS.filter((g) => readBy(g, processors));
  return Object.fromEntries(groups.map((g) => [g, face[g]]));
}

/** "a", "a or b", "a, b or c". */
const eitherOf = (names: readonly string[]) =>
  names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : (names[0] ?? '');

/** One line naming every group of face options given (`face`, any subset) that no processor of the chain reads. */
export function unusedFaceOptionsProblem(
  processors: readonly string[],
  face: Readonly<Partial<Record<string, unknown>>>,
): string | undefined {
  const unused = GROUPS.filter((group) => face[group] !== undefined && !readBy(group, processors)).map(
    (group) => `face.${group} (${eitherOf(OPTION_READERS[group])})`,
  );
  if (unused.length === 0) return undefined;
  return `options for processors not in the chain (${processors.join(', ')}): ${unused.join(', ')}`;
}

/** Why the reference face cannot be taken from the frame the options name, in a video of `frameCount` frames. */
export function referenceFrameProblem(
  processors: readonly string[],
  face: Pick<FaceAnalysisOptions, 'selector'>,
  frameCount: number,
): string | undefined {
  const frame = face.selector.referenceFrame;
  if (!usesFaces(processors) || frame < frameCount) return undefined;
  return `reference frame ${frame} is not a frame of the video (frames 0-${frameCount - 1})`;
}
