import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import type { LeaseService } from '../coordinator/leaseService.js';
import type { Metrics } from '../coordinator/metrics.js';
import type { LeaseResult } from '../core/types.js';
import {
  CheckpointBody,
  ClaimBody,
  CompleteBody,
  HeartbeatBody,
  OutputCompleteBody,
  OutputUploadBody,
  ReleaseBody,
  SegmentUrlBody,
} from '../protocol/wire.js';
import type { Store } from '../store/store.js';
import {
  CachedTokenStore,
  CreateTokenBody,
  installAuth,
  issueToken,
  makeAuthenticator,
  type Principal,
  requireRole,
  TokenIdParams,
  type TokenStore,
} from './auth.js';
import { type JobsRoutesOptions, jobsRoutes } from './jobsRoutes.js';
import { openApiDocument } from './openapi.js';

export interface ApiOptions {
  leases: LeaseService;
  /** Embedded mode: the one random token the local workers are started with; it acts as a worker. */
  workerToken?: string;
  /**
   * Cluster mode: the store holding worker and tenant tokens (looked up by hash) and the tasks whose
   * leases those tokens hold; enables the admin's `/v1/tokens` routes.
   */
  store?: TokenStore & Pick<Store, 'getTask'>;
  /** SPOTFUSE_ADMIN_TOKEN: may call everything, and is the only one that issues and revokes tokens. */
  adminToken?: string;
  /** Cluster mode: the tenant job API (uploads, submit, list, status, cancel, download, logs). */
  jobs?: JobsRoutesOptions;
  /** `/readyz`: resolves when the coordinator can serve (its database is reachable); without it, always ready. */
  ready?: () => Promise<void>;
  bodyLimitBytes?: number;
  now?: () => number;
  /** Times every request into the latency histogram, and serves `GET /metrics` unless `metricsRoute` is false. */
  metrics?: Metrics;
  /** False when `/metrics` has a listener of its own (`--metrics-listen`). */
  metricsRoute?: boolean;
}

const startedAt = Symbol('startedAt');

/** Times every request by its route pattern (not its URL, which holds ids), method and status class. */
function installHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onRequest', async (request) => {
    (request as FastifyRequest & { [startedAt]?: bigint })[startedAt] = process.hrtime.bigint();
  });
  app.addHook('onResponse', async (request, reply) => {
    const start = (request as FastifyRequest & { [startedAt]?: bigint })[startedAt];
    if (start === undefined) return;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    metrics.httpRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, seconds);
  });
}

/**
 * `GET /metrics` in Prometheus text format, without a token, like `/healthz`: the coordinator's address is
 * meant for the cluster (workers, tenants' clients, Prometheus); where it faces the internet, `--metrics-listen`
 * moves `/metrics` to an address of its own.
 */
function serveMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });
}

/** `--metrics-listen`: a listener that serves `/metrics` and nothing else. */
export function buildMetricsApi(metrics: Metrics): FastifyInstance {
  const app = Fastify({ logger: false });
  serveMetricsRoute(app, metrics);
  return app;
}

function answerLease(reply: FastifyReply, result: LeaseResult) {
  if (result === 'ok') return reply.send({ ok: true });
  return reply.code(409).send({ error: result });
}

type TaskRequest = FastifyRequest<{ Params: { id: string } }>;

/** Who a caller is, once `requireRole` let it through. */
function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route reached without authentication');
  return request.principal;
}

/**
 * A worker with a stored token holds its leases as `<token id>:<worker id>`, so that a lease belongs to
 * the token that claimed it; the admin and the embedded worker token claim under the worker id alone.
 */
function leaseWorkerId(principal: Principal, workerId: string): string {
  return principal.tokenId ? `${principal.tokenId}:${workerId}` : workerId;
}

/**
 * HTTP face of the coordinator, on loopback or behind a load balancer: the lease protocol (worker or admin
 * tokens) and, given a token store, the admin's token management (`/v1/tokens`). See auth.ts for the roles.
 */
