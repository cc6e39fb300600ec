import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FaceOptions } from '../faceOptions.js';
import type { Frame } from '../frame.js';
import type { ProcessorOptions } from '../processorOptions.js';
import { type FrameChain, ProcessorChain } from './chain.js';
import {
  type ChainThreadData,
  errorFromThread,
  type FromChainThread,
  postableFrame,
  receivedFrame,
  type ToChainThread,
} from './threadMessages.js';

/**
 * `--processor-threads`' default: one, the chain in the worker's own thread. Each further thread loads
 * every model again (memory; on a GPU, GPU memory), the cpu provider's inference already spreads over the
 * cores by itself, and `run` already starts one worker process per two cores; more threads pay off where
 * inference is cheap and the worker's JavaScript bounds it (a GPU), which a cluster worker is told.
 */
export const DEFAULT_PROCESSOR_THREADS = 1;

type Size = { width: number; height: number };

/** The id of a thread's answer that it has loaded its chain. */
const READY = -1;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** A frame's caller's signal: the frame's error when the thread gave it up because of it. */
  signal?: AbortSignal;
}

/**
 * One processor thread (chainThread.ts) and its requests not yet answered. It keeps the process alive
 * only while it owes an answer, so a chain nobody disposed never holds up an exit.
 */
class ChainThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Why the thread can take no more frames; set at the first failure, its load's included. */
  private failure: Error | undefined;
  readonly ready: Promise<void>;
  /** The thread has ended; `ending`: because `end` ended it. */
  private gone = false;
  private ending = false;
  /** A thread of the chain stopped by itself: the others may be stuck in onnxruntime, and are only ended. */
  private broken = false;
  private readonly exited: Promise<void>;
  private chainDisposed!: () => void;
  private readonly disposed = new Promise<void>((resolve) => {
    this.chainDisposed = resolve;
  });

  /** `stopped`: told when the thread ends by itself (an uncaught error, a crash), with why. */
  constructor(data: ChainThreadData, stopped: (error: Error) => void) {
    this.worker = new Worker(new URL('./chainThread.js', import.meta.url), { workerData: data });
    this.ready = this.expect<void>(READY);
    this.worker.on('message', (message: FromChainThread) => this.receive(message));
    let crash: Error | undefined;
    this.worker.on('error', (error) => {
      crash = error;
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.gone = true;
        if (!this.ending) stopped(crash ?? new Error(`a processor thread stopped (exit code ${code})`));
        resolve();
      });
    });
  }

  /** Frames and other requests the thread has not answered. */
  get load(): number {
    return this.pending.size;
  }

  process(frame: Frame, signal?: AbortSignal): Promise<Frame> {
    const id = this.nextId++;
    const processed = this.expect<Frame>(id, signal);
    const posted = postableFrame(frame);
    this.post({ kind: 'frame', id, frame: posted.frame }, posted.transfer);
    if (signal) {
      const abort = () => this.post({ kind: 'abort', id });
      signal.addEventListener('abort', abort, { once: true });
      const stopListening = () => signal.removeEventListener('abort', abort);
      processed.then(stopListening, stopListening);
    }
    return processed;
  }

  outputSize(width: number, height: number): Promise<Size> {
    const id = this.nextId++;
    const size = this.expect<Size>(id);
    this.post({ kind: 'outputSize', id, width, height });
    return size;
  }

  /**
   * Disposes the thread's chain (nothing where it failed to load); the thread waits to be ended. Skipped
   * once a thread of the chain has stopped by itself: the others may be stuck.
   */
  async disposeChain(): Promise<void> {
    if (this.gone || this.broken) return;
    this.worker.ref();
    this.worker.postMessage({ kind: 'dispose' } satisfies ToChainThread);
    await Promise.race([this.disposed, this.exited]);
  }

  async end(): Promise<void> {
    this.ending = true;
    await this.worker.terminate();
  }

  private expect<T>(id: number, signal?: AbortSignal): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, signal });
    });
  }

  private post(message: ToChainThread, transfer: ArrayBuffer[] = []): void {
    if (!this.failure) this.worker.postMessage(message, transfer);
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    return pending;
  }

  private receive(message: FromChainThread): void {
    if (message.kind === 'loadFailed') {
      this.fail(errorFromThread(message.error));
      return;
    }
    if (message.kind === 'frameFailed') {
      const pending = this.settle(message.id);
      const signal = pending?.signal;
      pending?.reject(message.aborted && signal ? signal.reason : errorFromThread(message.error));
      return;
    }
    if (message.kind === 'disposed') {
      this.chainDisposed();
      return;
    }
    const answer =
      message.kind === 'frame'
        ? { id: message.id, value: receivedFrame(message.frame) }
        : message.kind === 'outputSize'
          ? { id: message.id, value: message.size }
          : { id: READY, value: undefined };
    this.settle(answer.id)?.resolve(answer.value);
  }

  /** A thread of this one's chain (this one or another) stopped by itself, for `error`. */
  chainStopped(error: Error): void {
    this.broken = true;
    this.fail(error);
  }

  /** Fails every request not yet answered, and every later one, with `error`. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.failure);
  }
}

/**
 * The processor chain in several threads, each with its own loaded chain (own models and onnxruntime
 * sessions): onnxruntime-node runs a session on its caller's thread, so one thread does either a frame's
 * JavaScript work or its inference; threads do several frames' at once. A frame goes to the thread with
 * the fewest frames; callers await the frames in the order they handed them in, so they are written in
 * order. Every thread loads the same chain from the same options, so the state a chain computes once
 * (source face, reference face, converted embeddings) is the same in each, and so is every frame.
 */
