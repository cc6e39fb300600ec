import { createHash, createHmac } from 'node:crypto';
import {
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware, HttpRequest } from '@smithy/types';

/** What a URL does: read an object (GET), write one (PUT), or write one part of a multipart upload (PUT). */
export type PresignedOperation = 'GetObject' | 'PutObject' | 'UploadPart';

export interface PresignOptions {
  /** Signed into a PUT, which then takes a body of exactly that many bytes. */
  contentLength?: number;
  /** For UploadPart: which upload, and which part of it. */
  part?: { uploadId: string; number: number };
  /** The moment the URL is signed as of (now). */
  signingDate?: Date;
}

/** What the presigned requests of one operation have in common. */
interface RequestTemplate {
  method: string;
  /** Up to the object key, e.g. `https://bucket.s3.eu-west-1.amazonaws.com/`. */
  urlPrefix: string;
  /** The request's path up to the object key. */
  pathPrefix: string;
  host: string;
  /** The query the client's stack adds (`x-id=GetObject`) but a part's, encoded, before the signature's. */
  query: Array<[string, string]>;
  region: string;
  service: string;
}

/** The key the templates are built for: its path is what each URL replaces. */
const PROBE_KEY = 'spotfuse-template';
const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** Headers of the client's request that no presigned URL signs (as the SDK's presigner leaves them out). */
const UNSIGNED_HEADERS = new Set([
  'user-agent',
  'content-type',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'x-amz-user-agent',
]);

/** What the client's stack leaves for the signer: as `getSignedUrl` intercepts it, before the auth step. */
interface Captured {
  request: HttpRequest;
  context: {
    signing_region?: string;
    endpointV2?: { properties?: { authSchemes?: Array<{ signingRegion?: string; signingName?: string }> } };
  };
}

/**
 * Presigned URLs (GetObject, PutObject, UploadPart) of one bucket's objects, as the SDK's `getSignedUrl` makes
 * them (the same URL for the same key, lifetime, credentials and signing time) at a thirtieth of its CPU.
 * `getSignedUrl` runs the client's whole middleware stack for each URL (endpoint rules, serializers, retry and
 * checksum steps): 0.3 ms of CPU a URL, 3 s for the 10,000 segment URLs of a long job's merge claim, while the
 * coordinator answers nothing else; here 0.01 ms. Every request of one operation differs only in its key's
 * path (a PUT's signed length, a part's number and upload), so the stack runs once per operation to build a
 * template (endpoint, addressing style, signing region), and each URL is then signed with AWS Signature
 * Version 4 by query parameters, with the client's own credentials (refreshed as the SDK refreshes them).
 */
