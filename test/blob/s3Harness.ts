import { createHash, createHmac } from 'node:crypto';
import { readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { S3BlobStoreOptions } from '../../src/blob/s3BlobStore.js';

/**
 * A real S3 API server on loopback: s3rver (objects, multipart upload, DeleteObjects, Range GETs,
 * expiry of presigned URLs) behind a small front that makes it stricter where it is laxer than S3:
 * - presigned (query-string SigV4) requests have their signature checked; s3rver checks none;
 * - a PUT must carry a Content-Length and must not be chunked, as S3 demands;
 * - ListParts, AbortMultipartUpload and ListMultipartUploads, which s3rver lacks (HTTP 405 or 501),
 *   are served from s3rver's own upload directory, the lists in pages of LIST_PAGE entries so that a
 *   client's paging is exercised; an upload's initiation time is its `key` file's mtime.
 * Every request is recorded, and the next few part uploads can be made to fail.
 */

/** s3rver's built-in account. */
export const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';
export const LIST_PAGE = 2;

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  status?: number;
}

export interface S3Harness {
  endpoint: string;
  bucket: string;
  /** What an S3BlobStore needs to reach this server. */
  options: S3BlobStoreOptions;
  /** A plain SDK client, to check what the store did. */
  client: S3Client;
  requests: RecordedRequest[];
  /** The next `count` UploadPart PUTs are answered 503 SlowDown without being stored. */
  failNextPartUploads(count: number): void;
  /** Makes an unfinished upload look as if it had been started at `when` (epoch ms). */
  backdateUpload(uploadId: string, when: number): Promise<void>;
  close(): Promise<void>;
}

export interface S3HarnessOptions {
  /**
   * Answer browsers as a bucket with a CORS rule does: any origin may GET and PUT, and read the ETag of a
   * part it uploaded (what a bucket serving the dashboard's uploads needs).
   */
  cors?: boolean;
}

export async function startS3(
  directory: string,
  bucket = 'spotfuse-test',
  harness: S3HarnessOptions = {},
): Promise<S3Harness> {
  const s3 = new S3rver({ directory, silent: !process.env.S3RVER_LOG, vhostBuckets: false });
  const serve = s3.callback();
  const requests: RecordedRequest[] = [];
  let partFailures = 0;
  const uploadDir = (bucketName: string, uploadId: string) =>
    join(s3.store.getResourcePath(bucketName, undefined, 'uploads'), uploadId);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://loopback');
    const record: RecordedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
    };
    requests.push(record);
    // Noted as the head goes out (implicit heads go through writeHead too), so that a response the
    // client cut short (ffmpeg does when it seeks) still has its status.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      record.status = args[0] as number;
      return writeHead(...args);
    }) as typeof res.writeHead;
    const refuse = (status: number, code: string, message: string) => {
      // Read the body first, so that the client sees the answer and not a reset connection.
      req.resume();
      req.on('end', () => sendError(res, status, code, message));
    };
    if (harness.cors) {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-expose-headers', 'ETag');
      if (req.method === 'OPTIONS') {
        res.writeHead(200, {
          'access-control-allow-methods': 'GET, PUT',
          'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
          'access-control-max-age': '600',
        });
        return void res.end();
      }
    }
    if (url.searchParams.has('X-Amz-Signature') && !signatureMatches(req, url))
      return refuse(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match.');
    if (req.method === 'PUT' && req.headers['transfer-encoding'] !== undefined)
      return refuse(
        501,
        'NotImplemented',
        'A header you provided implies functionality that is not implemented',
      );
    if (req.method === 'PUT' && req.headers['content-length'] === undefined)
      return refuse(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
    const [, bucketName, ...keyPath] = url.pathname.split('/');
    const uploadId = url.searchParams.get('uploadId');
    if (req.method === 'GET' && url.searchParams.has('uploads') && keyPath.join('') === '')
      return void listUploads(res, s3.store.getResourcePath(bucketName, undefined, 'uploads'), {
        bucketName,
        url,
      });
    if (uploadId && keyPath.length > 0) {
      const key = decodeURIComponent(keyPath.join('/'));
      if (req.method === 'PUT' && partFailures > 0) {
        partFailures--;
        return refuse(503, 'SlowDown', 'Please reduce your request rate.');
      }
      if (req.method === 'GET')
        return void listParts(res, uploadDir(bucketName, uploadId), { bucketName, key, uploadId, url });
      if (req.method === 'DELETE') return void abortUpload(res, uploadDir(bucketName, uploadId));
    }
    serve(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const options: S3BlobStoreOptions = {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
  };
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    options,
    client,
    requests,
    failNextPartUploads(count) {
      partFailures = count;
    },
    async backdateUpload(uploadId, when) {
      const seconds = when / 1000;
      await utimes(join(uploadDir(bucket, uploadId), 'key'), seconds, seconds);
    },
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      s3.logger.close();
    },
  };
}

const xmlEscape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function sendXml(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendXml(res, status, `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`);
}

