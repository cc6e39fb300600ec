export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'tensorrt', 'webgpu'];

/** Where a worker runs its models: a property of the worker's machine, not of the job. */
export interface ExecutionOptions {
  provider: ExecutionProvider;
  /** `--execution-thread-count`: onnxruntime intra-op threads per session (0 = its default). */
  threads: number;
}

export const DEFAULT_EXECUTION: ExecutionOptions = { provider: 'cpu', threads: 0 };
