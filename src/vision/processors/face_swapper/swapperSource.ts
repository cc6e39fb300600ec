import { UserError } from '../../../core/errors.js';
import { ensureModel } from '../../../models/download.js';
import { alignFace } from '../../alignment.js';
import type { SourceFace } from '../../faceAnalyser.js';
import { openSession, outputFloat32, runNamed } from '../../onnx.js';
import { type Initializer, readLastInitializer } from '../../onnxInitializer.js';
import type { ProcessorOptions } from '../../processorOptions.js';
import type { Embedding } from '../../recognizer.js';
import type { SwapperModel } from './swapperModels.js';

/** What a swapper model's `source` input gets, before `--face-swapper-weight` (face_swapper/core.py). */
export interface SwapperSource {
  data: Float32Array;
  dims: number[];
}

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

/** `vector` divided by its L2 norm. */
function normalised(vector: Float32Array): Float32Array {
  const norm = Math.hypot(...vector);
  return vector.map((value) => value / norm);
}

/**
 * The source face aligned as blendswap and uniface take it: RGB / 255, planar, no mean or std
 * (face_swapper/core.py, prepare_source_frame).
 */
export function sourceCrop(face: SourceFace, crop: { template: SwapperModel['template']; size: number }) {
  const { template, size } = crop;
  const aligned = alignFace(face.image, face.landmarks, template, size).crop;
  const area = size * size;
  const data = new Float32Array(3 * area);
  for (let i = 0; i < area; i++) {
    for (let c = 0; c < 3; c++) data[c * area + i] = aligned.data[i * 3 + c] / 255;
  }
  return { data, dims: [1, 3, size, size] };
}

/** The raw embedding through the model's embedding converter (FaceFusion's forward_convert_embedding). */
async function convertEmbedding(
  raw: Float32Array,
  converter: string,
  options: Pick<ProcessorOptions, 'models' | 'execution'>,
): Promise<Float32Array> {
  const session = await openSession(
    await ensureModel(converter, options.models),
    converter,
    options.execution,
  );
  try {
    const meta = session.inputMetadata.find((m) => m.name === 'input');
    const width = meta?.isTensor ? meta.shape.at(-1) : undefined;
    if (typeof width === 'number' && width !== raw.length) {
      throw new UserError(
        `embedding converter ${converter} takes a ${width}-value embedding, the recognizer gives ` +
          `${raw.length} (use the arcface_w600k_r50 recognizer)`,
      );
    }
    const outputs = await runNamed(session, { input: { data: raw, dims: [1, raw.length] } });
    return Float32Array.from(outputFloat32(outputs[session.outputNames[0]]));
  } finally {
    await session.release();
  }
}

/**
 * The model's `source` input for this source face, computed once per job: the emap-projected embedding
 * (inswapper), the normed one (hyperswap), the converted one (ghost raw; hififace and simswap normed),
 * or the aligned face itself (blendswap, uniface).
 */
export async function swapperSource(
  model: SwapperModel,
  face: SourceFace,
  modelPath: string,
  options: Pick<ProcessorOptions, 'models' | 'execution'>,
): Promise<SwapperSource> {
  if (model.source) return sourceCrop(face, model.source);
  let embedding: Float32Array;
  if (model.type === 'hyperswap') embedding = face.normed;
  else if (model.type === 'inswapper')
    embedding = inswapperSource(face.raw, await readLastInitializer(modelPath));
  else {
    const converted = await convertEmbedding(face.raw, model.converter!, options);
    embedding = model.type === 'ghost' ? converted : normalised(converted);
  }
  return { data: embedding, dims: [1, embedding.length] };
}

/**
 * `--face-swapper-weight` as FaceFusion maps it onto the mix: 0 → 0.35, 0.5 → 0, 1 → −0.35 (numpy.interp,
 * then float32). 0 keeps the source embedding as it is.
 */
export function targetShare(weight: number): number {
  return Math.fround(weight >= 1 ? -0.35 : 0.35 + (-0.35 - 0.35) * weight);
}

/**
 * The source embedding moved towards (or, above weight 0.5, away from) the target face's:
 * source · (1 − share) + target · share, the target's embedding raw for ghost and L2-normalised for the
 * others (face_swapper/core.py, balance_source_embedding).
 */
export function balanceEmbedding(
  model: SwapperModel,
  source: Float32Array,
  target: Embedding,
  share: number,
): Float32Array {
  if (target.vector.length !== source.length) {
    throw new UserError(
      `face swapper ${model.name} cannot weigh a ${source.length}-value source embedding against a ` +
        `${target.vector.length}-value face embedding`,
    );
  }
  const scale = model.type === 'ghost' ? target.norm : 1;
  const keep = Math.fround(1 - share);
  return source.map((value, i) => value * keep + target.vector[i] * scale * share);
}
