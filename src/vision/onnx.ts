import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UserError } from '../core/errors.js';
import {
  DEFAULT_EXECUTION,
  EXECUTION_PROVIDERS,
  type ExecutionOptions,
  type ExecutionProvider,
} from './execution.js';
import { providerStatus } from './providerCheck.js';
import { bindingDir, PROVIDER_CHAINS, PROVIDER_LIBRARIES } from './providers.js';

export type { InferenceSession };

// The native runtime loads on first use, so commands that never run a model start without it.
const runtime = () => import('onnxruntime-node');

/** Whether this onnxruntime-node install has the provider's library files (CPU and WebGPU are built in). */
export function providerInstalled(provider: ExecutionProvider, dir = bindingDir()): boolean {
  return (PROVIDER_LIBRARIES[provider] ?? []).every((file) => existsSync(join(dir, file)));
}

/**
 * Fails on one line unless the chosen provider really runs here: a tiny model is run on it once per
 * process (checked before a job starts, too), and the message names what is missing.
 */
export async function checkExecutionProvider(provider: ExecutionProvider): Promise<void> {
  if (!PROVIDER_CHAINS[provider]) return;
  const status = await providerStatus(provider);
  if (!status.available) {
    throw new UserError(
      `execution provider "${provider}" is not available: ${status.detail}; or use the cpu provider`,
    );
  }
}

/**
 * onnxruntime's CPU thread pools busy-wait between operators by default. A worker shares its cores with
 * the ffmpeg decoding and encoding its frames, so spinning threads take their time: measured on 2 cores
 * with the stand-in face models, face_swapper cost 70 ms of CPU per 1080p frame with spinning and 24 ms
 * without, for the same output.
 */
const NO_SPINNING = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };

/**
 * The session options for an execution choice. onnxruntime-node 1.30 passes only `deviceId` on to the
 * CUDA and TensorRT providers (and WebGPU takes the first Vulkan adapter Dawn finds): CUDA's cuDNN convolution search is then onnxruntime's default, EXHAUSTIVE
 * (what FaceFusion asks for), but TensorRT's engine and timing caches cannot be switched on from Node.
 */
export function sessionOptions(execution: ExecutionOptions): InferenceSession.SessionOptions {
  const { provider, threads } = execution;
  if (!PROVIDER_CHAINS[provider]) {
    throw new UserError(
      `unknown execution provider "${provider}" (available: ${EXECUTION_PROVIDERS.join(', ')})`,
    );
  }
  if (!Number.isInteger(threads) || threads < 0) {
    throw new UserError(`execution thread count must be a whole number ≥ 0 (0 = default), not ${threads}`);
  }
  const { deviceId } = execution;
  if (deviceId !== undefined && !(Number.isInteger(deviceId) && deviceId >= 0)) {
    throw new UserError(`execution device id must be a whole number ≥ 0, not ${deviceId}`);
  }
  return {
    executionProviders: PROVIDER_CHAINS[provider].map((name) =>
      deviceId !== undefined && (name === 'cuda' || name === 'tensorrt') ? { name, deviceId } : name,
    ),
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    extra: NO_SPINNING,
  };
}

/**
 * Opens an ONNX model on the chosen execution provider; a provider this install lacks or a file
 * onnxruntime cannot load is the user's to fix, reported on one line.
 */
export async function openSession(
  path: string,
  label: string,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<InferenceSession> {
  const options = sessionOptions(execution);
  await checkExecutionProvider(execution.provider);
  const { InferenceSession } = await runtime();
  try {
    return await InferenceSession.create(path, options);
  } catch (error) {
    const reason = ((error as Error).message ?? String(error)).split('\n')[0];
    const where = execution.provider === 'cpu' ? '' : ` on ${execution.provider}`;
    throw new UserError(`cannot load model ${label} (${path})${where}: ${reason}`);
  }
}

/** A tensor to feed: float16 travels as its raw bits in a Uint16Array, as onnxruntime-node takes it. */
export interface InputTensor {
  data: Float32Array | Float64Array | Uint16Array;
  dims: readonly number[];
}

export interface OutputTensor {
  type: Tensor.Type;
  dims: readonly number[];
  data: Tensor.DataType;
}

type FloatType = 'float32' | 'float64' | 'float16';

function typeOf(data: InputTensor['data']): FloatType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'float16';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bits of `value`, rounded to nearest even. */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let bits = mantissa >>> shift;
    if (rest > half || (rest === half && bits & 1)) bits++;
    return sign | bits;
  }
  let bits = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && bits & 1)) bits++;
  return sign | bits;
}

/** The value of IEEE half-precision `bits`. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** `data` as `type`, converting between the float widths when they differ. */
function convert(data: InputTensor['data'], type: FloatType): InputTensor['data'] {
  const from = typeOf(data);
  if (from === type) return data;
  const values = from === 'float16' ? Float32Array.from(data, fromFloat16Bits) : data;
  if (type === 'float16') return Uint16Array.from(values, toFloat16Bits);
  return type === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
}

/** Any float output as float32 (float16 bits decoded). */
export function outputFloat32(output: OutputTensor): Float32Array {
  if (output.data instanceof Float32Array) return output.data;
  if (output.type === 'float16') return Float32Array.from(output.data as Uint16Array, fromFloat16Bits);
  if (output.data instanceof Float64Array) return Float32Array.from(output.data);
  throw new TypeError(`model output of type ${output.type} is not a float tensor`);
}

/**
 * Runs a model on named float tensors; each is converted to the float width the model declares for
 * that input (so fp16 models take the same float32 data). Returns every output by name.
 */
export async function runNamed(
  session: InferenceSession,
  inputs: Record<string, InputTensor>,
): Promise<Record<string, OutputTensor>> {
  const { Tensor } = await runtime();
  const feeds: Record<string, Tensor> = {};
  for (const [name, { data, dims }] of Object.entries(inputs)) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (!meta) {
      throw new UserError(`model has no input "${name}" (inputs: ${session.inputNames.join(', ')})`);
    }
    const declared = meta.isTensor ? meta.type : undefined;
    const type: FloatType =
      declared === 'float16' || declared === 'float64' || declared === 'float32' ? declared : typeOf(data);
    const values = convert(data, type);
    const tensor = new Tensor(type, values, dims);
    // Node 24 has a global Float16Array: onnxruntime-common then turns float16 bits into one, whose bytes
    // the native binding reads as empty. Keep the raw Uint16Array bits the binding understands.
    if (values instanceof Uint16Array && !(tensor.data instanceof Uint16Array))
      Object.defineProperty(tensor, 'data', { value: values });
    feeds[name] = tensor;
  }
  const results = await session.run(feeds);
  const outputs: Record<string, OutputTensor> = {};
  for (const name of session.outputNames) {
    const tensor = results[name];
    const data = tensor.data as ArrayBufferView & { length: number };
    const bits =
      tensor.type === 'float16' && !(data instanceof Uint16Array)
        ? new Uint16Array(data.buffer, data.byteOffset, data.length)
        : tensor.data;
    outputs[name] = { type: tensor.type, dims: tensor.dims, data: bits };
  }
  return outputs;
}

/** Runs a single-input model on one NCHW float32 tensor; returns the outputs in the model's order. */
export async function runSession(
  session: InferenceSession,
  input: Float32Array,
  dims: readonly number[],
): Promise<Float32Array[]> {
  const outputs = await runNamed(session, { [session.inputNames[0]]: { data: input, dims } });
  return session.outputNames.map((name) => outputFloat32(outputs[name]));
}