export class S3Presigner {
  private readonly templates = new Map<string, Promise<RequestTemplate>>();
  /** The last signing key made: one a day per region and credentials. */
  private signingKey: { scope: string; secret: string; key: Buffer } | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /** A URL for `operation` on `objectKey`, valid for `expiresIn` seconds. */
  async presign(
    operation: PresignedOperation,
    objectKey: string,
    expiresIn: number,
    { contentLength, part, signingDate = new Date() }: PresignOptions = {},
  ): Promise<string> {
    if ((operation === 'UploadPart') !== (part !== undefined))
      throw new Error(`${operation} ${part ? 'takes no' : 'needs a'} part`);
    const [template, credentials] = await Promise.all([
      this.template(operation, contentLength !== undefined),
      this.client.config.credentials(),
    ]);
    const amzDate = signingDate
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z')
      .replace(/[-:]/g, '');
    const day = amzDate.slice(0, 8);
    const scope = `${day}/${template.region}/${template.service}/aws4_request`;
    const headers =
      contentLength === undefined
        ? { names: 'host', lines: `host:${template.host}\n` }
        : { names: 'content-length;host', lines: `content-length:${contentLength}\nhost:${template.host}\n` };
    // Encoded once, for the canonical request and the URL: names, and values that are not plain already.
    const query: Array<[string, string]> = [
      ...template.query,
      ['X-Amz-Algorithm', ALGORITHM],
      ['X-Amz-Content-Sha256', UNSIGNED_PAYLOAD],
      ['X-Amz-Credential', encodeStrictly(`${credentials.accessKeyId}/${scope}`)],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(expiresIn)],
      ['X-Amz-SignedHeaders', encodeStrictly(headers.names)],
    ];
    if (part) query.push(['partNumber', String(part.number)], ['uploadId', encodeStrictly(part.uploadId)]);
    if (credentials.sessionToken)
      query.push(['X-Amz-Security-Token', encodeStrictly(credentials.sessionToken)]);
    const keyPath = encodeKeyPath(objectKey);
    const canonicalRequest = [
      template.method,
      template.pathPrefix + keyPath,
      queryString(query),
      headers.lines,
      headers.names,
      UNSIGNED_PAYLOAD,
    ].join('\n');
    const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const signature = createHmac('sha256', this.keyFor(scope, credentials.secretAccessKey))
      .update(stringToSign)
      .digest('hex');
    query.push(['X-Amz-Signature', signature]);
    return `${template.urlPrefix}${keyPath}?${queryString(query)}`;
  }

  private keyFor(scope: string, secret: string): Buffer {
    if (this.signingKey?.scope !== scope || this.signingKey.secret !== secret) {
      const [day, ...rest] = scope.split('/');
      let key = createHmac('sha256', `AWS4${secret}`).update(day).digest();
      for (const part of rest) key = createHmac('sha256', key).update(part).digest();
      this.signingKey = { scope, secret, key };
    }
    return this.signingKey.key;
  }

  private template(operation: PresignedOperation, sized: boolean): Promise<RequestTemplate> {
    const name = `${operation}${sized ? ' sized' : ''}`;
    let template = this.templates.get(name);
    if (!template) {
      template = this.buildTemplate(operation, sized);
      this.templates.set(name, template);
      // A failure (the endpoint rules refusing the bucket's name, say) is not kept: the next URL tries again.
      template.catch(() => this.templates.delete(name));
    }
    return template;
  }

  private async buildTemplate(operation: PresignedOperation, sized: boolean): Promise<RequestTemplate> {
    let captured: Captured | undefined;
    const capture: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
      (_next, context) => async (args) => {
        captured = { request: args.request as HttpRequest, context: context as Captured['context'] };
        return { output: { $metadata: {} }, response: {} };
      };
    const stack = this.client.middlewareStack.clone();
    stack.addRelativeTo(capture, {
      name: 'spotfuseRequestTemplate',
      relation: 'before',
      toMiddleware: 'awsAuthMiddleware',
      override: true,
    });
    const input = { Bucket: this.bucket, Key: PROBE_KEY, ContentLength: sized ? 1 : undefined };
    const { config } = this.client;
    if (operation === 'GetObject') {
      const command = new GetObjectCommand(input);
      await command.resolveMiddleware(stack, config, {})({ input: command.input });
    } else if (operation === 'PutObject') {
      const command = new PutObjectCommand(input);
      await command.resolveMiddleware(stack, config, {})({ input: command.input });
    } else {
      const command = new UploadPartCommand({ ...input, UploadId: PROBE_KEY, PartNumber: 1 });
      await command.resolveMiddleware(stack, config, {})({ input: command.input });
    }
    if (!captured) throw new Error(`the S3 client built no ${operation} request to presign`);
    const { request, context } = captured;
    if (!request.path.endsWith(`/${PROBE_KEY}`))
      throw new Error(`unexpected path in the S3 client's ${operation} request: ${request.path}`);
    // The signature covers the host (and a sized PUT's length) only: a header the client starts to send
    // one day would need signing too, and is refused here rather than signed wrong.
    const signed = Object.keys(request.headers)
      .map((header) => header.toLowerCase())
      .filter((header) => !UNSIGNED_HEADERS.has(header) && header !== 'host' && header !== 'content-length');
    if (signed.length > 0)
      throw new Error(
        `the S3 client's ${operation} request carries headers this presigner does not sign: ${signed}`,
      );
    // A part's number and upload are each URL's own; anything else is the same for every URL.
    const { partNumber, uploadId, ...query } = request.query ?? {};
    if (
      Object.values(query).some((value) => typeof value !== 'string') ||
      (operation === 'UploadPart') !== (partNumber === '1' && uploadId === PROBE_KEY)
    )
      throw new Error(
        `unexpected query in the S3 client's ${operation} request: ${JSON.stringify(request.query)}`,
      );
    const authScheme = context.endpointV2?.properties?.authSchemes?.[0];
    const host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
    const pathPrefix = request.path.slice(0, -PROBE_KEY.length);
    const protocol = request.protocol.endsWith(':') ? request.protocol : `${request.protocol}:`;
    return {
      method: request.method,
      urlPrefix: `${protocol}//${host}${pathPrefix}`,
      pathPrefix,
      host: request.headers.host ?? host,
      query: Object.entries(query).map(([name, value]) => [
        encodeStrictly(name),
        encodeStrictly(String(value)),
      ]),
      region: context.signing_region ?? authScheme?.signingRegion ?? (await this.client.config.region()),
      service: authScheme?.signingName ?? 's3',
    };
  }
}

/** An object key as S3 request paths carry it: each segment percent-encoded, `!'()*` too; slashes kept. */
function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeStrictly).join('/');
}

function encodeStrictly(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Encoded names and values, sorted by name: the canonical query of Signature Version 4, and the URL's. */
function queryString(query: Array<[string, string]>): string {
  return [...query]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
