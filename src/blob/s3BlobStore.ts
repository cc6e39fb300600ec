import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
// Types only, from the SDK's own dependency: what a middleware on the client's stack looks like.
import type { BuildMiddleware } from '@smithy/types';
import { UserError } from '../core/errors.js';
import { inParallel } from '../core/inParallel.js';
import type { BlobStore, MultipartUpload, PartLengths, UploadedPart } from './blobStore.js';
import { MAX_OBJECT_SIZE, MAX_PARTS, partLength } from './s3Limits.js';
import { S3Presigner } from './s3Presigner.js';

/**
 * Blobs in an S3-compatible bucket (AWS S3, GCS interoperability, Alibaba OSS, MinIO, Ceph RGW).
 * The coordinator only signs: workers and clients move the bytes themselves through presigned
 * URLs (GET to read, PUT to write, one PUT per part for big uploads), so video never passes
 * through the coordinator.
 */

export interface S3BlobStoreOptions {
  /** Service URL for anything but AWS, e.g. `https://storage.googleapis.com`, `http://minio:9000`. */
  endpoint?: string;
  /** Default: AWS_REGION, then AWS_DEFAULT_REGION, then `us-east-1` (what MinIO and Ceph expect). */
  region?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, Ceph, loopback). */
  forcePathStyle?: boolean;
  /** Explicit keys; without them the SDK's default chain (environment, profile, web identity, IMDS). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /**
   * Lifetime of every presigned URL, in seconds (SigV4 allows at most 7 days). A URL signed with
   * temporary credentials (instance role, web identity) stops working when they expire, whatever
   * this says.
   */
  urlTtlSeconds?: number;
}

export const DEFAULT_URL_TTL_SECONDS = 6 * 60 * 60;
const MAX_URL_TTL_SECONDS = 7 * 24 * 60 * 60;
/** Part URLs signed between two turns of the event loop: ~0.1 ms of CPU. */
const SIGN_BATCH = 10;
/** Keys per DeleteObjects request: S3's limit. */
const DELETE_BATCH = 1000;
const MAX_KEY_BYTES = 1024;

/** An unfinished multipart upload under the store's prefix. */
export interface PendingUpload {
  /** The blob key (without the store's prefix). */
  key: string;
  uploadId: string;
  /** When it was started, epoch milliseconds. */
  initiatedAt: number;
}

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slash; empty for the whole bucket. */
  prefix: string;
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** A relative path of plain names: not absolute, no `..`, `.` or empty segment, no backslash or control character. */
function isPlainPath(path: string): boolean {
  return (
    path !== '' &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
    !/[\\\u0000-\u001f\u007f]/.test(path) &&
    path.split('/').every((s) => s !== '' && s !== '.' && s !== '..')
  );
}

