import { UserError } from '../../../core/errors.js';
import { ensureModel } from '../../../models/download.js';
import { cropMask, maybeOccluder, SwappedFaceMasks } from '../../cropMask.js';
import type { FaceAnalyser } from '../../faceAnalyser.js';
import type { AnalysedFace, Frame } from '../../frame.js';
import { alignFromFrame, pasteIntoFrame } from '../../frameImage.js';
import { boxMask } from '../../masks.js';
import type { FaceOccluder } from '../../occluder.js';
import { type InferenceSession, openSession, outputFloat32, runNamed } from '../../onnx.js';
import type { Processor, SharedModels } from '../../processor.js';
import type { ProcessorOptions } from '../../processorOptions.js';
import type { RgbImage } from '../../rgbImage.js';
import type { LoadedOptions } from '../descriptor.js';
import type { SwapperOptions } from './options.js';
import {
  denormalisesOutput,
  pixelBoostSize,
  type SwapperModel,
  swapperModel,
  takesEmbedding,
} from './swapperModels.js';
import { balanceEmbedding, type SwapperSource, swapperSource, targetShare } from './swapperSource.js';

/**
 * `face_swapper`: every selected face of the frame is replaced by the source face (FaceFusion's
 * face_swapper/core.py, swap_face). The face is warped to the model's template at the pixel-boost size,
 * split into k² strided model-size tiles (pixel_boost.py), each run through the model, reassembled,
 * and pasted back into the frame's YUV through the masks of `--face-mask-types`.
 */
export class FaceSwapperProcessor implements Processor<LoadedOptions<'swapper', SwapperOptions>> {
  readonly name = 'face_swapper';
  private model!: SwapperModel;
  private session: InferenceSession | undefined;
  private analyser!: FaceAnalyser;
  private occluder: FaceOccluder | undefined;
  private swappedMasks: SwappedFaceMasks | undefined;
  private source!: SwapperSource;
  /** `--face-swapper-weight` as the target embedding's share of the mix; 0 leaves the source as it is. */
  private targetShare = 0;
  private sourceInput = 'source';
  private targetInput = 'target';
  /** Side of the crop the faces are warped to: the model's size times the boost factor. */
  private boostSize = 0;
  private box: Float32Array | undefined;
  /** Per channel, a byte v as the model's input: (v / 255 − mean) / std. */
  private normalise!: Float32Array[];
  /** Reused per tile and per face. */
  private tile!: Float32Array;
  private swapped!: RgbImage;

  async load(
    options: ProcessorOptions<LoadedOptions<'swapper', SwapperOptions>>,
    shared: SharedModels,
  ): Promise<void> {
    const { swapper, mask } = options.face;
    const model = swapperModel(swapper.model);
    const boost = pixelBoostSize(model, swapper.pixelBoost);
    this.model = model;
    this.boostSize = boost;
    this.targetShare = takesEmbedding(model) ? targetShare(swapper.weight) : 0;
    this.box = mask.types.includes('box') ? boxMask(boost, mask.blur, mask.padding) : undefined;
    this.analyser = await shared.faceAnalyser();
    const face = await this.analyser.sourceFace();
    const path = await ensureModel(model.name, options.models);
    this.source = await swapperSource(model, face, path, options);
    this.session = await openSession(path, model.name, options.execution);
    this.checkInputs(this.session);
    this.occluder = await maybeOccluder(mask.types, options);
    this.swappedMasks = await SwappedFaceMasks.load(options);
    this.tile = new Float32Array(3 * model.size * model.size);
    this.normalise = [0, 1, 2].map((c) =>
      Float32Array.from({ length: 256 }, (_, v) => (v / 255 - model.mean[c]) / model.std[c]),
    );
    this.swapped = { width: boost, height: boost, data: new Uint8Array(boost * boost * 3) };
  }

