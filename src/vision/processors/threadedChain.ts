import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FaceOptions } from '../faceOptions.js';
import type { Frame } from '../frame.js';
import { type PictureReader, sharedPictures } from '../pictureReader.js';
import type { ProcessorOptions } from '../processorOptions.js';
import { type FrameChain, ProcessorChain } from './chain.js';
import {
  type ChainThreadData,
  errorFromThread,
  type FromChainThread,
  postableFrame,
  receivedFrame,
  type ToChainThread,
  threadError,
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
 * Processor threads whose chain is disposed, kept for the next chain: a processor thread is never ended
 * while the process runs. Seen here: ending the threads of one chain while another chain's threads were
 * loading or disposing hung a thread or aborted the process, with Node warning "File descriptor N opened in
 * unmanaged mode twice" (a Worker counts the files its thread opens, to close them when it ends; with
 * several threads the count went wrong, so the threads do not count: `trackUnmanagedFds: false`). And a
 * thread that ends in the middle of an onnxruntime run aborts the process (onnxruntime-node 1.30 throws from
 * native code: "terminate called after throwing an instance of 'Napi::Error'"), so a thread that crashes
 * can take the worker with it; its lease then runs out and the task runs again. Idle threads hold up no exit.
 */
const idleWorkers: Worker[] = [];

function newWorker(): Worker {
  const worker = new Worker(new URL('./chainThread.js', import.meta.url), { trackUnmanagedFds: false });
  // One that stopped while idle is not handed out again.
  worker.once('exit', () => {
    if (idleWorkers.includes(worker)) idleWorkers.splice(idleWorkers.indexOf(worker), 1);
  });
  return worker;
}

function takeWorker(): Worker {
  return idleWorkers.pop() ?? newWorker();
}

/**
 * Starts processor threads ahead of the first chain, up to `count` idle ones: a thread's start (a Node
 * thread loading the processors and onnxruntime) then overlaps the wait for work rather than delaying the
 * first frame. Like every idle thread, they hold up no exit.
 */
export function startProcessorThreads(count: number): void {
  while (idleWorkers.length < count) {
    const worker = newWorker();
    worker.unref();
    idleWorkers.push(worker);
  }
}

/**
 * One processor thread (chainThread.ts), loading a chain, and its requests not yet answered. It keeps the
 * process alive only while it owes an answer, so a chain nobody disposed never holds up an exit.
 */
class ChainThread {
  private readonly worker = takeWorker();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Why the thread can take no more frames; set at the first failure, its load's included. */
  private failure: Error | undefined;
  readonly ready: Promise<void>;
  /** The thread has ended (by itself: only a crash ends one). */
  private gone = false;
  private readonly exited: Promise<void>;
  private chainDisposed!: () => void;
  private readonly disposed = new Promise<void>((resolve) => {
    this.chainDisposed = resolve;
  });
  private readonly onMessage = (message: FromChainThread) => this.receive(message);
  private crash: Error | undefined;
  private readonly onError = (error: Error) => {
    this.crash = error;
  };
  private onExit!: (code: number) => void;

