import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { type LeaseHolderStore, LeaseHolders } from '../coordinator/leaseHolders.js';
import type { LeaseService } from '../coordinator/leaseService.js';
import type { Metrics } from '../coordinator/metrics.js';
import { serviceUnavailable } from '../coordinator/unavailable.js';
import { ProtocolError } from '../core/errors.js';
import type { LeaseResult } from '../core/types.js';
import {
  CheckpointBody,
  ClaimBody,
  CompleteBody,
  HeartbeatBody,
  LEASE_PROTOCOL,
  OutputCompleteBody,
  OutputUploadBody,
  protocolMismatch,
  RejectSegmentsBody,
  ReleaseBody,
  SegmentReadUrlsBody,
  type SegmentReadUrlsResponse,
  SegmentUrlBody,
  TaskIdParams,
} from '../protocol/wire.js';
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
import { type DashboardFiles, serveDashboard } from './dashboard.js';
import { type FleetRoutesOptions, fleetRoutes } from './fleetRoutes.js';
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
  store?: TokenStore & LeaseHolderStore;
  /** SPOTFUSE_ADMIN_TOKEN: may call everything, and is the only one that issues and revokes tokens. */
  adminToken?: string;
  /** Cluster mode: the tenant job API (uploads, submit, list, status, cancel, download, logs). */
  jobs?: JobsRoutesOptions;
  /** The admin's `/v1/workers` and `/v1/savings`. */
  fleet?: FleetRoutesOptions;
  /** The web dashboard at `/` (see dashboard.ts); null: `/` says it is not built; absent: no `/`. */
  dashboard?: DashboardFiles | null;
  /** `/readyz`: resolves when the coordinator can serve (its database is reachable); without it, always ready. */
  ready?: () => Promise<void>;
  bodyLimitBytes?: number;
  now?: () => number;
  /** Times every request into the latency histogram, and serves `GET /metrics` unless `metricsRoute` is false. */
  metrics?: Metrics;
  /** False when `/metrics` has a listener of its own (`--metrics-listen`). */
  metricsRoute?: boolean;
  /** Where every answer of 500 and above is logged, with its request id (the 5xx body carries the same id). */
  logger?: Logger;
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

/**
 * A claim from a worker of another lease protocol: a 400 that names both versions, so that the worker can
 * stop with a line that says what to upgrade, where it would misread the task it was handed.
 */
function refuseProtocol(reply: FastifyReply, workerProtocol: number) {
  return reply.code(400).send({
    error: protocolMismatch(workerProtocol, LEASE_PROTOCOL),
    protocol: LEASE_PROTOCOL,
  });
}

/** The task a `/v1/tasks/:id/...` call names, checked like any other input. */
function taskIdOf(request: FastifyRequest): string {
  return TaskIdParams.parse(request.params).id;
}

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
 * Who made a lease call, for the log line of a refused one: the caller's token id, `admin`, or undefined
 * for the embedded worker token (its local workers are told apart by the epoch they present).
 */
function callerOf(principal: Principal): string | undefined {
  return principal.tokenId ?? (principal.role === 'admin' ? 'admin' : undefined);
}

/** A validation error's issues, each prefixed with the field it is about (`webhooks.0: ...`). */
function describeIssues(error: ZodError): string[] {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message));
}

/**
 * HTTP face of the coordinator, on loopback or behind a load balancer: the lease protocol (worker or admin
 * tokens) and, given a token store, the admin's token management (`/v1/tokens`). See auth.ts for the roles.
 */
