import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

/**
 * Moving blobs by URL: `file:` URLs (embedded mode, shared filesystem) are plain file operations,
 * `http(s):` URLs (presigned object-store URLs) are streamed GET/PUT requests.
 */

function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

/** A location ffmpeg can read directly: a local path, or the http(s) URL itself (ffmpeg seeks with Range). */
export function readableLocation(url: string): string {
  return isFileUrl(url) ? fileURLToPath(url) : url;
}

/** Puts a finished local file at `url`. A local target is written atomically (copy beside, then rename). */
export async function uploadFile(localPath: string, url: string): Promise<void> {
  if (isFileUrl(url)) {
    const target = fileURLToPath(url);
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(localPath, target);
    } catch {
      const partial = `${target}.partial`;
      await copyFile(localPath, partial);
      await rename(partial, target);
    }
    return;
  }
  const { size } = await stat(localPath);
  await putRange(url, localPath, 0, size, 'upload to object store');
}

/**
 * PUTs `length` bytes of the file from `start`, streamed, with a Content-Length: S3 refuses a
 * presigned PUT sent with chunked transfer encoding. Returns the response's ETag.
 */
async function putRange(
  url: string,
  path: string,
  start: number,
  length: number,
  what: string,
  signal?: AbortSignal,
) {
  const file = length === 0 ? undefined : createReadStream(path, { start, end: start + length - 1 });
  try {
    const response = await fetch(url, {
      method: 'PUT',
      headers: { 'content-length': String(length) },
      body: file ? (Readable.toWeb(file) as ReadableStream) : new Uint8Array(0),
      duplex: 'half',
      signal,
    } as RequestInit);
    if (!response.ok) throw await httpError(what, response);
    await response.body?.cancel();
    return response.headers.get('etag') ?? undefined;
  } finally {
    file?.destroy();
  }
}

/** A failed request to an object store; the message never holds the URL, which holds a signature. */
export class HttpError extends Error {
  constructor(
    what: string,
    readonly status: number,
    /** The S3 error code (AccessDenied, RequestTimeout, ...), when the body has one. */
    readonly code?: string,
    detail?: string,
  ) {
    super(`${what} failed: HTTP ${status}${code ? ` ${code}` : ''}${detail ? ` (${detail})` : ''}`);
  }
}

async function httpError(what: string, response: Response): Promise<HttpError> {
  const text = await response.text().catch(() => '');
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]{1,200})<\/Message>/.exec(text)?.[1];
  return new HttpError(what, response.status, code, message);
}

/** Worth another try: the connection failed, or the store says it is busy or timed out. */
function retryable(error: unknown): boolean {
  if (!(error instanceof HttpError)) return error instanceof TypeError; // fetch's network failures
  return (
    error.status >= 500 ||
    error.status === 408 ||
    error.status === 429 ||
    (error.status === 400 && error.code === 'RequestTimeout')
  );
}

/** The messages of the TypeErrors fetch fails with when the network fails, before or after the headers. */
const FETCH_NETWORK_FAILURES = new Set(['fetch failed', 'terminated']);

/** How ffmpeg, reading a URL, says that the server went away or failed. */
const TOOL_NETWORK_FAILURE =
  /Connection (reset by peer|refused|timed out)|Server returned 5\d\d|Network is unreachable|Broken pipe/i;

/**
 * The object store could not be reached, or said it is busy: a network failure of a request (or of
 * ffmpeg reading a URL), or an answer worth another try. The same work may well succeed in a while.
 */
export function storeUnreachable(error: unknown): boolean {
  if (error instanceof HttpError) return retryable(error);
  // fetch's own network failures (the request failed, or the body was cut off halfway: 'terminated');
  // any other TypeError is a bug, not worth a minute of retries.
  if (error instanceof TypeError) return FETCH_NETWORK_FAILURES.has(error.message);
  return error instanceof Error && TOOL_NETWORK_FAILURE.test(error.message);
}

/** A part an upload already has (as `listParts` of the blob store reports it). */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface MultipartOptions {
  /** Parts already uploaded (resuming): kept when their size is right, sent again otherwise. */
  uploaded?: readonly UploadedPart[];
  /** Tries per part, the first included (default 4). */
  attempts?: number;
  /** Wait before the second try, doubled for each further one (default 500 ms). */
  retryDelayMs?: number;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** Called as each part is stored. */
  onPart?: (part: UploadedPart) => void;
  signal?: AbortSignal;
}

