import { type InferenceSession, runSession } from '../onnx.js';
import type { RgbImage } from '../rgbImage.js';
import type {
  DetectedFace,
  DetectorSpec,
  FaceDetector,
  FaceDetectorAngle,
  FaceDetectorMargin,
  Size,
} from './detector.js';
import { letterbox } from './letterbox.js';
import { faceInsideMargin, hasMargin, withMargin } from './margin.js';
import { nmsThreshold, nonMaximumSuppression } from './nms.js';
import { faceThrough, turnImage } from './rotation.js';

/**
 * Runs one detector model at each angle: the picture turned, the margin added around it, letterbox,
 * inference, decode, back to image pixels (inside the margin, through the turn), then one NMS over every
 * angle's faces (FaceFusion's get_many_faces, detect_faces_by_angle and detect_faces, in their order).
 */
export class OnnxFaceDetector implements FaceDetector {
  readonly name: string;

  constructor(
    private readonly spec: DetectorSpec,
    private readonly session: InferenceSession,
    private readonly size: Size,
    private readonly minScore: number,
    private readonly angles: readonly FaceDetectorAngle[] = [0],
    private readonly margin?: FaceDetectorMargin,
  ) {
    this.name = spec.name;
    this.input = new Float32Array(3 * size.width * size.height);
  }

  /** The input tensor, reused from one detection to the next (a detection overlapping another gets its own). */
  private readonly input: Float32Array;
  private inputInUse = false;

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const faces: DetectedFace[] = [];
    for (const angle of this.angles) {
      if (angle === 0) faces.push(...(await this.detectInMargin(image)));
      else {
        const turned = turnImage(image, angle);
        const found = await this.detectInMargin(turned.image);
        faces.push(...found.map((face) => faceThrough(face, turned.back)));
      }
    }
    return nonMaximumSuppression(faces, nmsThreshold(this.angles.length));
  }

  /** The faces in `image` with the margin around it, in `image`'s pixels, before NMS. */
  private async detectInMargin(image: RgbImage): Promise<DetectedFace[]> {
    if (!hasMargin(this.margin)) return this.detectUpright(image);
    const framed = withMargin(image, this.margin);
    const found = await this.detectUpright(framed.image);
    return found.map((face) => faceInsideMargin(face, framed.pixels));
  }

  /** The faces the model finds in `image` as it is, in its pixels, before NMS. */
  private async detectUpright(image: RgbImage): Promise<DetectedFace[]> {
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
    return this.spec.decode(outputs, this.size, this.minScore).map(({ box, score, landmarks }) => ({
      box: [box[0] * scaleX, box[1] * scaleY, box[2] * scaleX, box[3] * scaleY],
      score,
      landmarks: landmarks.map(([x, y]) => [x * scaleX, y * scaleY]),
    }));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
