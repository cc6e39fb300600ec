import { copyFile, open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { fetchFailureReason, UserError } from '../core/errors.js';

export type ProgressCallback = (received: number, total: number | undefined) => void;

export interface FetchOptions {
  onProgress?: ProgressCallback;
  /** Tries per download; each one resumes where the previous connection broke. */
  attempts?: number;
  retryDelayMs?: number;
  /** How long a server may take to answer a request (default 5 s, as FaceFusion gives curl); past it, it counts as unreachable. */
  responseTimeoutMs?: number;
}

const RESPONSE_TIMEOUT_MS = 5_000;

/**
 * The server could not be reached at all (refused, unknown host, no route, no answer in time): trying
 * again at once, or trying other files from it, would only wait for the same failure.
 */
export class UnreachableError extends UserError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${new URL(url).host} (${reason}) for ${url}`);
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A request that got no response at all, for a reason that may pass (a reset connection, say). */
class NoResponseError extends Error {}

/** `fetch`, with a bound on the wait for the response headers; the body may then take its time. */
async function fetchWithin(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: timer.signal });
  } catch (error) {
    if (timer.signal.aborted) throw new UnreachableError(url, `no answer within ${timeoutMs / 1000} s`);
    const reason = fetchFailureReason(error);
    if (UNREACHABLE_CODES.has(reason)) throw new UnreachableError(url, reason);
    throw new NoResponseError(reason);
  } finally {
    clearTimeout(timeout);
  }
}

function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

function httpError(url: string, response: Response): UserError {
  return new UserError(`download failed: HTTP ${response.status} ${response.statusText} from ${url}`.trim());
}

async function readLocal<T>(url: string, read: (path: string) => Promise<T>): Promise<T> {
  const path = fileURLToPath(url);
  try {
    return await read(path);
  } catch (error) {
    throw new UserError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code}) for ${url}`);
  }
}

/** A small text resource such as a `.hash` file. */
export async function fetchText(url: string, responseTimeoutMs = RESPONSE_TIMEOUT_MS): Promise<string> {
  if (isFileUrl(url)) return readLocal(url, (path) => readFile(path, 'utf8'));
  const response = await fetchWithin(url, {}, responseTimeoutMs).catch((error) => {
    throw error instanceof NoResponseError ? new UnreachableError(url, error.message) : error;
  });
  if (!response.ok) throw httpError(url, response);
  return response.text();
}

/** Where the response body starts in the file, and the file's full size when the server says. */
function bodyPlacement(response: Response, offset: number): { start: number; total?: number } | undefined {
  if (response.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== offset) return undefined;
    return { start: offset, total: range[2] === '*' ? undefined : Number(range[2]) };
  }
  // A 200 to a Range request is the whole file: the server does not do ranges, so start over.
  const length = response.headers.get('content-length');
  return { start: 0, total: length === null ? undefined : Number(length) };
}

async function fetchOnce(
  url: string,
  partial: string,
  onProgress: ProgressCallback | undefined,
  responseTimeoutMs: number,
): Promise<void> {
  const offset = await sizeOf(partial);
  const headers = {
    // Ranges count bytes of the encoded body, so ask for it unencoded.
    'accept-encoding': 'identity',
    ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
  };
  const response = await fetchWithin(url, { headers }, responseTimeoutMs);
  const placement = response.ok ? bodyPlacement(response, offset) : undefined;
  if ((response.status === 416 || (response.ok && !placement)) && offset > 0) {
    // The partial file does not fit what the server has now: discard it and fetch it whole.
    await response.body?.cancel();
    await rm(partial, { force: true });
    return fetchOnce(url, partial, onProgress, responseTimeoutMs);
  }
  if (!response.ok || !response.body || !placement) throw httpError(url, response);
  const { start, total } = placement;
  let received = start;
  onProgress?.(received, total);
  // Each chunk is written before the next is read, so a broken connection loses nothing received.
  const out = await open(partial, start > 0 ? 'a' : 'w');
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      await out.write(chunk);
      received += chunk.length;
      onProgress?.(received, total);
    }
  } finally {
    await out.close();
  }
  if (total !== undefined && received !== total) {
    throw new Error(`connection closed after ${received} of ${total} bytes`);
  }
}

/**
 * Fetches `url` into `partial`, resuming from what `partial` already holds with an HTTP Range
 * request. HTTP errors and an unreachable server fail at once; broken connections are retried. A
 * `file://` URL is copied.
 */
export async function fetchResumable(
  url: string,
  partial: string,
  options: FetchOptions = {},
): Promise<void> {
  const { onProgress, attempts = 3, retryDelayMs = 500 } = options;
  const responseTimeoutMs = options.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS;
  if (isFileUrl(url)) {
    const size = await readLocal(url, async (path) => {
      await copyFile(path, partial);
      return sizeOf(partial);
    });
    onProgress?.(size, size);
    return;
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchOnce(url, partial, onProgress, responseTimeoutMs);
      return;
    } catch (error) {
      if (error instanceof UserError) throw error;
      // Never an answer, try after try: the server is as good as unreachable.
      if (attempt >= attempts && error instanceof NoResponseError)
        throw new UnreachableError(url, error.message);
      if (attempt >= attempts) {
        const cause = (error as Error).cause ?? error;
        throw new UserError(
          `download of ${url} failed after ${attempts} tries (${(cause as Error).message}); run again to resume`,
        );
      }
      await sleep(retryDelayMs * attempt);
    }
  }
}
