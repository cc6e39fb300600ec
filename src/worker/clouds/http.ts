import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';

export interface MetadataResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface MetadataRequestOptions {
  method?: 'GET' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Deadline for the whole exchange, connect to last byte. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Let the process exit while this request is in flight (background polling). */
  unref?: boolean;
}

const MAX_BODY_BYTES = 1 << 20;

/**
 * One request to a metadata service. No keep-alive and no proxy (metadata services must be reached
 * directly); rejects on network errors, timeouts and aborts, resolves with any HTTP status.
 */
export function metadataRequest(url: string, options: MetadataRequestOptions): Promise<MetadataResponse> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortError());
      return;
    }
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const request = client.request(target, { method: options.method ?? 'GET', headers, agent: false });
    const onAbort = () => request.destroy(abortError());
    const deadline = setTimeout(
      () => request.destroy(new Error(`metadata request timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    if (options.unref) deadline.unref();
    const done = () => {
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.unref) request.on('socket', (socket) => socket.unref());
    request.on('error', (error) => {
      done();
      reject(error);
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) request.destroy(new Error('metadata response too large'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        done();
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      response.on('error', (error) => {
        done();
        reject(error);
      });
    });
    request.end(options.body);
  });
}

function abortError(): Error {
  const error = new Error('metadata request aborted');
  error.name = 'AbortError';
  return error;
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export function sleep(ms: number, signal: AbortSignal, unref = true): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    if (unref) timer.unref();
    signal.addEventListener('abort', finish, { once: true });
  });
}

/** The trimmed body of a 200 answer, or undefined for anything else or an empty body. */
export function successText(response: MetadataResponse): string | undefined {
  const body = response.body.trim();
  return response.status === 200 && body !== '' ? body : undefined;
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/**
 * A session token of the EC2-style "PUT /latest/api/token" scheme (AWS IMDSv2, Alibaba Cloud security
 * hardening mode). Renewed ahead of its expiry; when none can be had, callers fall back to plain GETs
 * (IMDSv1 / normal mode), and a new token is tried again after a growing pause.
 */
export class SessionToken {
  private token: string | undefined;
  private renewAt = 0;
  private retryAt = 0;
  private failures = 0;

  constructor(
    private readonly base: string,
    private readonly options: {
      ttlHeader: string;
      /** The header GETs carry the token in. */
      tokenHeader: string;
      ttlSeconds: number;
      timeoutMs: number;
      unref?: boolean;
    },
  ) {}

  async get(signal?: AbortSignal): Promise<string | undefined> {
    const now = Date.now();
    if (this.token !== undefined && now < this.renewAt) return this.token;
    if (this.token === undefined && now < this.retryAt) return undefined;
    const ttlMs = this.options.ttlSeconds * 1000;
    try {
      const response = await metadataRequest(`${this.base}/latest/api/token`, {
        method: 'PUT',
        headers: { [this.options.ttlHeader]: String(this.options.ttlSeconds) },
        timeoutMs: this.options.timeoutMs,
        signal,
        unref: this.options.unref,
      });
      const token = response.body.trim();
      if (response.status === 200 && token !== '') {
        this.token = token;
        // Measured from before the request, so the token is renewed before the server lets it lapse.
        this.renewAt = now + ttlMs - Math.min(60_000, ttlMs / 4);
        this.failures = 0;
        return token;
      }
    } catch (error) {
      if (signal?.aborted) throw error;
    }
    this.token = undefined;
    this.failures++;
    this.retryAt = Date.now() + Math.min(30_000, 1000 * 2 ** (this.failures - 1));
    return undefined;
  }

  /** The server refused the token (or wants one): get a new one on the next call. */
  invalidate(): void {
    this.token = undefined;
    this.retryAt = 0;
  }

  /**
   * GET /latest/meta-data/<path>, with a token when one can be had; a refused token (401, or 403 in
   * Alibaba's hardening mode) is renewed and the request tried once more.
   */
  async metadataGet(
    path: string,
    options: { timeoutMs: number; signal?: AbortSignal; unref?: boolean },
  ): Promise<MetadataResponse> {
    const get = async () => {
      const value = await this.get(options.signal);
      return metadataRequest(`${this.base}/latest/meta-data/${path}`, {
        headers: value === undefined ? {} : { [this.options.tokenHeader]: value },
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        unref: options.unref,
      });
    };
    const response = await get();
    if (response.status !== 401 && response.status !== 403) return response;
    this.invalidate();
    return get();
  }
}
