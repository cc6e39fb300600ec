export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'tensorrt', 'webgpu'];

/** Where a worker runs its models: a property of the worker's machine, not of the job. */
export interface ExecutionOptions {
  provider: ExecutionProvider;
  /** `--execution-thread-count`: onnxruntime intra-op threads per session (0 = its default). */
  threads: number;
  /**
   * `--execution-device-ids`: the GPU (CUDA device ordinal) the cuda and tensorrt providers run on; their
   * default, 0, when absent. One worker uses one GPU: `run` gives each local worker one of the ids.
   */
  deviceId?: number;
}

export const DEFAULT_EXECUTION: ExecutionOptions = { provider: 'cpu', threads: 0 };