  /**
   * `stopped`: told when the thread ends by itself (an uncaught error, a crash), with why. `pictures`: what
   * the thread's chain reads its pictures from.
   */
  constructor(
    data: ChainThreadData,
    private readonly pictures: PictureReader,
    stopped: (error: Error) => void,
  ) {
    this.ready = this.expect<void>(READY);
    this.worker.on('message', this.onMessage);
    this.worker.on('error', this.onError);
    this.exited = new Promise((resolve) => {
      this.onExit = (code) => {
        this.gone = true;
        stopped(this.crash ?? new Error(`a processor thread stopped (exit code ${code})`));
        resolve();
      };
      this.worker.once('exit', this.onExit);
    });
    this.post({ kind: 'load', data });
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

  /** Disposes the thread's chain (nothing where it failed to load) and keeps the thread for the next chain. */
  async release(): Promise<void> {
    if (this.gone) return;
    this.worker.ref();
    this.worker.postMessage({ kind: 'dispose' } satisfies ToChainThread);
    await Promise.race([this.disposed, this.exited]);
    if (this.gone) return;
    this.worker.off('message', this.onMessage);
    this.worker.off('error', this.onError);
    this.worker.off('exit', this.onExit);
    this.worker.unref();
    idleWorkers.push(this.worker);
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
    if (message.kind === 'readPicture') {
      this.sendPicture(message);
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

  private sendPicture({ id, path, index }: { id: number; path: string; index?: number }): void {
    const read = index === undefined ? this.pictures.image(path) : this.pictures.videoFrame(path, index);
    read.then(
      (picture) => this.post({ kind: 'picture', id, picture }),
      (error) => this.post({ kind: 'pictureFailed', id, error: threadError(error) }),
    );
  }

  /** Fails every request not yet answered, and every later one, with `error`. */
  fail(error: Error): void {
    this.failure ??= error;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.failure);
  }
}

/**
 * The processor chain in several threads, each with its own loaded chain (own models and onnxruntime
 * sessions): onnxruntime-node runs a session on its caller's thread, so one thread does either a frame's
 * JavaScript work or its inference; threads do several frames' at once. A frame goes to the thread with
 * the fewest frames; callers await the frames in the order they handed them in, so they are written in
 * order. Every thread loads the same chain from the same options and the same pictures (decoded once, in
 * this thread), so the state a chain computes once (source face, reference face, converted embeddings) is
 * the same in each, and so is every frame.
 */
export class ThreadedChain implements FrameChain {
  private constructor(private readonly chainThreads: ChainThread[]) {}

  get threads(): number {
    return this.chainThreads.length;
  }

  /**
   * Loads the chain in each of `threads` threads (idle ones first, then new ones); on any failure, releases
   * them all and throws it.
   */
  static async load(
    names: readonly string[],
    options: ProcessorOptions<FaceOptions>,
    threads: number,
  ): Promise<ThreadedChain> {
    const data: ChainThreadData = { names, options: threadOptions(options, threads) };
    const pictures = sharedPictures(options.pictures);
    // A thread that ends by itself fails the chain: the others' frames too, so no task runs on half of it.
    const stopped = (error: Error) => {
      for (const thread of chainThreads) thread.fail(error);
    };
    const chainThreads = Array.from({ length: threads }, () => new ChainThread(data, pictures, stopped));
    const loaded = await Promise.allSettled(chainThreads.map((thread) => thread.ready));
    const failed = loaded.find((result) => result.status === 'rejected');
    if (failed) {
      await releaseAll(chainThreads);
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
    await releaseAll(this.chainThreads);
  }
}

async function releaseAll(chainThreads: ChainThread[]): Promise<void> {
  await Promise.all(chainThreads.map((thread) => thread.release()));
}

/**
 * What each thread loads its chain with: the options as cloned to it (no progress callback; its pictures
 * come from this thread's reader, by message), and, unless
 * `--execution-thread-count` says otherwise, a share of the cores for each session's intra-op threads, so
 * that the threads' sessions together use the cores once, not once each.
 */
function threadOptions(
  options: ProcessorOptions<FaceOptions>,
  threads: number,
): ProcessorOptions<FaceOptions> {
  const { onProgress: _, ...models } = options.models;
  const { pictures: __, execution, ...rest } = options;
  const intraOp = execution.threads || Math.max(1, Math.floor(availableParallelism() / threads));
  return { ...rest, models, execution: { ...execution, threads: intraOp } };
}

/** The chain in this thread for 1 thread, in `threads` processor threads for more. */
export function loadFrameChain(
  names: readonly string[],
  options: ProcessorOptions<FaceOptions>,
  threads: number,
): Promise<FrameChain> {
  return threads > 1 ? ThreadedChain.load(names, options, threads) : ProcessorChain.load(names, options);
}