/** Part URLs signed a page at a time, as the upload gets to the parts (a tenant's upload). */
export interface PagedPartUrls {
  /** How many parts the upload has. */
  parts: number;
  /** URLs already in hand: part n's at index n - 1 (the first page). */
  first: readonly string[];
  /** Most part URLs one `sign` call returns. */
  pageSize: number;
  /** URLs for these part numbers (at most `pageSize`), in the same order. */
  sign(partNumbers: readonly number[]): Promise<string[]>;
}

/** Where each part goes: every part's URL up front (part n's at index n - 1), or signed in pages. */
export type PartUrls = readonly string[] | PagedPartUrls;

/**
 * Part n's URL, asking for a page of the parts still to go (`todo`, in upload order) from n on when it
 * has none; concurrent lanes share one request at a time.
 */
function partUrlLookup(urls: PartUrls, todo: readonly number[]): (n: number) => Promise<string> {
  if (!('sign' in urls)) return async (n) => urls[n - 1];
  const known = new Map(urls.first.map((url, i) => [i + 1, url]));
  let signing: Promise<void> | undefined;
  return async (n) => {
    for (;;) {
      const url = known.get(n);
      if (url !== undefined) return url;
      if (!signing) {
        const next = todo.slice(todo.indexOf(n) + 1).filter((p) => p !== n && !known.has(p));
        const page = [n, ...next].slice(0, urls.pageSize);
        signing = urls
          .sign(page)
          .then((signed) => {
            if (signed.length !== page.length)
              throw new Error(`asked for ${page.length} part URLs, got ${signed.length}`);
            for (const [i, p] of page.entries()) known.set(p, signed[i]);
          })
          .finally(() => {
            signing = undefined;
          });
      }
      await signing;
    }
  };
}

/**
 * Uploads a file as the parts of a multipart upload: part n (bytes (n-1)*partSize onwards) to
 * its URL, each retried on network errors and 5xx, a few at a time. Returns every part's ETag in
 * part order, for completing the upload.
 */
export async function uploadFileMultipart(
  localPath: string,
  partUrls: PartUrls,
  partSize: number,
  options: MultipartOptions = {},
): Promise<string[]> {
  if (!Number.isSafeInteger(partSize) || partSize < 1) throw new Error(`invalid part size: ${partSize}`);
  const { size } = await stat(localPath);
  const parts = Math.max(1, Math.ceil(size / partSize));
  const offered = 'sign' in partUrls ? partUrls.parts : partUrls.length;
  if (offered !== parts)
    throw new Error(
      `${size} bytes in parts of ${partSize} make ${parts} parts, but ${offered} part URLs came`,
    );
  const lengthOf = (n: number) => Math.min(partSize, size - (n - 1) * partSize);
  const etags: (string | undefined)[] = new Array(parts).fill(undefined);
  for (const part of options.uploaded ?? []) {
    if (part.partNumber >= 1 && part.partNumber <= parts && part.size === lengthOf(part.partNumber))
      etags[part.partNumber - 1] = part.etag;
  }
  const attempts = options.attempts ?? 4;
  const delay = options.retryDelayMs ?? 500;
  const todo = etags.flatMap((etag, i) => (etag === undefined ? [i + 1] : []));
  const urlOf = partUrlLookup(partUrls, todo);
  let failed = false;
  const uploadPart = async (n: number) => {
    const what = `upload of part ${n} to object store`;
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      try {
        const start = (n - 1) * partSize;
        const etag = await putRange(await urlOf(n), localPath, start, lengthOf(n), what, options.signal);
        if (!etag) throw new Error(`${what}: the store sent no ETag`);
        etags[n - 1] = etag;
        options.onPart?.({ partNumber: n, etag, size: lengthOf(n) });
        return;
      } catch (error) {
        if (failed || attempt >= attempts || !retryable(error)) throw error;
        await sleep(delay * 2 ** (attempt - 1), options.signal);
      }
    }
  };
  let next = 0;
  const lanes = Array.from({ length: Math.min(options.concurrency ?? 4, todo.length) }, async () => {
    while (!failed && next < todo.length) {
      try {
        await uploadPart(todo[next++]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  const results = await Promise.allSettled(lanes);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  return etags as string[];
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** A local copy of the blob at `url` inside `dir` (the file itself for `file:` URLs). */
export async function downloadFile(url: string, dir: string, name: string): Promise<string> {
  if (isFileUrl(url)) return fileURLToPath(url);
  const path = join(dir, name);
  const response = await fetch(url);
  if (!response.ok || !response.body) throw await httpError('download from object store', response);
  await mkdir(dir, { recursive: true });
  try {
    await pipeline(Readable.fromWeb(response.body as never), createWriteStream(path));
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return path;
}