export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    logger: false,
    genReqId: () => randomUUID(),
  });
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

  const holders = store && new LeaseHolders(store, leases);
  /** Whether the caller may act on task `id` at `epoch` (see LeaseHolders): only a stored token is checked. */
  async function holdsLease(principal: Principal, id: string, epoch: number): Promise<boolean> {
    if (!principal.tokenId || !holders) return true;
    return holders.holds(principal.tokenId, id, epoch);
  }
  /** A 409 for a caller that does not hold the lease, logged as that caller's (never as the holder's). */
  async function notHolder(request: FastifyRequest, reply: FastifyReply, call: string, epoch: number) {
    await leases.refusedNotHolder(call, taskIdOf(request), epoch, callerOf(principalOf(request)));
    return reply.code(409).send({ error: 'stale' });
  }

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ZodError) {
      return reply.code(400).send({ error: 'invalid request', issues: describeIssues(error) });
    }
    // Fastify's own client errors first: some are RangeErrors (a body over the limit is a 413, not a 400).
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return reply.code(status).send({ error: (error as Error).message });
    // A protocol violation is the caller's; any other error, a RangeError from a bug too, is a 500. (A
    // route answers the UserErrors that are its caller's, such as a refused submission, itself: one that
    // reaches this handler may be the coordinator's own, such as a bucket it may not write.)
    if (error instanceof ProtocolError) return reply.code(error.status).send({ error: error.message });
    // The database restarting: a 503 that workers and clients retry, not a 500 that fails a task (found by chaos).
    if (serviceUnavailable(error)) {
      options.logger?.warn(
        { reqId: request.id, method: request.method, err: error },
        `${request.method} ${request.routeOptions.url ?? 'unmatched route'}: the database is unreachable, answered 503`,
      );
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({ error: 'the database is unreachable; try again', requestId: request.id });
    }
    const code = status && status >= 500 ? status : 500;
    options.logger?.error(
      {
        reqId: request.id,
        method: request.method,
        route: request.routeOptions.url ?? request.url,
        statusCode: code,
        err: error,
      },
      `${request.method} ${request.routeOptions.url ?? 'unmatched route'} failed with ${code}`,
    );
    return reply.code(code).send({ error: 'internal error', requestId: request.id });
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
  if (options.dashboard !== undefined) serveDashboard(app, options.dashboard ?? undefined);

  app.register(
    async (v1) => {
      // Authentication runs on request, before the body is read: a caller without a valid token costs no parsing.
      v1.addHook('onRequest', requireRole('worker', 'admin'));

      v1.post('/claim', async (request, reply) => {
        const { protocol, workerId, pool, cloud, instanceType, zone, lifecycle, engines } = ClaimBody.parse(
          request.body,
        );
        if (protocol !== LEASE_PROTOCOL) {
          // Said here too: a worker that stops (or, older than the check, retries) says it only in its own log.
          options.logger?.warn(
            { workerId: leaseWorkerId(principalOf(request), workerId), protocol },
            `claim refused: the worker speaks lease protocol ${protocol}, this coordinator ${LEASE_PROTOCOL}`,
          );
          return refuseProtocol(reply, protocol);
        }
        const claim = await leases.claim(
          leaseWorkerId(principalOf(request), workerId),
          pool,
          { cloud, instanceType, zone, lifecycle },
          engines,
        );
        return claim ? reply.send(claim) : reply.code(204).send();
      });

      /**
       * The task calls: the task id and body are checked, then the caller must hold the lease (else a 409,
       * logged as the caller's), then the lease service fences by epoch.
       */
      const leased = <B extends { epoch: number }>(
        call: string,
        schema: { parse(body: unknown): B },
        handle: (id: string, body: B, caller: string | undefined, reply: FastifyReply) => Promise<unknown>,
      ) =>
        v1.post(`/tasks/:id/${call}`, async (request, reply) => {
          const id = taskIdOf(request);
          const body = schema.parse(request.body);
          const principal = principalOf(request);
          if (!(await holdsLease(principal, id, body.epoch)))
            return notHolder(request, reply, call, body.epoch);
          return handle(id, body, callerOf(principal), reply);
        });

      leased('heartbeat', HeartbeatBody, async (id, body, caller, reply) =>
        answerLease(reply, await leases.heartbeat(id, body.epoch, body, caller)),
      );

      leased('segment-url', SegmentUrlBody, async (id, body, _caller, reply) => {
        const target = await leases.segmentUrl(id, body.epoch, body.startFrame);
        return target ? reply.send(target) : reply.code(409).send({ error: 'stale' });
      });

      leased('segment-read-urls', SegmentReadUrlsBody, async (id, body, _caller, reply) => {
        const urls = await leases.segmentReadUrls(id, body.epoch, body.keys);
        return urls
          ? reply.send({ urls } satisfies SegmentReadUrlsResponse)
          : reply.code(409).send({ error: 'stale' });
      });

      // Outputs too big for one PUT (S3: 5 GiB): parts of the merge task's own output, for its lease holder.
      leased('output-upload', OutputUploadBody, async (id, body, _caller, reply) => {
        const upload = await leases.outputUpload(id, body.epoch, body.size, body.uploadId);
        return upload ? reply.send(upload) : reply.code(409).send({ error: 'stale' });
      });

      leased('output-complete', OutputCompleteBody, async (id, body, _caller, reply) => {
        let result: LeaseResult;
        try {
          result = await leases.completeOutputUpload(id, body.epoch, body.uploadId, body.etags);
        } catch (error) {
          return reply.code(400).send({ error: `cannot complete the upload: ${(error as Error).message}` });
        }
        return answerLease(reply, result);
      });

      leased('checkpoint', CheckpointBody, async (id, b, caller, reply) =>
        answerLease(
          reply,
          await leases.checkpoint(id, b.epoch, b.startFrame, b.endFrame, b.key, caller, {
            sha256: b.sha256,
            bytes: b.bytes,
            frames: b.frames,
            decoded: b.decoded,
          }),
        ),
      );

      leased('complete', CompleteBody, async (id, body, caller, reply) =>
        answerLease(reply, await leases.complete(id, body.epoch, caller, body.output)),
      );

      leased('reject-segments', RejectSegmentsBody, async (id, body, caller, reply) =>
        answerLease(reply, await leases.rejectSegments(id, body.epoch, body.segments, caller)),
      );

      leased('release', ReleaseBody, async (id, body, caller, reply) =>
        answerLease(reply, await leases.release(id, body.epoch, body.reason, body.error, caller)),
      );
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
            body.role === 'tenant' ? { share: body.share, maxRunning: body.maxRunning } : {},
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
  if (options.fleet) {
    const fleet = options.fleet;
    app.register(async (admin) => fleetRoutes(admin, { now: options.now, ...fleet }), { prefix: '/v1' });
  }

  return app;
}
