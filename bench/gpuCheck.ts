/**
 * The stand-in face chain (detector, recognizer, swapper, enhancer: generated models with the real
 * signatures) on each execution provider that really runs here: chain passes per second ("fps": one pass is
 * one frame's model work with one face) and the largest difference from the cpu provider's outputs.
 * Packed with its models and Node by bench/gpu-pack.sh, run by bench/gpu-check.sh on a GPU machine.
 *
 *   node dist/bench/gpuCheck.js --models DIR [--frames 50] [--providers cpu,webgpu,cuda,tensorrt]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ExecutionProvider } from '../src/vision/faceOptions.js';
import {
  type InferenceSession,
  type OutputTensor,
  openSession,
  outputFloat32,
  runNamed,
} from '../src/vision/onnx.js';
import { checkProvider } from '../src/vision/providerCheck.js';

export const CHAIN = ['yoloface_8n', 'arcface_w600k_r50', 'hyperswap_1a_256', 'gfpgan_1.4'] as const;

function noise(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  });
}

type Inputs = Record<string, { data: Float32Array; dims: number[] }>;

function inputsFor(session: InferenceSession): Inputs {
  return Object.fromEntries(
    session.inputMetadata.map((meta, i) => {
      const dims = (meta.isTensor ? meta.shape : []).map((d) => (typeof d === 'number' ? d : 1));
      return [
        meta.name,
        {
          data: noise(
            dims.reduce((a, b) => a * b, 1),
            7 + i,
          ),
          dims,
        },
      ];
    }),
  );
}

async function chainPass(
  sessions: InferenceSession[],
  inputs: Inputs[],
): Promise<Record<string, OutputTensor>[]> {
  const outputs = [];
  for (let i = 0; i < sessions.length; i++) outputs.push(await runNamed(sessions[i], inputs[i]));
  return outputs;
}

function maxDifference(a: Record<string, OutputTensor>[], b: Record<string, OutputTensor>[]): number {
  let worst = 0;
  a.forEach((outputs, i) => {
    for (const name of Object.keys(outputs)) {
      const x = outputFloat32(outputs[name]);
      const y = outputFloat32(b[i][name]);
      for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - y[j]));
    }
  });
  return worst;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string' },
      frames: { type: 'string', default: '50' },
      providers: { type: 'string', default: 'cpu,webgpu,cuda,tensorrt' },
    },
  });
  if (!values.models) throw new Error('--models DIR is required');
  const frames = Number(values.frames);
  let reference: Record<string, OutputTensor>[] | undefined;
  for (const provider of values.providers.split(',') as ExecutionProvider[]) {
    const status = await checkProvider(provider);
    if (!status.available) {
      console.log(`${provider.padEnd(8)} unavailable: ${status.detail}`);
      continue;
    }
    const execution = { provider, threads: 0 };
    const sessions = [];
    for (const name of CHAIN)
      sessions.push(await openSession(join(values.models, `${name}.onnx`), name, execution));
    const inputs = sessions.map(inputsFor);
    const warm = await chainPass(sessions, inputs); // first runs compile kernels / build engines
    const started = process.hrtime.bigint();
    for (let i = 0; i < frames; i++) await chainPass(sessions, inputs);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    reference ??= provider === 'cpu' ? warm : undefined;
    const diff =
      reference && provider !== 'cpu'
        ? `, max |${provider} - cpu| ${maxDifference(reference, warm).toExponential(2)}`
        : '';
    console.log(
      `${provider.padEnd(8)} ${(frames / seconds).toFixed(2)} fps (${frames} chain passes in ${seconds.toFixed(2)} s${diff})`,
    );
    for (const session of sessions) await session.release();
  }
}

main().catch((error) => {
  console.error(`gpuCheck: ${(error as Error).message}`);
  process.exitCode = 1;
});
