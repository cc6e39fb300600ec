import { UserError } from '../core/errors.js';
import type { ProcessorSettings } from '../core/types.js';
import { type DownloadView, ensureModels } from '../models/download.js';
import type { ModelEntry } from '../models/registry.js';
import type { ModelSettings } from '../models/settings.js';
import { CLASSIFIER_MODEL } from './classifier.js';
import { detectorSpec, parseDetectorSize } from './detectors/registry.js';
import type { ExecutionOptions } from './execution.js';
import { loadFaceAnalyser, usesFan68, usesLandmarker } from './faceAnalyser.js';
import { usesFaces } from './faceOptionGroups.js';
import { type FaceOptions, faceOptionsOf } from './faceOptions.js';
import { FAN_68_5_MODEL } from './fan68.js';
import { occluderModels } from './occluder.js';
import { checkExecutionProvider } from './onnx.js';
import type { AnyProcessorDescriptor } from './processors/descriptor.js';
import { chainMembers } from './processors/registry.js';
import { recognizerEntry } from './recognizer.js';
import { filtersFaces } from './selector.js';

/** A processor's own group of `face` (none for one without options). */
function ownOptions(p: AnyProcessorDescriptor, face: FaceOptions): unknown {
  const groups: Readonly<Record<string, unknown>> = face;
  return p.options ? groups[p.options.key] : {};
}

const needsSourceFace = (processors: readonly string[]) =>
  chainMembers(processors).some((p) => p.needsSourceFace);

/**
 * Checks the face options a job's processors will use, so a typo fails before any video work: model
 * names, sizes, and that a swap has a source face image.
 */
export function checkFaceJob(
  processors: readonly string[],
  face: FaceOptions,
  sources: readonly string[],
): void {
  const members = chainMembers(processors);
  const needsSource = members.find((p) => p.needsSourceFace);
  if (needsSource && sources.length === 0) {
    throw new UserError(`${needsSource.name} needs a source face image (-s face.jpg)`);
  }
  if (usesFaces(processors)) parseDetectorSize(detectorSpec(face.detector.model), face.detector.size);
  for (const p of members) p.check?.(ownOptions(p, face));
}

/** Every model the chain will open, by model-manager name, in the order they are first needed. */
export function requiredModels(
  processors: readonly string[],
  face: FaceOptions,
  catalog: ReadonlyMap<string, ModelEntry>,
): string[] {
  const names: string[] = [];
  if (usesFaces(processors)) {
    names.push(detectorSpec(face.detector.model).model);
    const { types } = face.mask;
    if (usesLandmarker(face)) names.push(face.landmarker);
    if (usesFan68(face)) names.push(FAN_68_5_MODEL);
    if (face.selector.mode === 'reference' || needsSourceFace(processors)) {
      names.push(recognizerEntry(catalog).name);
    }
    if (filtersFaces(face.selector)) names.push(CLASSIFIER_MODEL);
    if (types.includes('occlusion')) names.push(...occluderModels(face.mask.occluder));
    if (types.includes('region')) names.push(face.mask.parser);
  }
  for (const p of chainMembers(processors)) names.push(...(p.models?.(ownOptions(p, face)) ?? []));
  return names;
}

export interface PrepareFaceJob {
  processors: readonly string[];
  sources: string[];
  input: string;
  /** The job spec's face options (checked at submit). */
  face: ProcessorSettings;
}

/**
 * What a face job needs before any video work, done once where the job is submitted: every model
 * downloaded and verified (so workers do not race for them), the source images' face and, in
 * reference mode, the reference face found. Any problem is one clear error here.
 */
export async function prepareFaceJob(
  job: PrepareFaceJob,
  models: ModelSettings,
  execution: ExecutionOptions,
  progressFor?: (name: string) => DownloadView,
): Promise<void> {
  const face = faceOptionsOf(job.face);
  const needed = requiredModels(job.processors, face, models.catalog);
  if (needed.length > 0) await checkExecutionProvider(execution.provider);
  await ensureModels(needed, models, progressFor);
  if (!usesFaces(job.processors)) return;
  const analyser = await loadFaceAnalyser({
    sources: job.sources,
    target: job.input,
    face,
    execution,
    models,
  });
  try {
    await analyser.prepare(needsSourceFace(job.processors));
  } finally {
    await analyser.dispose();
  }
}
