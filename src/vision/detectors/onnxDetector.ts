import { type InferenceSession, runSession } from '../onnx.js';
import type { RgbImage } from '../rgbImage.js';
import type { DetectedFace, DetectorSpec, FaceDetector, Size } from './detector.js';
import { letterbox } from './letterbox.js';
import { nonMaximumSuppression } from './nms.js';

/** FaceFusion's NMS threshold with a single detector angle. */
const NMS_IOU = 0.4;

/** Runs one detector model: letterbox, inference, decode, NMS, then back to image pixels. */
export class OnnxFaceDetector implements FaceDetector {
  readonly name: string;

  constructor(
    private readonly spec: DetectorSpec,
    private readonly session: InferenceSession,
    private readonly size: Size,
    private readonly minScore: number,
  ) {
    this.name = spec.name;
    this.input = new Float32Array(3 * size.width * size.height);
  }

  /** The input tensor, reused from one detection to the next (a detection overlapping another gets its own). */
  private readonly input: Float32Array;
  private inputInUse = false;

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const reuse = !this.inputInUse;
    this.inputInUse = true;
    let outputs: Float32Array[];
    let scaleX: number;
    let scaleY: number;
    try {
      const boxed = letterbox(image, this.size, this.spec, reuse ? this.input : undefined);
      ({ scaleX, scaleY } = boxed);
      outputs = await runSession(this.session, boxed.tensor, [1, 3, this.size.height, this.size.width]);
    } finally {
      if (reuse) this.inputInUse = false;
    }
    const faces = nonMaximumSuppression(this.spec.decode(outputs, this.size, this.minScore), NMS_IOU);
    return faces.map(({ box, score, landmarks }) => ({
      box: [box[0] * scaleX, box[1] * scaleY, box[2] * scaleX, box[3] * scaleY],
      score,
      landmarks: landmarks.map(([x, y]) => [x * scaleX, y * scaleY]),
    }));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