export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: options.bodyLimitBytes ?? 1024 * 1024, logger: false });
  const { leases, store } = options;
  const tokens = store && new CachedTokenStore(store);
  if (!options.workerToken && !options.adminToken && !store) {
    throw new Error('buildApi needs a worker token, an admin token or a token store');
  }
  installAuth(
    app,
    makeAuthenticator({
      tokens,
      adminToken: options.adminToken,
      workerToken: options.workerToken,
      now: options.now,
    }),
  );

  /**
   * Whether the caller may act on task `id` at `epoch`, besides the lease service's own fencing. A worker
   * with a stored token may only touch a task whose lease its token holds, so it can neither write nor
   * record the blobs of another worker's task. A task not running at `epoch` can no longer change through
   * that epoch (a claim always takes a new one), so the lease service may answer those calls itself.
   */
  async function holdsLease(principal: Principal, id: string, epoch: number): Promise<boolean> {
    if (!principal.tokenId || !store) return true;
    const remembered = leases.rememberedHolder(id, epoch);
    if (remembered !== undefined) return remembered.startsWith(`${principal.tokenId}:`);
    const task = await store.getTask(id);
    if (!task || task.epoch !== epoch) return false;
    if (task.state !== 'running') return true;
    return task.workerId?.startsWith(`${principal.tokenId}:`) ?? false;
  }
  const notHolder = (reply: FastifyReply) => reply.code(409).send({ error: 'stale' });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof ZodError) {
      return reply.code(400).send({ error: 'invalid request', issues: error.issues.map((i) => i.message) });
    }
    // Fastify's own client errors first: some are RangeErrors (a body over the limit is a 413, not a 400).
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return reply.code(status).send({ error: (error as Error).message });
    if (error instanceof RangeError) return reply.code(400).send({ error: error.message });
    return reply.code(500).send({ error: 'internal error' });
  });

  if (options.metrics) {
    const metrics = options.metrics;
    installHttpMetrics(app, metrics);
    if (options.metricsRoute !== false) serveMetricsRoute(app, metrics);
  }

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await options.ready?.();
      return reply.send({ ok: true });
    } catch {
      return reply.code(503).send({ ok: false, error: 'not ready: the database is unreachable' });
    }
  });
  app.get('/openapi.json', async () => openApiDocument());

  app.register(
    async (v1) => {
      // Authentication runs on request, before the body is read: a caller without a valid token costs no parsing.
      v1.addHook('onRequest', requireRole('worker', 'admin'));

      v1.post('/claim', async (request, reply) => {
        const { workerId, pool, cloud, instanceType, zone, lifecycle } = ClaimBody.parse(request.body);
        const claim = await leases.claim(leaseWorkerId(principalOf(request), workerId), pool, {
          cloud,
          instanceType,
          zone,
          lifecycle,
        });
        return claim ? reply.send(claim) : reply.code(204).send();
      });

      v1.post('/tasks/:id/heartbeat', async (request: TaskRequest, reply) => {
        const body = HeartbeatBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, body.epoch))) return notHolder(reply);
        return answerLease(reply, await leases.heartbeat(request.params.id, body.epoch, body));
      });

      v1.post('/tasks/:id/segment-url', async (request: TaskRequest, reply) => {
        const body = SegmentUrlBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, body.epoch))) return notHolder(reply);
        const target = await leases.segmentUrl(request.params.id, body.epoch, body.startFrame);
        return target ? reply.send(target) : reply.code(409).send({ error: 'stale' });
      });

      // Outputs too big for one PUT (S3: 5 GiB): parts of the merge task's own output, for its lease holder.
      v1.post('/tasks/:id/output-upload', async (request: TaskRequest, reply) => {
        const body = OutputUploadBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, body.epoch))) return notHolder(reply);
        const upload = await leases.outputUpload(request.params.id, body.epoch, body.size, body.uploadId);
        return upload ? reply.send(upload) : notHolder(reply);
      });

      v1.post('/tasks/:id/output-complete', async (request: TaskRequest, reply) => {
        const body = OutputCompleteBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, body.epoch))) return notHolder(reply);
        let result: LeaseResult;
        try {
          result = await leases.completeOutputUpload(
            request.params.id,
            body.epoch,
            body.uploadId,
            body.etags,
          );
        } catch (error) {
          return reply.code(400).send({ error: `cannot complete the upload: ${(error as Error).message}` });
        }
        return answerLease(reply, result);
      });

      v1.post('/tasks/:id/checkpoint', async (request: TaskRequest, reply) => {
        const b = CheckpointBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, b.epoch))) return notHolder(reply);
        return answerLease(
          reply,
          await leases.checkpoint(request.params.id, b.epoch, b.startFrame, b.endFrame, b.key),
        );
      });

      v1.post('/tasks/:id/complete', async (request: TaskRequest, reply) => {
        const body = CompleteBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, body.epoch))) return notHolder(reply);
        return answerLease(reply, await leases.complete(request.params.id, body.epoch));
      });

      v1.post('/tasks/:id/release', async (request: TaskRequest, reply) => {
        const body = ReleaseBody.parse(request.body);
        if (!(await holdsLease(principalOf(request), request.params.id, body.epoch))) return notHolder(reply);
        return answerLease(
          reply,
          await leases.release(request.params.id, body.epoch, body.reason, body.error),
        );
      });
    },
    { prefix: '/v1' },
  );

  if (tokens) {
    app.register(
      async (admin) => {
        admin.addHook('onRequest', requireRole('admin'));

        admin.post('/tokens', async (request, reply) => {
          const body = CreateTokenBody.parse(request.body);
          const now = (options.now ?? Date.now)();
          const { token, record } = await issueToken(
            tokens,
            body.role,
            body.role === 'tenant' ? body.tenant : undefined,
            now,
          );
          return reply.code(201).send({ id: record.id, token, role: record.role, tenant: record.tenant });
        });

        admin.get('/tokens', async () => ({ tokens: await tokens.listTokens() }));

        admin.delete('/tokens/:id', async (request, reply) => {
          const { id } = TokenIdParams.parse(request.params);
          const revoked = await tokens.revokeToken(id, (options.now ?? Date.now)());
          return revoked ? reply.code(204).send() : reply.code(404).send({ error: 'no such token' });
        });
      },
      { prefix: '/v1' },
    );
  }

  if (options.jobs) {
    const jobs = options.jobs;
    app.register(async (tenant) => jobsRoutes(tenant, { now: options.now, ...jobs }), { prefix: '/v1' });
  }

  return app;
}
