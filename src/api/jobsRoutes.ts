import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type BlobStore, hasMultipart } from '../blob/blobStore.js';
import { MAX_OBJECT_SIZE, planMultipart } from '../blob/s3Limits.js';
import {
  DEFAULT_MAX_UPLOAD_BYTES,
  declaredUploadSize,
  submitJob,
  uploadKey,
  uploadPrefix,
} from '../coordinator/clusterJobs.js';
import { type JobsStore, jobServices } from '../coordinator/jobServices.js';
import type { Metrics } from '../coordinator/metrics.js';
import { PreviewRefused, type PreviewSettings, Previews } from '../coordinator/previews.js';
import { AdmissionRefused, type TenantLimits } from '../coordinator/tenantLimits.js';
import { UserError } from '../core/errors.js';
import type { FallbackPolicy } from '../core/fallback.js';
import { loadPriceTable, type PriceTable } from '../cost/prices.js';
import { JobListQuery } from '../protocol/jobViews.js';
import {
  CompleteUploadBody,
  JobIdParams,
  JobReportQuery,
  PreviewBody,
  SubmitBody,
  UploadBody,
  UploadPartsBody,
  type UploadPartsResponse,
  type UploadResponse,
} from '../protocol/wire.js';
import { type Principal, requireRole } from './auth.js';
import {
  type RateLimitOptions,
  rateLimit,
  rateLimitKey,
  TokenBuckets,
  tooManyRequests,
} from './rateLimit.js';

export interface JobsRoutesOptions {
  /** What the job services read and write (see coordinator/jobServices.ts); the routes never call it. */
  store: JobsStore;
  blobs: BlobStore;
  /** Chunks a job is planned for at least (the workers expected to run at once). Default 4. */
  parallelism?: number;
  /** Uploads above this many bytes go in parts, where the blob store can (default 64 MiB). */
  multipartThresholdBytes?: number;
  /** Largest upload handed a URL (default 50 GiB). */
  maxUploadBytes?: number;
  /** Part size of tenants' multipart uploads where S3's limits allow (default 64 MiB). */
  multipartPartBytes?: number;
  /** Part URLs one response carries at most: the rest are asked for a page at a time (default 100). */
  partUrlPage?: number;
  /** Per tenant token (default 10 requests/s, bursts of 30). */
  rateLimit?: Omit<RateLimitOptions, 'now'>;
  /**
   * Part URLs signed per tenant token, charged by the URL: signing is CPU work on the event loop
   * (default 50 URLs/s, bursts of 500; the burst must hold a page).
   */
  partUrlRate?: Omit<RateLimitOptions, 'now'>;
  /** Prices job reports are costed at (default: the shipped table, local workers free). */
  prices?: PriceTable;
  /** Whether jobs may ask for email notifications (the coordinator has an SMTP server). */
  email?: boolean;
  /** What one job and one tenant may queue (default DEFAULT_TENANT_LIMITS). */
  limits?: TenantLimits;
  /** Counts the submissions each limit refused. */
  metrics?: Pick<Metrics, 'admissionRefused'>;
  /** The coordinator's on-demand fallback policy, for the reports of running jobs. */
  fallback?: FallbackPolicy;
  /** `POST /v1/previews` runs a frame through a chain here, with these models; absent: previews are refused. */
  previews?: PreviewSettings;
  now?: () => number;
}

function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route reached without authentication');
  return request.principal;
}

/** The tenant a caller acts for; uploads and submissions need one. */
function tenantOf(request: FastifyRequest, reply: FastifyReply): string | undefined {
  const principal = principalOf(request);
  if (principal.role === 'tenant' && principal.tenant) return principal.tenant;
  reply.code(403).send({ error: 'requires a tenant token' });
  return undefined;
}

const noSuchJob = (reply: FastifyReply) => reply.code(404).send({ error: 'no such job' });

/**
 * The tenant job API: uploads (presigned PUT or multipart part URLs under `uploads/<tenant>/`: bytes never
 * pass through the coordinator), submit, list, status, cancel, download (a presigned GET URL of the output)
 * and logs, and previews of one frame. Tenants see their own jobs only (another tenant's job is a 404); the admin sees all of them.
 * Every route is rate-limited per token.
 */
