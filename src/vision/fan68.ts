import { type EnsureOptions, ensureModel } from '../models/download.js';
import type { Point } from './detectors/detector.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { applyAffine, invertAffine, similarityTransform } from './geometry.js';
import { type InferenceSession, openSession, runSession } from './onnx.js';
import { templatePoints } from './templates.js';

/** The model manager's name of FaceFusion's 5 → 68 landmark estimate. */
export const FAN_68_5_MODEL = 'fan_68_5';

/**
 * FaceFusion's `fan_68_5` (face_landmarker.estimate_face_landmark_68_5): 68 points estimated from the
 * 5, FaceFusion's `68/5` landmarks, and its `68` ones when the 68-point landmarker is off. The 5 points
 * are mapped onto the ffhq_512 template at unit size, fed as [1, 5, 2], and the [1, 68, 2] result is
 * mapped back.
 */
export class Fan68From5 {
  constructor(
    readonly name: string,
    private readonly session: InferenceSession,
  ) {}

  async estimate(landmarks5: readonly Point[]): Promise<Point[]> {
    const matrix = similarityTransform(landmarks5, templatePoints('ffhq_512', 1));
    const input = Float32Array.from(landmarks5.flatMap((point) => applyAffine(matrix, point)));
    const [output] = await runSession(this.session, input, [1, 5, 2]);
    if (output.length !== 68 * 2) throw new Error(`${this.name} gave ${output.length} values, expected 68×2`);
    const inverse = invertAffine(matrix);
    return Array.from({ length: 68 }, (_, i) => applyAffine(inverse, [output[i * 2], output[i * 2 + 1]]));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Fetches (if needed) and opens fan_68_5. */
export async function loadFan68From5(
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<Fan68From5> {
  const path = await ensureModel(FAN_68_5_MODEL, models);
  return new Fan68From5(FAN_68_5_MODEL, await openSession(path, FAN_68_5_MODEL, execution));
}