export class ThreadedChain implements FrameChain {
  private constructor(private readonly chainThreads: ChainThread[]) {}

  get threads(): number {
    return this.chainThreads.length;
  }

  /** Starts `threads` threads and loads the chain in each; on any failure, ends them all and throws it. */
  static async load(
    names: readonly string[],
    options: ProcessorOptions<FaceOptions>,
    threads: number,
  ): Promise<ThreadedChain> {
    const data: ChainThreadData = { names, options: threadOptions(options, threads) };
    // A thread that ends by itself fails the chain: the others' frames too, as they may never come back.
    const stopped = (error: Error) => {
      for (const thread of chainThreads) thread.chainStopped(error);
    };
    const chainThreads = Array.from({ length: threads }, () => new ChainThread(data, stopped));
    const loaded = await Promise.allSettled(chainThreads.map((thread) => thread.ready));
    const failed = loaded.find((result) => result.status === 'rejected');
    if (failed) {
      await endAll(chainThreads);
      throw failed.reason;
    }
    return new ThreadedChain(chainThreads);
  }

  outputSize(width: number, height: number): Promise<Size> {
    return this.chainThreads[0].outputSize(width, height);
  }

  process(frame: Frame, signal?: AbortSignal): Promise<Frame> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const idlest = this.chainThreads.reduce((best, thread) => (thread.load < best.load ? thread : best));
    return idlest.process(frame, signal);
  }

  async dispose(): Promise<void> {
    await endAll(this.chainThreads);
  }
}

/**
 * Disposes every thread's chain, and only then ends the threads: onnxruntime-node's native state is the
 * process's, and a thread ending while another still loads or runs a model has hung that other thread
 * (seen here: a thread that had failed to load ended while the next was loading, and that one never
 * answered).
 */
async function endAll(chainThreads: ChainThread[]): Promise<void> {
  await Promise.all(chainThreads.map((thread) => thread.disposeChain()));
  await Promise.all(chainThreads.map((thread) => thread.end()));
}

/**
 * What each thread loads its chain with: the options as cloned to it (no progress callback), and, unless
 * `--execution-thread-count` says otherwise, a share of the cores for each session's intra-op threads, so
 * that the threads' sessions together use the cores once, not once each.
 */
function threadOptions(
  options: ProcessorOptions<FaceOptions>,
  threads: number,
): ProcessorOptions<FaceOptions> {
  const { onProgress: _, ...models } = options.models;
  const { execution } = options;
  const intraOp = execution.threads || Math.max(1, Math.floor(availableParallelism() / threads));
  return { ...options, models, execution: { ...execution, threads: intraOp } };
}

/** The chain in this thread for 1 thread, in `threads` processor threads for more. */
export function loadFrameChain(
  names: readonly string[],
  options: ProcessorOptions<FaceOptions>,
  threads: number,
): Promise<FrameChain> {
  return threads > 1 ? ThreadedChain.load(names, options, threads) : ProcessorChain.load(names, options);
}
