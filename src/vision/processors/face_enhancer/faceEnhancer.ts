import { ensureModel } from '../../../models/download.js';
import { cropMask, maybeOccluder } from '../../cropMask.js';
import type { FaceAnalyser } from '../../faceAnalyser.js';
import type { AnalysedFace, Frame } from '../../frame.js';
import { alignFromFrame, pasteIntoFrame } from '../../frameImage.js';
import { boxMask, scaledMask } from '../../masks.js';
import type { FaceOccluder } from '../../occluder.js';
import { type InferenceSession, type InputTensor, openSession, outputFloat32, runNamed } from '../../onnx.js';
import type { Processor, SharedModels } from '../../processor.js';
import type { ProcessorOptions } from '../../processorOptions.js';
import type { RgbImage } from '../../rgbImage.js';
import type { WarpTemplate } from '../../templates.js';
import type { LoadedOptions } from '../descriptor.js';
import { checkFaceEnhancer } from './models.js';
import type { EnhancerOptions } from './options.js';

/** A byte v as the model's input, v / 127.5 − 1. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/**
 * `face_enhancer` (FaceFusion's face_enhancer/core.py, enhance_face): each selected face warped to the
 * model's template and size (ffhq_512 at 512 to 2048 pixels; gpen_bfr_256: arcface_128 at 256), fed NCHW
 * RGB on [−1, 1] (plus codeformer's `weight`, a float64 [1] tensor of
 * `--face-enhancer-weight`), the output clipped to [−1, 1] and mapped back to 0–255, pasted through a
 * box mask without padding (plus the occlusion mask when asked), and blended with the frame at
 * `--face-enhancer-blend` percent of enhanced (FaceFusion pastes, then mixes the whole frame; here the
 * mask is scaled by the blend, which gives the same pixels).
 */
export class FaceEnhancerProcessor implements Processor<LoadedOptions<'enhancer', EnhancerOptions>> {
  readonly name = 'face_enhancer';
  private session: InferenceSession | undefined;
  private analyser!: FaceAnalyser;
  private occluder: FaceOccluder | undefined;
  private template!: WarpTemplate;
  private size = 0;
  private blend = 0;
  private weight = 0;
  private imageInput = 'input';
  private hasWeight = false;
  private box!: Float32Array;
  private input!: Float32Array;
  private enhanced!: RgbImage;
  private scaledMask!: Float32Array;

  async load(
    options: ProcessorOptions<LoadedOptions<'enhancer', EnhancerOptions>>,
    shared: SharedModels,
  ): Promise<void> {
    const { model: name, blend, weight } = options.face.enhancer;
    const { size, template } = checkFaceEnhancer(options.face.enhancer);
    Object.assign(this, { size, template, blend: blend / 100, weight });
    this.box = boxMask(size, options.face.mask.blur, [0, 0, 0, 0]);
    this.analyser = await shared.faceAnalyser();
    const path = await ensureModel(name, options.models);
    const session = await openSession(path, name, options.execution);
    this.session = session;
    this.hasWeight = session.inputNames.includes('weight');
    this.imageInput = session.inputNames.includes('input')
      ? 'input'
      : (session.inputNames.find((n) => n !== 'weight') ?? 'input');
    this.occluder = await maybeOccluder(options.face.mask.types, options);
    this.input = new Float32Array(3 * size * size);
    this.enhanced = { width: size, height: size, data: new Uint8Array(size * size * 3) };
    this.scaledMask = new Float32Array(size * size);
  }

  async process(frame: Frame): Promise<Frame> {
    if (this.blend === 0) return frame;
    const faces = await this.analyser.selectFaces(frame);
    for (const face of faces) await this.enhanceFace(frame, face);
    return frame;
  }

  private async enhanceFace(frame: Frame, face: AnalysedFace): Promise<void> {
    const { size, input, enhanced } = this;
    const session = this.session!;
    const { crop, matrix } = alignFromFrame(frame, face.landmarks, this.template, size);
    const mask = await cropMask(crop, this.box, this.occluder);
    const area = size * size;
    for (let i = 0, p = 0; i < area; i++, p += 3) {
      input[i] = TO_UNIT[crop.data[p]];
      input[area + i] = TO_UNIT[crop.data[p + 1]];
      input[2 * area + i] = TO_UNIT[crop.data[p + 2]];
    }
    const inputs: Record<string, InputTensor> = {
      [this.imageInput]: { data: input, dims: [1, 3, size, size] },
    };
    if (this.hasWeight) inputs.weight = { data: Float64Array.of(this.weight), dims: [1] };
    const outputs = await runNamed(session, inputs);
    const result = outputFloat32(outputs[session.outputNames[0]]);
    for (let i = 0; i < area; i++) {
      for (let c = 0; c < 3; c++) {
        const v = result[c * area + i];
        enhanced.data[i * 3 + c] = Math.round(((v < -1 ? -1 : Math.min(v, 1)) + 1) * 127.5);
      }
    }
    pasteIntoFrame(frame, enhanced, matrix, scaledMask(mask, this.blend, this.scaledMask));
  }

  async dispose(): Promise<void> {
    await this.session?.release();
    await this.occluder?.dispose();
    this.session = undefined;
    this.occluder = undefined;
  }
}
