import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { fetchFailureReason, UserError } from '../../core/errors.js';
import { fetchResumable, type ProgressCallback } from '../../models/fetchResumable.js';
import {
  COORDINATOR_UNAVAILABLE,
  type UploadPartsResponse,
  type UploadResponse,
} from '../../protocol/wire.js';
import { type PartUrls, uploadFile, uploadFileMultipart } from '../../worker/transfer.js';

export interface ConnectionFlags {
  server?: string;
  token?: string;
}

/** `--server` and `--token`, from SPOTFUSE_SERVER and SPOTFUSE_TOKEN by default. */
export function addConnectionOptions(command: Command, tokenEnv: string[] = ['SPOTFUSE_TOKEN']): Command {
  const token = tokenEnv.map((name) => process.env[name]).find((v) => v !== undefined && v !== '');
  return command
    .option('--server <url>', 'coordinator URL (SPOTFUSE_SERVER)', process.env.SPOTFUSE_SERVER)
    .option('--token <token>', `access token (${tokenEnv.join(', then ')})`, token);
}

const RATE_LIMIT_TRIES = 5;
/** Connections a download may take, each resuming where the last broke, before it stops (resumable later). */
const DOWNLOAD_TRIES = 5;

/**
 * The coordinator could not be reached, or answered that it is restarting or overloaded: a request worth
 * trying again in a while, where the call allows it (reading, not submitting).
 */
export class CoordinatorUnreachableError extends UserError {}

/** A tenant's or the admin's HTTP client of the coordinator; every failure is a one-line UserError. */
export class ApiClient {
  private readonly server: string;
  private readonly token: string;

  constructor(flags: ConnectionFlags) {
    if (!flags.server) throw new UserError('no server: give --server URL or set SPOTFUSE_SERVER');
    if (!flags.token) throw new UserError('no token: give --token or set SPOTFUSE_TOKEN');
    try {
      new URL(flags.server);
    } catch {
      throw new UserError(`--server is not a URL: ${flags.server}`);
    }
    this.server = flags.server;
    this.token = flags.token;
  }

  /** One API call; a 429 with a Retry-After (rate limit: the request was not handled) is retried after it. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.requestOnce<T>(method, path, body);
      if (!('retryAfterMs' in result)) return result.value;
      if (attempt >= RATE_LIMIT_TRIES) throw new UserError('rate limit exceeded (HTTP 429)');
      await sleep(result.retryAfterMs);
    }
  }

  private async requestOnce<T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ value: T } | { retryAfterMs: number }> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.server), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (error) {
      throw new CoordinatorUnreachableError(`cannot reach ${this.server}: ${fetchFailureReason(error)}`);
    }
    const text = await response.text();
    // A rate limit says when to come back; a tenant limit (too much under way) does not: no point waiting.
    if (response.status === 429 && response.headers.has('retry-after')) {
      const seconds = Number(response.headers.get('retry-after'));
      return { retryAfterMs: Math.min(30, Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000 };
    }
    if (!response.ok) {
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: string; issues?: string[] };
        message = [parsed.error, ...(parsed.issues ?? [])].filter(Boolean).join(': ') || message;
      } catch {}
      const failure = `${message || response.statusText} (HTTP ${response.status})`;
      throw COORDINATOR_UNAVAILABLE.has(response.status)
        ? new CoordinatorUnreachableError(failure)
        : new UserError(failure);
    }
    return { value: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  /** Uploads a local file through the URLs the coordinator hands out (multipart for big files); returns its key. */
  async upload(path: string): Promise<string> {
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new Error();
      size = info.size;
    } catch {
      throw new UserError(`not a file: ${path}`);
    }
    const target = await this.request<UploadResponse>('POST', '/v1/uploads', { name: basename(path), size });
    if ('url' in target) {
      if (target.url.startsWith('file:')) {
        // A coordinator whose blob store is a directory this machine shares.
        const local = fileURLToPath(target.url);
        await mkdir(dirname(local), { recursive: true });
        await copyFile(path, local);
      } else {
        await uploadFile(path, target.url);
      }
      return target.key;
    }
    const { uploadId, partSize, parts, partUrls, pageSize } = target.multipart;
    const key = target.key;
    // A coordinator from before paging sends every part's URL and no page size.
    const urls: PartUrls =
      pageSize === undefined
        ? partUrls
        : {
            parts,
            first: partUrls,
            pageSize,
            sign: async (partNumbers) =>
              (
                await this.request<UploadPartsResponse>('POST', '/v1/uploads/parts', {
                  key,
                  uploadId,
                  partNumbers,
                })
              ).partUrls,
          };
    const etags = await uploadFileMultipart(path, urls, partSize);
    await this.request('POST', '/v1/uploads/complete', { key: target.key, uploadId, etags });
    return target.key;
  }
}

/**
 * Downloads a job's output from its presigned URL (or copies a `file:` URL) to `output`, through `partial`:
 * the file appears only when complete. A connection that breaks is resumed where it broke (HTTP Range), a
 * few times; past that, what was received stays in `partial` and the same command resumes it.
 */
export async function downloadTo(
  url: string,
  output: string,
  partial: string,
  onProgress?: ProgressCallback,
): Promise<void> {
  if (!existsSync(dirname(resolve(output))))
    throw new UserError(`output directory does not exist: ${dirname(resolve(output))}`);
  try {
    await fetchResumable(url, partial, { onProgress, attempts: DOWNLOAD_TRIES, responseTimeoutMs: 60_000 });
  } catch (error) {
    // A presigned URL is a credential for its minutes: it stays out of the message.
    throw new UserError((error as Error).message.replaceAll(url, url.split('?')[0]));
  }
  await rename(partial, output);
}
