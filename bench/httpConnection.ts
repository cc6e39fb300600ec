/**
 * A keep-alive HTTP/1.1 connection that sends one request at a time, for load generators: each request is
 * one write of a preformatted head and body, and the answer is read by its `content-length`. It costs a
 * fraction of node:http's client per call (no agent, no header objects, no streams), so that a load
 * generator sharing the machine with the server under test takes less of its CPU. The server sees the same
 * requests as from any client. Answers without a `content-length` (chunked ones) are refused.
 */
import { connect, type Socket } from 'node:net';

export interface HttpAnswer {
  status: number;
  body: string;
}

const HEAD_END = Buffer.from('\r\n\r\n');

interface Pending {
  resolve(answer: HttpAnswer): void;
  reject(error: Error): void;
}

export class HttpConnection {
  private socket: Socket | undefined;
  private pending: Pending | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  /** The head of the answer being read, once it has arrived. */
  private answer: { head: string; status: number; bodyStart: number; bodyEnd: number } | undefined;
  private readonly fixedHeaders: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    headers: Record<string, string>,
    private readonly timeoutMs = 30_000,
  ) {
    this.fixedHeaders = Object.entries({ host: `${host}:${port}`, connection: 'keep-alive', ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
  }

  /** POSTs `body` as JSON to `path`; one request at a time. */
  post(path: string, body: unknown): Promise<HttpAnswer> {
    if (this.pending) return Promise.reject(new Error('a request is already in flight on this connection'));
    const payload = JSON.stringify(body);
    const socket = this.socket ?? this.open();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(
        `POST ${path} HTTP/1.1\r\n${this.fixedHeaders}content-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
      );
    });
  }

  /** Closes the connection; a request in flight fails. The next request opens a new one. */
  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.fail(new Error('connection closed'));
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.setTimeout(this.timeoutMs, () => socket.destroy(new Error('timeout')));
    // A socket this connection has let go of (closed after an answer) may still report: not to the next request.
    const current = () => this.socket === socket;
    socket.on('data', (chunk: Buffer) => {
      if (current()) this.onData(chunk);
    });
    const lost = (error: Error) => {
      if (!current()) return;
      this.socket = undefined;
      this.fail(error);
    };
    socket.on('error', lost);
    socket.on('close', () => lost(new Error('connection closed')));
    this.socket = socket;
    this.chunks = [];
    this.size = 0;
    this.answer = undefined;
    return socket;
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (!this.answer) {
      const received = this.joined();
      const headEnd = received.indexOf(HEAD_END);
      if (headEnd < 0) return;
      const head = received.toString('latin1', 0, headEnd);
      const status = Number(head.slice(9, 12));
      // An answer without a body (204, 304) has no length either.
      const length = status === 204 || status === 304 ? ['', '0'] : /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) {
        this.fail(new Error(`answer ${status} without a content-length`));
        this.close();
        return;
      }
      const bodyStart = headEnd + HEAD_END.length;
      this.answer = { head, status, bodyStart, bodyEnd: bodyStart + Number(length[1]) };
    }
    const { head, status, bodyStart, bodyEnd } = this.answer;
    if (this.size < bodyEnd) return;
    const received = this.joined();
    const body = received.toString('utf8', bodyStart, bodyEnd);
    this.answer = undefined;
    this.chunks = bodyEnd < received.length ? [received.subarray(bodyEnd)] : [];
    this.size = received.length - bodyEnd;
    const pending = this.pending;
    this.pending = undefined;
    if (/\r\nconnection: *close/i.test(head)) this.close();
    pending?.resolve({ status, body });
  }

  /**
   * What has arrived, as one buffer. Chunks are joined only when the head is sought or the body is whole:
   * joining on every chunk copied a large answer (a merge claim's megabytes) once per chunk, which held the
   * load generator's event loop for tens of milliseconds and delayed every other worker's call.
   */
  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}
