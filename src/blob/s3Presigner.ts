import {
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import type { FinalizeRequestMiddleware, HttpRequest } from '@smithy/types';

export type PresignedMethod = 'GET' | 'PUT';

/** What the presigned requests of one method have in common. */
interface RequestTemplate {
  request: HttpRequest;
  /** The request's path up to the object key. */
  pathPrefix: string;
  presigner: S3RequestPresigner;
  signingRegion?: string;
}

/** The key the templates are built for: its path is what each URL replaces. */
const PROBE_KEY = 'spotfuse-template';

/** What the client's stack leaves for the signer: as `getSignedUrl` intercepts it, before the auth step. */
interface Captured {
  request: HttpRequest;
  context: {
    signing_region?: string;
    endpointV2?: { properties?: { authSchemes?: Array<{ signingRegion?: string; signingName?: string }> } };
  };
}

/**
 * Presigned GET and PUT URLs of one bucket's objects, as the SDK's `getSignedUrl` makes them (the same URL for
 * the same key, lifetime and signing time) at a fraction of its CPU. `getSignedUrl` runs the client's whole
 * middleware stack for each URL (endpoint rules, serializers, retry and checksum steps): 0.3 ms of CPU a URL,
 * 3 s for the 10,000 segment URLs of a long job's merge claim, while the coordinator answers nothing else.
 * Every request of one method differs only in its key's path (and a PUT's signed length), so the stack runs
 * once per method and key shape to build a template, and each URL is then only signed, by the SDK's signer.
 */
export class S3Presigner {
  private readonly templates = new Map<string, Promise<RequestTemplate>>();

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /**
   * A URL that `method`s `objectKey` for `expiresIn` seconds; `contentLength` is signed into a PUT, which then
   * takes a body of exactly that many bytes. `signingDate`: the moment the URL is signed as of (now).
   */
  async presign(
    method: PresignedMethod,
    objectKey: string,
    expiresIn: number,
    contentLength?: number,
    signingDate?: Date,
  ): Promise<string> {
    const template = await this.template(method, contentLength !== undefined);
    const headers = { ...template.request.headers };
    if (contentLength !== undefined) headers['content-length'] = String(contentLength);
    const signed = await template.presigner.presign(
      {
        ...template.request,
        headers,
        query: { ...template.request.query },
        path: template.pathPrefix + encodeKeyPath(objectKey),
      },
      { expiresIn, signingDate, signingRegion: template.signingRegion },
    );
    return formatUrl(signed);
  }

  private template(method: PresignedMethod, sized: boolean): Promise<RequestTemplate> {
    const name = `${method}${sized ? ' sized' : ''}`;
    let template = this.templates.get(name);
    if (!template) {
      template = this.buildTemplate(method, sized);
      this.templates.set(name, template);
      // A failure (credentials not found yet, say) is not kept: the next URL tries again.
      template.catch(() => this.templates.delete(name));
    }
    return template;
  }

  private async buildTemplate(method: PresignedMethod, sized: boolean): Promise<RequestTemplate> {
    const input = { Bucket: this.bucket, Key: PROBE_KEY };
    const command =
      method === 'GET'
        ? new GetObjectCommand(input)
        : new PutObjectCommand({ ...input, ContentLength: sized ? 1 : undefined });
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
    await command.resolveMiddleware(stack, this.client.config, {})({ input: command.input });
    if (!captured) throw new Error(`the S3 client built no ${method} request to presign`);
    const { request, context } = captured;
    const probePath = `/${PROBE_KEY}`;
    if (!request.path.endsWith(probePath))
      throw new Error(`unexpected path in the S3 client's ${method} request: ${request.path}`);
    // Per request, never signed into a URL (getSignedUrl drops them too).
    const headers = { ...request.headers };
    for (const name of ['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent']) delete headers[name];
    const authScheme = context.endpointV2?.properties?.authSchemes?.[0];
    const region = authScheme?.signingRegion;
    return {
      request: { ...request, headers },
      pathPrefix: request.path.slice(0, -PROBE_KEY.length),
      presigner: new S3RequestPresigner({
        ...this.client.config,
        signingName: authScheme?.signingName,
        region: async () => region ?? (await this.client.config.region()),
      }),
      signingRegion: context.signing_region ?? region,
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

/** The URL of a signed request, written as the SDK writes it (query parameters sorted by name). */
function formatUrl(request: HttpRequest): string {
  const host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
  const params = request.query ?? {};
  const query = Object.keys(params)
    .sort()
    .flatMap((name) => {
      const value = params[name];
      const values = Array.isArray(value) ? value : [value];
      return values.map((v) =>
        v === null || v === undefined ? encodeStrictly(name) : `${encodeStrictly(name)}=${encodeStrictly(v)}`,
      );
    })
    .join('&');
  const protocol = request.protocol.endsWith(':') ? request.protocol : `${request.protocol}:`;
  return `${protocol}//${host}${request.path}${query ? `?${query}` : ''}`;
}
