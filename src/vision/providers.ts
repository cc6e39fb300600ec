import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ExecutionProvider } from './execution.js';

export type RuntimeProvider = 'tensorrt' | 'cuda' | 'webgpu' | 'cpu';

/**
 * onnxruntime's providers in priority order for each choice: nodes TensorRT cannot take fall back to
 * CUDA, and what CUDA or WebGPU cannot take to the CPU, inside one session (onnxruntime assigns each node
 * to the first provider that claims it).
 */
export const PROVIDER_CHAINS: Record<ExecutionProvider, readonly RuntimeProvider[]> = {
  cpu: ['cpu'],
  cuda: ['cuda', 'cpu'],
  tensorrt: ['tensorrt', 'cuda', 'cpu'],
  webgpu: ['webgpu', 'cpu'],
};

/**
 * The provider libraries onnxruntime loads from beside its binding when a session asks for the provider.
 * CPU and WebGPU (Dawn over Vulkan on Linux) are built into the binding itself.
 */
export const PROVIDER_LIBRARIES: Record<ExecutionProvider, readonly string[]> = {
  cpu: [],
  webgpu: [],
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: [
    'libonnxruntime_providers_shared.so',
    'libonnxruntime_providers_cuda.so',
    'libonnxruntime_providers_tensorrt.so',
  ],
};

/** Where onnxruntime-node keeps its native binding and the provider libraries it loads next to it. */
export function bindingDir(): string {
  const main = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** How to get the CUDA and TensorRT providers, for messages. */
export const GPU_INSTALL_HINT =
  'add them with "ONNXRUNTIME_NODE_INSTALL=true npm rebuild onnxruntime-node" ' +
  '(they need CUDA 13, cuDNN 9 and an NVIDIA driver ≥ 580; TensorRT also TensorRT 10)';