export async function jobsRoutes(app: FastifyInstance, options: JobsRoutesOptions): Promise<void> {
  const { blobs } = options;
  const now = options.now ?? Date.now;
  const threshold = options.multipartThresholdBytes ?? 64 * 1024 * 1024;
  const maxUpload = Math.min(options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, MAX_OBJECT_SIZE);
  const prices = options.prices ?? loadPriceTable();
  const page = options.partUrlPage ?? 100;
  const signing = new TokenBuckets({ ratePerSecond: 50, burst: 500, ...options.partUrlRate });
  if (!(Number.isInteger(page) && page >= 1 && page <= (options.partUrlRate?.burst ?? 500)))
    throw new RangeError(`a page of part URLs must be 1 to the signing burst, not ${page}`);
  const { admission, queries, control, webhookSecrets } = jobServices(options.store, blobs, {
    prices,
    limits: options.limits,
    fallback: options.fallback,
    now,
  });
  app.addHook('onRequest', requireRole('tenant', 'admin'));
  app.addHook('preHandler', rateLimit({ ratePerSecond: 10, burst: 30, ...options.rateLimit, now }));

  /** Charges `urls` signatures to the caller's token; false (429 sent) when it has signed too many lately. */
  const chargeSigning = (request: FastifyRequest, reply: FastifyReply, urls: number): boolean => {
    const waitMs = signing.take(rateLimitKey(request), now(), urls);
    if (waitMs > 0) tooManyRequests(reply, waitMs, 'too many part URLs signed: wait and ask again');
    return waitMs === 0;
  };

  app.post('/uploads', async (request, reply) => {
    const body = UploadBody.parse(request.body);
    const tenant = tenantOf(request, reply);
    if (tenant === undefined) return reply;
    if (body.size > maxUpload)
      return reply.code(413).send({ error: `upload too big: ${body.size} bytes (at most ${maxUpload})` });
    // The URLs take exactly the declared bytes where the store can sign that (S3); jobs check the rest.
    const key = uploadKey(tenant, body.name, body.size);
    let answer: UploadResponse;
    if (body.size > threshold && hasMultipart(blobs)) {
      const { partSize, parts } = planMultipart(body.size, options.multipartPartBytes);
      // One page of URLs now; the client asks for the others as its upload gets to them.
      const signed = Math.min(parts, page);
      if (!chargeSigning(request, reply, signed)) return reply;
      const upload = await blobs.createMultipartUpload(key, parts, { size: body.size, partSize }, signed);
      answer = {
        key,
        multipart: { uploadId: upload.uploadId, partSize, parts, partUrls: upload.partUrls, pageSize: page },
      };
    } else {
      answer = { key, url: await blobs.writeUrl(key, body.size) };
    }
    return reply.code(201).send(answer);
  });

  app.post('/uploads/parts', async (request, reply) => {
    const body = UploadPartsBody.parse(request.body);
    const tenant = tenantOf(request, reply);
    if (tenant === undefined) return reply;
    if (!body.key.startsWith(uploadPrefix(tenant))) return reply.code(404).send({ error: 'no such upload' });
    if (!hasMultipart(blobs))
      return reply.code(400).send({ error: 'this blob store has no multipart uploads' });
    if (body.partNumbers.length > page)
      return reply.code(400).send({ error: `at most ${page} part URLs per request` });
    const size = declaredUploadSize(body.key);
    if (size === undefined) return reply.code(404).send({ error: 'no such upload' });
    if (!chargeSigning(request, reply, body.partNumbers.length)) return reply;
    // Each URL signs its part's length, as the first page's did.
    const { partSize } = planMultipart(size, options.multipartPartBytes);
    const answer: UploadPartsResponse = {
      partUrls: await blobs.partUrls(body.key, body.uploadId, body.partNumbers, { size, partSize }),
    };
    return reply.send(answer);
  });

  app.post('/uploads/complete', async (request, reply) => {
    const body = CompleteUploadBody.parse(request.body);
    const tenant = tenantOf(request, reply);
    if (tenant === undefined) return reply;
    if (!body.key.startsWith(uploadPrefix(tenant))) return reply.code(404).send({ error: 'no such upload' });
    if (!hasMultipart(blobs))
      return reply.code(400).send({ error: 'this blob store has no multipart uploads' });
    try {
      await blobs.completeMultipartUpload(body.key, body.uploadId, body.etags);
    } catch (error) {
      return reply.code(400).send({ error: `cannot complete the upload: ${(error as Error).message}` });
    }
    return reply.send({ key: body.key });
  });

  app.post('/jobs', async (request, reply) => {
    const body = SubmitBody.parse(request.body);
    const tenant = tenantOf(request, reply);
    if (tenant === undefined) return reply;
    try {
      const job = await submitJob(
        {
          blobs,
          admission,
          parallelism: options.parallelism ?? 4,
          email: options.email,
          maxUploadBytes: maxUpload,
        },
        tenant,
        body,
      );
      return reply.code(201).send({ id: job.id, state: job.state, frames: job.frameCount });
    } catch (error) {
      if (error instanceof AdmissionRefused) {
        options.metrics?.admissionRefused(error.limit);
        return reply.code(error.status).send({ error: error.message, limit: error.limit });
      }
      if (error instanceof UserError) return reply.code(400).send({ error: error.message });
      throw error;
    }
  });

  const previews =
    options.previews && new Previews(blobs, { maxUploadBytes: maxUpload, ...options.previews });
  app.post('/previews', async (request, reply) => {
    const body = PreviewBody.parse(request.body);
    const tenant = tenantOf(request, reply);
    if (tenant === undefined) return reply;
    if (!previews)
      return reply.code(409).send({ error: 'this server runs no previews: it was started without models' });
    try {
      return await previews.preview(tenant, body);
    } catch (error) {
      if (error instanceof PreviewRefused) {
        if (error.retryAfterSeconds !== undefined)
          reply.header('retry-after', String(error.retryAfterSeconds));
        return reply.code(error.status).send({ error: error.message });
      }
      if (error instanceof UserError) return reply.code(400).send({ error: error.message });
      throw error;
    }
  });

  app.get('/jobs', async (request) => {
    const { progress } = JobListQuery.parse(request.query);
    return { jobs: await queries.list(principalOf(request), { progress }) };
  });

  app.get('/jobs/:id', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    const { tasks } = JobReportQuery.parse(request.query);
    return (await queries.status(principalOf(request), id, { tasks })) ?? noSuchJob(reply);
  });

  app.get('/jobs/:id/timeline', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    return (await queries.timeline(principalOf(request), id)) ?? noSuchJob(reply);
  });

  app.post('/jobs/:id/cancel', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    const outcome = await control.cancel(principalOf(request), id);
    if (!outcome) return noSuchJob(reply);
    if (outcome.canceled) return reply.send({ id, state: 'canceled' });
    return reply.code(409).send({ error: `job is already ${outcome.state}` });
  });

  app.post('/jobs/:id/retry', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    const outcome = await control.retry(principalOf(request), id);
    if (!outcome) return noSuchJob(reply);
    if (outcome.retried)
      return reply.send({ id, state: (await queries.job(principalOf(request), id))?.state });
    return reply.code(409).send({ error: outcome.reason });
  });

  app.get('/jobs/:id/download', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    const download = await queries.download(principalOf(request), id);
    if (!download) return noSuchJob(reply);
    if ('conflict' in download) return reply.code(409).send({ error: download.conflict });
    return download;
  });

  app.get('/jobs/:id/logs', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    const lines = await queries.logs(principalOf(request), id);
    return lines ? { lines } : noSuchJob(reply);
  });

  app.get('/jobs/:id/deliveries', async (request, reply) => {
    const { id } = JobIdParams.parse(request.params);
    return (await queries.deliveries(principalOf(request), id)) ?? noSuchJob(reply);
  });

  // The secret that signs the webhooks of the caller's jobs; the admin's is the one of jobs without a tenant.
  app.get('/webhook-secret', async (request) => ({
    secret: await webhookSecrets.get(principalOf(request).tenant ?? null),
  }));

  app.post('/webhook-secret/rotate', async (request) => ({
    secret: await webhookSecrets.rotate(principalOf(request).tenant ?? null),
  }));
}
