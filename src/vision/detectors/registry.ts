import { UserError } from '../../core/errors.js';
import { type EnsureOptions, ensureModel } from '../../models/download.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from '../execution.js';
import { openSession } from '../onnx.js';
import {
  type DetectorOptions,
  type DetectorSpec,
  FACE_DETECTOR_ANGLES,
  type FaceDetector,
  type Size,
} from './detector.js';
import { OnnxFaceDetector } from './onnxDetector.js';
import { retinaface } from './retinaface.js';
import { scrfd } from './scrfd.js';
import { yoloFace } from './yoloFace.js';
import { yunet } from './yunet.js';

/** In FaceFusion's order. */
const DETECTORS: Record<string, DetectorSpec> = {
  retinaface,
  scrfd,
  yolo_face: yoloFace,
  yunet,
};

export const DETECTOR_NAMES = Object.keys(DETECTORS);

export function detectorSpec(name: string): DetectorSpec {
  const spec = DETECTORS[name];
  if (!spec) {
    throw new UserError(`unknown face detector "${name}" (available: ${DETECTOR_NAMES.join(', ')})`);
  }
  return spec;
}

export function parseDetectorSize(spec: DetectorSpec, text: string): Size {
  if (!spec.sizes.includes(text)) {
    throw new UserError(`face detector ${spec.name} takes sizes ${spec.sizes.join(', ')}, not "${text}"`);
  }
  const [width, height] = text.split('x').map(Number);
  return { width, height };
}

/** Checks the options, fetches the model through the model manager and opens it. */
export async function loadFaceDetector(
  options: DetectorOptions,
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<FaceDetector> {
  const spec = detectorSpec(options.model);
  const size = parseDetectorSize(spec, options.size);
  if (!(options.minScore >= 0 && options.minScore <= 1)) {
    throw new UserError(`face detector score must be between 0 and 1, not ${options.minScore}`);
  }
  const angles = options.angles ?? [0];
  if (angles.length === 0 || angles.some((angle) => !FACE_DETECTOR_ANGLES.includes(angle))) {
    throw new UserError(
      `face detector angles are one or more of ${FACE_DETECTOR_ANGLES.join(', ')}, not "${angles.join(' ')}"`,
    );
  }
  const { margin } = options;
  if (
    margin &&
    (margin.length !== 4 || margin.some((side) => !Number.isInteger(side) || side < 0 || side > 100))
  ) {
    throw new UserError(
      `face detector margin is 4 whole percentages from 0 to 100 (top right bottom left), not "${margin.join(' ')}"`,
    );
  }
  const path = await ensureModel(spec.model, models);
  const session = await openSession(path, spec.model, execution);
  return new OnnxFaceDetector(spec, session, size, options.minScore, angles, margin);
}