/** `s3://bucket[/prefix]`, checked; a UserError says what is wrong with anything else. */
export function parseS3Location(text: string): S3Location {
  const match = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(text);
  if (!match) throw new UserError(`not an S3 location: ${text} (expected s3://bucket[/prefix])`);
  const bucket = match[1];
  if (!BUCKET.test(bucket))
    throw new UserError(
      `invalid bucket name in ${text}: 3 to 63 lowercase letters, digits, dots, hyphens or underscores`,
    );
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '' && !isPlainPath(prefix))
    throw new UserError(`invalid prefix in ${text}: no empty, "." or ".." path segments`);
  return { bucket, prefix };
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly urlTtlSeconds: number;
  private readonly client: S3Client;
  private readonly presigner: S3Presigner;
  /** The last batch of part URLs queued for signing (see partUrls). */
  private signingQueue: Promise<unknown> = Promise.resolve();
  /** Set once the service has said it has no DeleteObjects (GCS's XML API): delete one by one. */
  private singleDeletes = false;

  constructor(location: string | S3Location, options: S3BlobStoreOptions = {}) {
    ({ bucket: this.bucket, prefix: this.prefix } =
      typeof location === 'string' ? parseS3Location(location) : location);
    this.urlTtlSeconds = options.urlTtlSeconds ?? DEFAULT_URL_TTL_SECONDS;
    if (
      !Number.isInteger(this.urlTtlSeconds) ||
      this.urlTtlSeconds < 1 ||
      this.urlTtlSeconds > MAX_URL_TTL_SECONDS
    )
      throw new UserError(
        `URL lifetime must be 1 to ${MAX_URL_TTL_SECONDS} seconds: ${options.urlTtlSeconds}`,
      );
    if (options.endpoint !== undefined && !/^https?:\/\/[^/?#]+/i.test(options.endpoint))
      throw new UserError(`S3 endpoint must be an http(s) URL: ${options.endpoint}`);
    if (Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey))
      throw new UserError('S3 access key id and secret access key go together: give both or neither');
    this.client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? {
              accessKeyId: options.accessKeyId,
              secretAccessKey: options.secretAccessKey,
              sessionToken: options.sessionToken,
            }
          : undefined,
      // The SDK's default (a CRC32 on every request) bakes the checksum of an empty body into
      // presigned PUT URLs, which then refuse the real bytes, and OSS, GCS and older MinIO and Ceph
      // do not know these checksums. Only operations that require one get one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.presigner = new S3Presigner(this.client, this.bucket);
  }

  /** The object key of a blob key: under the prefix, or an error for a key that would leave it. */
  objectKey(key: string): string {
    if (!isPlainPath(key))
      throw new Error(`blob key escapes the store or is not a plain relative path: ${JSON.stringify(key)}`);
    const objectKey = this.prefix ? `${this.prefix}/${key}` : key;
    if (Buffer.byteLength(objectKey) > MAX_KEY_BYTES)
      throw new Error(`blob key too long (S3 allows ${MAX_KEY_BYTES} bytes): ${key}`);
    return objectKey;
  }

  async readUrl(key: string): Promise<string> {
    return this.presigner.presign('GetObject', this.objectKey(key), this.urlTtlSeconds);
  }

  /** With `size`, Content-Length is signed: the URL takes a body of exactly `size` bytes and no other. */
  async writeUrl(key: string, size?: number): Promise<string> {
    if (size !== undefined) checkSize(size);
    return this.presigner.presign('PutObject', this.objectKey(key), this.urlTtlSeconds, {
      contentLength: size,
    });
  }

  /** Removes the blobs (missing ones are no error), up to 1,000 per request. */
  async delete(keys: readonly string[]): Promise<void> {
    const objectKeys = [...new Set(keys.map((key) => this.objectKey(key)))];
    for (let i = 0; i < objectKeys.length; i += DELETE_BATCH) {
      const batch = objectKeys.slice(i, i + DELETE_BATCH);
      if (!this.singleDeletes) {
        try {
          const command = new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          });
          sendMd5(command);
          const result = await this.client.send(command);
          const errors = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
          if (errors.length > 0) {
            const [first] = errors;
            throw new Error(
              `could not delete ${errors.length} blob(s) from s3://${this.bucket}, e.g. ${first.Key}: ${first.Code} ${first.Message ?? ''}`.trim(),
            );
          }
          continue;
        } catch (error) {
          if (nameOf(error) !== 'NotImplemented' && statusOf(error) !== 501) throw error;
          this.singleDeletes = true;
        }
      }
      await inParallel(batch, 8, (Key) =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })),
      );
    }
  }

  /** Every page of ListObjectsV2 under the prefix. */
  async list(prefix: string): Promise<string[]> {
    // A folder's prefix ends in `/`, which no blob key does.
    const under = prefix.endsWith('/') ? `${this.objectKey(prefix.slice(0, -1))}/` : this.objectKey(prefix);
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: under, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(strip));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Size in bytes, or undefined when there is no such blob. */
  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return head.ContentLength ?? 0;
    } catch (error) {
      if (statusOf(error) === 404 || nameOf(error) === 'NotFound' || nameOf(error) === 'NoSuchKey')
        return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.size(key)) !== undefined;
  }

  /** Fails with a UserError that says why when the bucket cannot be used (missing, no access, unreachable). */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) throw new UserError(`bucket not found: s3://${this.bucket}`);
      if (status === 301 || status === 400)
        throw new UserError(`bucket s3://${this.bucket} is in another region than configured`);
      if (status === 403) throw new UserError(`access denied to bucket s3://${this.bucket}`);
      const reason = error instanceof Error ? error.message : String(error);
      throw new UserError(`cannot reach bucket s3://${this.bucket}: ${reason}`);
    }
  }

  /**
   * Starts an upload of `parts` parts (see planMultipart) and signs a PUT URL for each of the first
   * `signParts` (default: all of them; the rest come from `partUrls`). The caller PUTs part n to
   * `partUrls[n - 1]`, keeps the ETag of each response and completes the upload.
   */
  async createMultipartUpload(
    key: string,
    parts: number,
    lengths?: PartLengths,
    signParts = parts,
  ): Promise<MultipartUpload> {
    checkPartNumber(parts);
    const objectKey = this.objectKey(key);
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey }),
    );
    if (!created.UploadId) throw new Error(`no upload id from s3://${this.bucket} for ${objectKey}`);
    const numbers = Array.from({ length: Math.max(0, Math.min(parts, signParts)) }, (_, i) => i + 1);
    return {
      uploadId: created.UploadId,
      partUrls: await this.partUrls(key, created.UploadId, numbers, lengths),
    };
  }

  /**
   * Fresh UploadPart URLs (more parts of an upload, or to resume one whose URLs have expired), in the
   * order asked. With `lengths`, each signs its part's Content-Length: it takes exactly that part's bytes.
   * Signing is CPU work (0.01 ms a URL) that never waits on I/O: signed in batches, one
   * batch at a time for all callers together, each after a turn of the event loop, so that other
   * requests get through while thousands are signed.
   */
  async partUrls(
    key: string,
    uploadId: string,
    partNumbers: readonly number[],
    lengths?: PartLengths,
  ): Promise<string[]> {
    const objectKey = this.objectKey(key);
    if (lengths) checkSize(lengths.size);
    for (const n of partNumbers) checkPartNumber(n);
    const urls: string[] = [];
    for (let i = 0; i < partNumbers.length; i += SIGN_BATCH) {
      const batch = partNumbers.slice(i, i + SIGN_BATCH);
      const signed = await this.inSigningTurn(() =>
        Promise.all(
          batch.map((number) =>
            this.presigner.presign('UploadPart', objectKey, this.urlTtlSeconds, {
              contentLength: lengths && partLength(lengths, number),
              part: { uploadId, number },
            }),
          ),
        ),
      );
      urls.push(...signed);
    }
    return urls;
  }

  /** Runs `sign` after every batch queued before it, and after a turn of the event loop. */
  private inSigningTurn<T>(sign: () => Promise<T>): Promise<T> {
    const turn = this.signingQueue.then(async () => {
      await setImmediate();
      return sign();
    });
    this.signingQueue = turn.catch(() => {});
    return turn;
  }

  /** Joins the parts into the object: `etags[n - 1]` is the ETag the store gave part n. */
  async completeMultipartUpload(key: string, uploadId: string, etags: readonly string[]): Promise<void> {
    if (etags.length === 0) throw new Error('a multipart upload needs at least one part');
    checkPartNumber(etags.length);
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
  }

  /** Drops an unfinished upload and its parts; one that is already gone is no error. */
  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          UploadId: uploadId,
        }),
      );
    } catch (error) {
      if (nameOf(error) !== 'NoSuchUpload' && statusOf(error) !== 404) throw error;
    }
  }

  /** The parts an unfinished upload already has, by part number (all pages). */
  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    const objectKey = this.objectKey(key);
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListPartsCommand({
          Bucket: this.bucket,
          Key: objectKey,
          UploadId: uploadId,
          PartNumberMarker: marker,
        }),
      );
      for (const part of page.Parts ?? []) {
        if (part.PartNumber === undefined || part.ETag === undefined) continue;
        parts.push({ partNumber: part.PartNumber, etag: part.ETag, size: part.Size ?? 0 });
      }
      const next = page.NextPartNumberMarker;
      if (!page.IsTruncated || next === undefined || next === marker) break;
      marker = next;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /** Every unfinished multipart upload under the prefix (all pages). */
  async listMultipartUploads(): Promise<PendingUpload[]> {
    const prefix = this.prefix ? `${this.prefix}/` : '';
    const uploads: PendingUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix || undefined,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key?.startsWith(prefix) || !upload.UploadId) continue;
        uploads.push({
          key: upload.Key.slice(prefix.length),
          uploadId: upload.UploadId,
          initiatedAt: upload.Initiated?.getTime() ?? 0,
        });
      }
      const next = [page.NextKeyMarker, page.NextUploadIdMarker] as const;
      if (!page.IsTruncated || (next[0] === keyMarker && next[1] === uploadIdMarker)) break;
      [keyMarker, uploadIdMarker] = next;
    }
    return uploads;
  }

  /** Closes the client's pooled connections. */
  close(): void {
    this.client.destroy();
  }
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OBJECT_SIZE)
    throw new Error(`invalid object size: ${size}`);
}

