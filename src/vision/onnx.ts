import type { InferenceSession } from 'onnxruntime-node';
import { UserError } from '../core/errors.js';

export type { InferenceSession };

// The native runtime loads on first use, so commands that never run a model start without it.
const runtime = () => import('onnxruntime-node');

/** Opens an ONNX model on the CPU; a file onnxruntime cannot load is the user's to fix. */
export async function openSession(path: string, label: string): Promise<InferenceSession> {
  const { InferenceSession } = await runtime();
  try {
    return await InferenceSession.create(path, { executionProviders: ['cpu'] });
  } catch (error) {
    const reason = ((error as Error).message ?? String(error)).split('\n')[0];
    throw new UserError(`cannot load model ${label} (${path}): ${reason}`);
  }
}

/** Runs a single-input model on one NCHW float32 tensor; returns the outputs in the model's order. */
export async function runSession(
  session: InferenceSession,
  input: Float32Array,
  dims: readonly number[],
): Promise<Float32Array[]> {
  const { Tensor } = await runtime();
  const results = await session.run({ [session.inputNames[0]]: new Tensor('float32', input, dims) });
  return session.outputNames.map((name) => results[name].data as Float32Array);
}
