import { UserError } from '../../../core/errors.js';
import { ensureModel } from '../../../models/download.js';
import { cropMask, maybeOccluder, SwappedFaceMasks } from '../../cropMask.js';
import type { FaceAnalyser, SourceFace } from '../../faceAnalyser.js';
import type { AnalysedFace, Frame } from '../../frame.js';
import { alignFromFrame, pasteIntoFrame } from '../../frameImage.js';
import { boxMask } from '../../masks.js';
import type { FaceOccluder } from '../../occluder.js';
import { type InferenceSession, openSession, outputFloat32, runNamed } from '../../onnx.js';
import { type Initializer, readLastInitializer } from '../../onnxInitializer.js';
import type { Processor, SharedModels } from '../../processor.js';
import type { ProcessorOptions } from '../../processorOptions.js';
import type { RgbImage } from '../../rgbImage.js';
import type { LoadedOptions } from '../descriptor.js';
import type { SwapperOptions } from './options.js';
import { pixelBoostSize, type SwapperModel, swapperModel } from './swapperModels.js';

/**
 * inswapper's source input: the raw (unnormalised) embedding times the model's emap matrix, divided by
 * the raw embedding's norm (face_swapper/core.py, prepare_source_embedding).
 */
export function inswapperSource(raw: Float32Array, emap: Initializer): Float32Array {
  const n = raw.length;
  if (emap.dims.length !== 2 || emap.dims[0] !== n || emap.dims[1] !== n) {
    throw new UserError(
      `inswapper's emap is ${emap.dims.join('x')}, it cannot take a ${n}-value embedding ` +
        '(use the arcface_w600k_r50 recognizer)',
    );
  }
  const norm = Math.hypot(...raw);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const value = raw[i] / norm;
    if (value === 0) continue;
    const row = i * n;
    for (let j = 0; j < n; j++) out[j] += value * emap.data[row + j];
  }
  return out;
}

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
  private source!: Float32Array;
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
    const model = swapperModel(options.face.swapper.model);
    const boost = pixelBoostSize(model, options.face.swapper.pixelBoost);
    const { mask } = options.face;
    this.model = model;
    this.boostSize = boost;
    this.box = mask.types.includes('box') ? boxMask(boost, mask.blur, mask.padding) : undefined;
    this.analyser = await shared.faceAnalyser();
    const face = await this.analyser.sourceFace();
    const path = await ensureModel(model.name, options.models);
    this.source = await sourceEmbedding(model, face, path);
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

  /** The model's inputs are named `source` and `target` (FaceFusion feeds them by name). */
  private checkInputs(session: InferenceSession): void {
    const names = session.inputNames;
    if (!names.includes(this.sourceInput) || !names.includes(this.targetInput)) {
      throw new UserError(
        `face swapper ${this.model.name} has inputs ${names.join(', ')}, expected source and target`,
      );
    }
    const meta = session.inputMetadata.find((m) => m.name === this.sourceInput);
    const width = meta?.isTensor ? meta.shape.at(-1) : undefined;
    if (typeof width === 'number' && width !== this.source.length) {
      throw new UserError(
        `face swapper ${this.model.name} takes a ${width}-value source embedding, the recognizer gives ` +
          `${this.source.length} (use the arcface_w600k_r50 recognizer)`,
      );
    }
  }

  async process(frame: Frame): Promise<Frame> {
    const faces = await this.analyser.selectFaces(frame);
    for (const face of faces) await this.swapFace(frame, face);
    return frame;
  }

  private async swapFace(frame: Frame, face: AnalysedFace): Promise<void> {
    const { template } = this.model;
    const { crop, matrix } = alignFromFrame(frame, face.landmarks, template, this.boostSize);
    const before = await cropMask(crop, this.box, this.occluder);
    await this.swapCrop(crop);
    const mask = await this.swappedMasks!.combine(before, this.swapped, matrix, face.landmarks68);
    pasteIntoFrame(frame, this.swapped, matrix, mask);
  }

  /**
   * Runs the boosted crop through the model as k² tiles: tile (a, b) holds the crop pixels
   * (i·k + a, j·k + b), FaceFusion's implode_pixel_boost; the results go back to the same pixels
   * (explode_pixel_boost). Fills `this.swapped`.
   */
  private async swapCrop(crop: RgbImage): Promise<void> {
    const { size, mean, std, type } = this.model;
    const session = this.session!;
    const boost = this.boostSize;
    const k = boost / size;
    const area = size * size;
    const { tile, swapped } = this;
    const denormalise = type === 'hyperswap';
    const source = { data: this.source, dims: [1, this.source.length] };
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

/** The `source` input for the model: emap-projected for inswapper, the normed embedding for hyperswap. */
async function sourceEmbedding(model: SwapperModel, face: SourceFace, path: string): Promise<Float32Array> {
  if (model.type === 'hyperswap') return face.normed;
  return inswapperSource(face.raw, await readLastInitializer(path));
}