function checkPartNumber(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS)
    throw new Error(`part number out of range 1..${MAX_PARTS}: ${n}`);
}

/**
 * DeleteObjects must carry a checksum of its body. The SDK sends a CRC32, which AWS accepts but
 * MinIO, Ceph, OSS and other S3-compatible stores refuse (MissingContentMD5): send Content-MD5,
 * which every one of them, AWS included, accepts. Runs after the SDK's checksum step, before signing.
 */
function sendMd5(command: DeleteObjectsCommand): void {
  const middleware: BuildMiddleware<DeleteObjectsCommandInput, DeleteObjectsCommandOutput> =
    (next) => (args) => {
      const request = (args as BuildArgs).request;
      const headers = request?.headers;
      if (headers) {
        for (const name of Object.keys(headers)) {
          const lower = name.toLowerCase();
          if (
            lower.startsWith('x-amz-checksum-') ||
            lower.startsWith('x-amz-sdk-checksum-') ||
            lower === 'content-md5'
          )
            delete headers[name];
        }
        const body = request?.body;
        if (typeof body === 'string' || body instanceof Uint8Array)
          headers['content-md5'] = createHash('md5').update(body).digest('base64');
      }
      return next(args);
    };
  command.middlewareStack.addRelativeTo(middleware, {
    relation: 'after',
    toMiddleware: 'flexibleChecksumsMiddleware',
    name: 'spotfuseDeleteObjectsMd5',
  });
}

interface BuildArgs {
  request?: { headers?: Record<string, string>; body?: unknown };
}