async function listParts(
  res: ServerResponse,
  dir: string,
  request: { bucketName: string; key: string; uploadId: string; url: URL },
): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
  }
  const marker = Number(request.url.searchParams.get('part-number-marker') ?? 0);
  const max = Math.min(Number(request.url.searchParams.get('max-parts') ?? LIST_PAGE), LIST_PAGE);
  const after = names
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((n) => n > marker)
    .sort((a, b) => a - b);
  const page = after.slice(0, max);
  const parts = await Promise.all(
    page.map(async (n) => {
      const file = join(dir, String(n));
      const [info, md5] = await Promise.all([stat(file), readFile(`${file}.md5`, 'utf8')]);
      return `<Part><PartNumber>${n}</PartNumber><LastModified>${info.mtime.toISOString()}</LastModified><ETag>&quot;${md5.trim()}&quot;</ETag><Size>${info.size}</Size></Part>`;
    }),
  );
  sendXml(
    res,
    200,
    '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xmlEscape(request.bucketName)}</Bucket><Key>${xmlEscape(request.key)}</Key>` +
      `<UploadId>${xmlEscape(request.uploadId)}</UploadId><PartNumberMarker>${marker}</PartNumberMarker>` +
      `<NextPartNumberMarker>${page.at(-1) ?? marker}</NextPartNumberMarker><MaxParts>${max}</MaxParts>` +
      `<IsTruncated>${after.length > page.length}</IsTruncated>${parts.join('')}</ListPartsResult>`,
  );
}

async function listUploads(
  res: ServerResponse,
  dir: string,
  request: { bucketName: string; url: URL },
): Promise<void> {
  const q = request.url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const idMarker = q.get('upload-id-marker') ?? '';
  const max = Math.min(Number(q.get('max-uploads') ?? LIST_PAGE), LIST_PAGE);
  const ids = await readdir(dir).catch(() => [] as string[]);
  const uploads = (
    await Promise.all(
      ids.map(async (uploadId) => {
        try {
          const file = join(dir, uploadId, 'key');
          const [key, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
          return [{ key, uploadId, initiated: info.mtime }];
        } catch {
          return []; // Completed or aborted meanwhile.
        }
      }),
    )
  )
    .flat()
    .filter((u) => u.key.startsWith(prefix))
    .filter((u) => u.key > keyMarker || (u.key === keyMarker && u.uploadId > idMarker))
    .sort((a, b) => (a.key === b.key ? (a.uploadId < b.uploadId ? -1 : 1) : a.key < b.key ? -1 : 1));
  const page = uploads.slice(0, max);
  const last = page.at(-1);
  sendXml(
    res,
    200,
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xmlEscape(request.bucketName)}</Bucket><KeyMarker>${xmlEscape(keyMarker)}</KeyMarker>` +
      `<UploadIdMarker>${xmlEscape(idMarker)}</UploadIdMarker>` +
      `<NextKeyMarker>${xmlEscape(last?.key ?? '')}</NextKeyMarker>` +
      `<NextUploadIdMarker>${xmlEscape(last?.uploadId ?? '')}</NextUploadIdMarker>` +
      `<Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>${max}</MaxUploads>` +
      `<IsTruncated>${uploads.length > page.length}</IsTruncated>` +
      page
        .map(
          (u) =>
            `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${xmlEscape(u.uploadId)}</UploadId>` +
            `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
        )
        .join('') +
      '</ListMultipartUploadsResult>',
  );
}

async function abortUpload(res: ServerResponse, dir: string): Promise<void> {
  try {
    await stat(dir);
  } catch {
    return sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
  }
  await rm(dir, { recursive: true, force: true });
  res.writeHead(204).end();
}

const rfc3986 = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const hmac = (key: string | Buffer, text: string) => createHmac('sha256', key).update(text).digest();

/** Checks a query-string SigV4 signature the way S3 does (path as sent, no normalisation). */
function signatureMatches(req: IncomingMessage, url: URL): boolean {
  const q = url.searchParams;
  const [accessKey, date, region, service, terminator] = (q.get('X-Amz-Credential') ?? '').split('/');
  if (accessKey !== ACCESS_KEY || q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return false;
  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  const raw = req.url ?? '/';
  const queryStart = raw.indexOf('?');
  const query = raw
    .slice(queryStart + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const [name, value] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
      return [rfc3986(decodeURIComponent(name)), rfc3986(decodeURIComponent(value))] as const;
    })
    .filter(([name]) => name !== 'X-Amz-Signature')
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const headers = signedHeaders
    .map(
      (name) =>
        `${name}:${String(req.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonical = [
    req.method,
    raw.slice(0, queryStart),
    query,
    headers,
    signedHeaders.join(';'),
    q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    q.get('X-Amz-Date'),
    [date, region, service, terminator].join('/'),
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  let key: string | Buffer = `AWS4${SECRET_KEY}`;
  for (const part of [date, region, service, 'aws4_request']) key = hmac(key, part);
  return hmac(key, stringToSign).toString('hex') === q.get('X-Amz-Signature');
}
