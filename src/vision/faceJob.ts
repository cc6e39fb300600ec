import { UserError } from '../core/errors.js';
import { type DownloadView, ensureModels } from '../models/download.js';
import type { ModelEntry } from '../models/registry.js';
import type { ModelSettings } from '../models/settings.js';
import { detectorSpec, parseDetectorSize } from './detectors/registry.js';
import { loadFaceAnalyser } from './faceAnalyser.js';
import { usesFaces } from './faceOptionGroups.js';
import type { ExecutionOptions, FaceOptions } from './faceOptions.js';
import { OCCLUDER_MODEL } from './occluder.js';
import { checkExecutionProvider } from './onnx.js';
import { checkFaceEnhancer } from './processors/faceEnhancer.js';
import { checkFrameEnhancer } from './processors/frameEnhancer.js';
import { pixelBoostSize, swapperModel } from './processors/swapperModels.js';
import { recognizerEntry } from './recognizer.js';

/**
 * Checks the face options a job's processors will use, so a typo fails before any video work: model
 * names, sizes, and that a swap has a source face image.
 */
export function checkFaceJob(
  processors: readonly string[],
  face: FaceOptions,
  sources: readonly string[],
): void {
  if (processors.includes('face_swapper') && sources.length === 0) {
    throw new UserError('face_swapper needs a source face image (-s face.jpg)');
  }
  if (usesFaces(processors)) parseDetectorSize(detectorSpec(face.detector.model), face.detector.size);
  if (processors.includes('face_swapper'))
    pixelBoostSize(swapperModel(face.swapper.model), face.swapper.pixelBoost);
  if (processors.includes('face_enhancer')) checkFaceEnhancer(face.enhancer);
  if (processors.includes('frame_enhancer')) checkFrameEnhancer(face.frameEnhancer);
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
    if (face.landmarker !== 'none') names.push(face.landmarker);
    if (face.selector.mode === 'reference' || processors.includes('face_swapper')) {
      names.push(recognizerEntry(catalog).name);
    }
    if (face.mask.types.includes('occlusion')) names.push(OCCLUDER_MODEL);
  }
  if (processors.includes('face_swapper')) names.push(face.swapper.model);
  if (processors.includes('face_enhancer')) names.push(face.enhancer.model);
  if (processors.includes('frame_enhancer')) names.push(face.frameEnhancer.model);
  return names;
}

export interface PrepareFaceJob {
  processors: readonly string[];
  sources: string[];
  input: string;
  face: FaceOptions;
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
  const needed = requiredModels(job.processors, job.face, models.catalog);
  if (needed.length > 0) await checkExecutionProvider(execution.provider);
  await ensureModels(needed, models, progressFor);
  if (!usesFaces(job.processors)) return;
  const analyser = await loadFaceAnalyser({
    sources: job.sources,
    target: job.input,
    face: job.face,
    execution,
    models,
  });
  try {
    await analyser.prepare(job.processors.includes('face_swapper'));
  } finally {
    await analyser.dispose();
  }
}