  /**
   * The model's inputs are named `source` and `target` (FaceFusion feeds them by name), and the source's
   * last axis is what is prepared for it.
   */
  private checkInputs(session: InferenceSession): void {
    const names = session.inputNames;
    if (!names.includes(this.sourceInput) || !names.includes(this.targetInput)) {
      throw new UserError(
        `face swapper ${this.model.name} has inputs ${names.join(', ')}, expected source and target`,
      );
    }
    const meta = session.inputMetadata.find((m) => m.name === this.sourceInput);
    const width = meta?.isTensor ? meta.shape.at(-1) : undefined;
    const given = this.source.dims.at(-1);
    if (typeof width === 'number' && width !== given) {
      throw new UserError(
        takesEmbedding(this.model)
          ? `face swapper ${this.model.name} takes a ${width}-value source embedding, the recognizer gives ` +
              `${given} (use the arcface_w600k_r50 recognizer)`
          : `face swapper ${this.model.name} takes a ${width}-pixel source face, not ${given}`,
      );
    }
  }

  async process(frame: Frame): Promise<Frame> {
    const faces = await this.analyser.selectFaces(frame);
    // The weight mixes in each target face's embedding, taken before any face of the frame is painted.
    if (this.targetShare !== 0 && faces.length > 0) await this.analyser.embedFaces(frame, faces);
    for (const face of faces) await this.swapFace(frame, face);
    return frame;
  }

  private async swapFace(frame: Frame, face: AnalysedFace): Promise<void> {
    const { template } = this.model;
    const { crop, matrix } = alignFromFrame(frame, face.landmarks, template, this.boostSize);
    const before = await cropMask(crop, this.box, this.occluder);
    await this.swapCrop(crop, this.sourceFor(face));
    const mask = await this.swappedMasks!.combine(before, this.swapped, matrix, face.landmarks68);
    pasteIntoFrame(frame, this.swapped, matrix, mask);
  }

  /** The `source` input for this face: the prepared source, weighed against the face's own embedding. */
  private sourceFor(face: AnalysedFace): SwapperSource {
    if (this.targetShare === 0 || !face.embedding) return this.source;
    const data = balanceEmbedding(this.model, this.source.data, face.embedding, this.targetShare);
    return { data, dims: this.source.dims };
  }

  /**
   * Runs the boosted crop through the model as k² tiles: tile (a, b) holds the crop pixels
   * (i·k + a, j·k + b), FaceFusion's implode_pixel_boost; the results go back to the same pixels
   * (explode_pixel_boost). Fills `this.swapped`.
   */
  private async swapCrop(crop: RgbImage, source: SwapperSource): Promise<void> {
    const { size, mean, std } = this.model;
    const session = this.session!;
    const boost = this.boostSize;
    const k = boost / size;
    const area = size * size;
    const { tile, swapped } = this;
    const denormalise = denormalisesOutput(this.model);
    const [r, g, bl] = this.normalise;
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        for (let i = 0; i < size; i++) {
          const row = (i * k + a) * boost;
          for (let j = 0; j < size; j++) {
            const p = (row + j * k + b) * 3;
            const t = i * size + j;
            tile[t] = r[crop.data[p]];
            tile[area + t] = g[crop.data[p + 1]];
            tile[2 * area + t] = bl[crop.data[p + 2]];
          }
        }
        const outputs = await runNamed(session, {
          [this.sourceInput]: source,
          [this.targetInput]: { data: tile, dims: [1, 3, size, size] },
        });
        const result = outputFloat32(outputs[session.outputNames[0]]);
        for (let i = 0; i < size; i++) {
          const row = (i * k + a) * boost;
          for (let j = 0; j < size; j++) {
            const p = (row + j * k + b) * 3;
            const t = i * size + j;
            for (let c = 0; c < 3; c++) {
              let v = result[c * area + t];
              if (denormalise) v = v * std[c] + mean[c];
              swapped.data[p + c] = Math.round((v < 0 ? 0 : Math.min(v, 1)) * 255);
            }
          }
        }
      }
    }
  }

  async dispose(): Promise<void> {
    await this.session?.release();
    await this.occluder?.dispose();
    await this.swappedMasks?.dispose();
    this.session = undefined;
    this.occluder = undefined;
    this.swappedMasks = undefined;
  }
}
