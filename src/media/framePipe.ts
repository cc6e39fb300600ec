import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type ConnectOpts, Socket, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MediaError } from './errors.js';

/**
 * A named pipe that a child writes raw frames into and this process reads straight into the caller's frame
 * buffers. A child's stdout is a socket that Node reads 64 KB at a time, each read a new buffer to copy out
 * and to collect: for 1080p that is 47 allocations and a full copy per frame. Reading a pipe through
 * `onread` lets the kernel copy the bytes where they belong, with nothing allocated.
 */
export class FramePipe {
  private target: Buffer | undefined;
  private filled = 0;
  private pending: { resolve: (bytes: number) => void; reject: (error: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  /**
   * Where a read lands when no frame is asked for: the first read after a pause, whose buffer was chosen
   * before the next frame was asked for. What the frame has no room for waits in `leftover`.
   */
  private readonly spare = Buffer.allocUnsafe(64 * 1024);
  private leftover: Buffer | undefined;
  private socket: Socket | undefined;
  private closed = false;

  private constructor(
    private readonly readFd: number,
    private writeFd: number | undefined,
  ) {}

  /** Creates the pipe; give `childEnd` to the child, then `closeWriteEnd` so that its exit ends the stream. */
  static async open(): Promise<FramePipe> {
    const dir = await mkdtemp(join(tmpdir(), 'spotfuse-frames-'));
    try {
      const path = join(dir, 'frames');
      await promisify(execFile)('mkfifo', ['-m', '600', path]).catch((error: Error) => {
        throw new MediaError(`cannot create a named pipe for raw frames (mkfifo): ${error.message}`);
      });
      // Non-blocking, so that opening does not wait for a writer; the write end then opens at once.
      const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        return new FramePipe(readFd, openSync(path, constants.O_WRONLY));
      } catch (error) {
        closeSync(readFd);
        throw error;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  get childEnd(): number {
    if (this.writeFd === undefined) throw new Error('the write end is closed');
    return this.writeFd;
  }

  /** Drops this process's copy of the write end: the stream ends when the child's ends. */
  closeWriteEnd(): void {
    if (this.writeFd === undefined) return;
    closeSync(this.writeFd);
    this.writeFd = undefined;
  }

  /** True while nothing is being read: a child blocked on a full pipe then waits on this process. */
  get idle(): boolean {
    return this.pending === undefined;
  }

  /**
   * Fills `into` from the pipe; resolves with the bytes read, which are fewer only where the stream ended.
   * `into` must not be touched until then. One read at a time.
   */
  read(into: Buffer): Promise<number> {
    if (this.pending) throw new Error('one read at a time');
    if (this.failure) return Promise.reject(this.failure);
    const early = this.takeLeftover(into);
    if (early === into.length || this.ended) return Promise.resolve(early);
    this.target = into;
    this.filled = early;
    const result = new Promise<number>((resolve, reject) => {
      this.pending = { resolve, reject };
    });
    this.socket ??= this.start();
    this.socket.resume();
    return result;
  }

  private takeLeftover(into: Buffer): number {
    if (!this.leftover) return 0;
    const taken = this.leftover.copy(into, 0);
    this.leftover = taken < this.leftover.length ? this.leftover.subarray(taken) : undefined;
    return taken;
  }

  private start(): Socket {
    // `onread` is a constructor option (Node's documentation); this @types/node lists it under connect's.
    const options: SocketConstructorOpts & ConnectOpts = {
      fd: this.readFd,
      readable: true,
      writable: false,
      onread: {
        // Asked after each read for where the next one lands.
        buffer: () => (this.target ? this.target.subarray(this.filled) : this.spare),
        callback: (bytes, landed) => this.received(bytes, landed as Buffer),
      },
    };
    const socket = new Socket(options);
    socket.on('end', () => {
      this.ended = true;
      this.settle();
    });
    socket.on('error', (error) => {
      this.failure = new MediaError(`cannot read raw frames: ${error.message}`);
      this.settle();
    });
    return socket;
  }

  /** Returns false to pause reading once the asked-for buffer is full. */
  private received(bytes: number, landed: Buffer): boolean {
    const target = this.target;
    if (landed !== this.spare) this.filled += bytes;
    else {
      const used = target ? this.spare.copy(target, this.filled, 0, bytes) : 0;
      this.filled += used;
      if (used < bytes) {
        const rest = this.spare.subarray(used, bytes);
        this.leftover = this.leftover ? Buffer.concat([this.leftover, rest]) : Buffer.from(rest);
      }
    }
    if (target && this.filled < target.length) return true;
    this.settle();
    return false;
  }

  private settle(): void {
    const pending = this.pending;
    if (!pending) return;
    const filled = this.filled;
    this.pending = undefined;
    this.target = undefined;
    this.filled = 0;
    if (this.failure) pending.reject(this.failure);
    else pending.resolve(filled);
  }

  /** Closes both ends; a read in progress resolves with what it got. */
  close(): void {
    this.closeWriteEnd();
    if (this.closed) return;
    this.closed = true;
    if (this.socket) this.socket.destroy();
    else closeSync(this.readFd);
    this.ended = true;
    this.settle();
  }
}
