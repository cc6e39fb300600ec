import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import type { LeaseService } from '../coordinator/leaseService.js';
import type { LeaseResult } from '../core/types.js';
import {
  CheckpointBody,
  ClaimBody,
  CompleteBody,
  HeartbeatBody,
  ReleaseBody,
  SegmentUrlBody,
} from './protocol.js';

export interface ApiOptions {
  leases: LeaseService;
  /** Bearer token every worker call must carry. */
  workerToken: string;
  bodyLimitBytes?: number;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function answerLease(reply: FastifyReply, result: LeaseResult) {
  if (result === 'ok') return reply.send({ ok: true });
  return reply.code(409).send({ error: result });
}

type TaskRequest = FastifyRequest<{ Params: { id: string } }>;

/** HTTP face of the coordinator: the lease protocol for workers, on loopback or behind a load balancer. */
export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: options.bodyLimitBytes ?? 1024 * 1024, logger: false });
  const { leases } = options;

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof ZodError) {
      return reply.code(400).send({ error: 'invalid request', issues: error.issues.map((i) => i.message) });
    }
    if (error instanceof RangeError) return reply.code(400).send({ error: error.message });
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return reply.code(status).send({ error: (error as Error).message });
    return reply.code(500).send({ error: 'internal error' });
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request, reply) => {
        const header = request.headers.authorization ?? '';
        const token = header.startsWith('Bearer ') ? header.slice(7) : '';
        if (!token || !sameSecret(token, options.workerToken)) {
          return reply.code(401).send({ error: 'missing or invalid token' });
        }
      });

      v1.post('/claim', async (request, reply) => {
        const body = ClaimBody.parse(request.body);
        const claim = await leases.claim(body.workerId, body.pool);
        return claim ? reply.send(claim) : reply.code(204).send();
      });

      v1.post('/tasks/:id/heartbeat', async (request: TaskRequest, reply) => {
        const body = HeartbeatBody.parse(request.body);
        return answerLease(reply, await leases.heartbeat(request.params.id, body.epoch, body));
      });

      v1.post('/tasks/:id/segment-url', async (request: TaskRequest, reply) => {
        const body = SegmentUrlBody.parse(request.body);
        const target = await leases.segmentUrl(request.params.id, body.epoch, body.startFrame);
        return target ? reply.send(target) : reply.code(409).send({ error: 'stale' });
      });

      v1.post('/tasks/:id/checkpoint', async (request: TaskRequest, reply) => {
        const b = CheckpointBody.parse(request.body);
        return answerLease(
          reply,
          await leases.checkpoint(request.params.id, b.epoch, b.startFrame, b.endFrame, b.key),
        );
      });

      v1.post('/tasks/:id/complete', async (request: TaskRequest, reply) => {
        const body = CompleteBody.parse(request.body);
        return answerLease(reply, await leases.complete(request.params.id, body.epoch));
      });

      v1.post('/tasks/:id/release', async (request: TaskRequest, reply) => {
        const body = ReleaseBody.parse(request.body);
        return answerLease(
          reply,
          await leases.release(request.params.id, body.epoch, body.reason, body.error),
        );
      });
    },
    { prefix: '/v1' },
  );

  return app;
}
