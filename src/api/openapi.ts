import { type ZodType, z } from 'zod';
import {
  CheckpointBody,
  ClaimBody,
  CompleteBody,
  CompleteUploadBody,
  HeartbeatBody,
  OutputCompleteBody,
  OutputUploadBody,
  PreviewBody,
  RejectSegmentsBody,
  ReleaseBody,
  SegmentReadUrlsBody,
  SegmentUrlBody,
  SubmitBody,
  UploadBody,
  UploadPartsBody,
} from '../protocol/wire.js';
import { CreateTokenBody } from './auth.js';

/** The coordinator's routes as an OpenAPI 3.1 document, served at `/openapi.json`: routes listed by hand, bodies from their zod schemas. */

type Op = { summary: string; roles: string; body?: string; ok: string; params?: string[] };

const ROUTES: Record<string, Record<string, Op>> = {
  '/healthz': { get: { summary: 'the process is up', roles: 'none', ok: '200' } },
  '/readyz': { get: { summary: 'the database is reachable', roles: 'none', ok: '200 (503 when not)' } },
  '/openapi.json': { get: { summary: 'this document', roles: 'none', ok: '200' } },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics, text format (absent here with --metrics-listen)',
      roles: 'none',
      ok: '200',
    },
  },
  '/v1/claim': {
    post: {
      summary:
        "claim the next runnable task (204: none; 400 with the coordinator's `protocol`: the worker's lease protocol differs)",
      roles: 'worker, admin',
      body: 'ClaimBody',
      ok: '200',
    },
  },
  '/v1/tasks/{id}/heartbeat': {
    post: {
      summary: 'extend a lease, report progress',
      roles: 'worker, admin',
      body: 'HeartbeatBody',
      ok: '200 (409: stale or canceled)',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/segment-url': {
    post: {
      summary: 'where to upload the segment starting at a frame',
      roles: 'worker, admin',
      body: 'SegmentUrlBody',
      ok: '200',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/segment-read-urls': {
    post: {
      summary: "where a merge task's holder reads segments of its job (up to 100 a call)",
      roles: 'worker, admin',
      body: 'SegmentReadUrlsBody',
      ok: '200 (409: stale or canceled)',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/checkpoint': {
    post: {
      summary: 'record an uploaded segment',
      roles: 'worker, admin',
      body: 'CheckpointBody',
      ok: '200',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/reject-segments': {
    post: {
      summary: "a merge task's holder found segments damaged: their frames are queued again",
      roles: 'worker, admin',
      body: 'RejectSegmentsBody',
      ok: '200 (409: stale or canceled)',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/output-upload': {
    post: {
      summary: "part URLs for a merge task's output (multipart; resumes a given uploadId)",
      roles: 'worker, admin',
      body: 'OutputUploadBody',
      ok: '200 (409: not the lease holder)',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/output-complete': {
    post: {
      summary: "join the parts of a merge task's output",
      roles: 'worker, admin',
      body: 'OutputCompleteBody',
      ok: '200 (409: not the lease holder)',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/complete': {
    post: {
      summary: 'the task is done',
      roles: 'worker, admin',
      body: 'CompleteBody',
      ok: '200',
      params: ['id'],
    },
  },
  '/v1/tasks/{id}/release': {
    post: {
      summary: 'give the task back (preempted or error)',
      roles: 'worker, admin',
      body: 'ReleaseBody',
      ok: '200',
      params: ['id'],
    },
  },
  '/v1/tokens': {
    post: {
      summary: 'issue a worker or tenant token (shown once)',
      roles: 'admin',
      body: 'CreateTokenBody',
      ok: '201',
    },
    get: { summary: 'list tokens (never their secrets)', roles: 'admin', ok: '200' },
  },
  '/v1/tokens/{id}': { delete: { summary: 'revoke a token', roles: 'admin', ok: '204', params: ['id'] } },
  '/v1/uploads': {
    post: {
      summary: 'a presigned PUT URL, or multipart part URLs, for one input file',
      roles: 'tenant',
      body: 'UploadBody',
      ok: '201',
    },
  },
  '/v1/uploads/parts': {
    post: {
      summary: 'part URLs for more parts of a multipart upload, a page at a time',
      roles: 'tenant',
      body: 'UploadPartsBody',
      ok: '200',
    },
  },
  '/v1/uploads/complete': {
    post: {
      summary: 'join the parts of a multipart upload',
      roles: 'tenant',
      body: 'CompleteUploadBody',
      ok: '200',
    },
  },
  '/v1/jobs': {
    post: { summary: 'submit a job on uploaded blobs', roles: 'tenant', body: 'SubmitBody', ok: '201' },
    get: {
      summary: 'list own jobs (all jobs for the admin); ?progress=true: with frames done, fps, ETA and cost',
      roles: 'tenant, admin',
      ok: '200',
    },
  },
  '/v1/previews': {
    post: {
      summary:
        "one frame of an uploaded video through a job's chain, here: the faces found, the ones picked, the frame before and after (PNG)",
      roles: 'tenant',
      body: 'PreviewBody',
      ok: '200 (404: not your upload; 409: models missing here; 422: frame too big; 503: another preview running, or too slow)',
    },
  },
  '/v1/jobs/{id}/timeline': {
    get: {
      summary: 'each task with its attempts (worker, machine, outcome, times) and checkpoints',
      roles: 'tenant, admin',
      ok: '200 (404: not yours)',
      params: ['id'],
    },
  },
  '/v1/jobs/{id}': {
    get: {
      summary: "job report, state and cost (?tasks=true: with each task's cost)",
      roles: 'tenant, admin',
      ok: '200 (404: not yours)',
      params: ['id'],
    },
  },
  '/v1/jobs/{id}/cancel': {
    post: {
      summary: 'cancel a running job',
      roles: 'tenant, admin',
      ok: '200 (409: already ended)',
      params: ['id'],
    },
  },
  '/v1/jobs/{id}/retry': {
    post: {
      summary: 'run a failed job again from its checkpoints (its failed tasks get fresh failure budgets)',
      roles: 'tenant, admin',
      ok: '200 (409: not failed, or its checkpoints are gone)',
      params: ['id'],
    },
  },
  '/v1/jobs/{id}/download': {
    get: {
      summary: 'a presigned GET URL of the output',
      roles: 'tenant, admin',
      ok: '200 (409: not completed)',
      params: ['id'],
    },
  },
  '/v1/jobs/{id}/logs': {
    get: {
      summary: "the job's attempts and errors as lines",
      roles: 'tenant, admin',
      ok: '200',
      params: ['id'],
    },
  },
  '/v1/jobs/{id}/deliveries': {
    get: {
      summary: "the job's notifications (webhooks, emails) and every delivery attempt",
      roles: 'tenant, admin',
      ok: '200',
      params: ['id'],
    },
  },
  '/v1/workers': {
    get: {
      summary: 'workers holding leases now: task, machine, fps, GPU use; queue depth',
      roles: 'admin',
      ok: '200',
    },
  },
  '/v1/savings': {
    get: {
      summary: 'GPU cost per UTC day, paid vs on demand, waste and interruptions (?days=14)',
      roles: 'admin',
      ok: '200',
    },
  },
  '/v1/webhook-secret': {
    get: {
      summary: "the whsec_ secret that signs the caller's webhooks (Standard Webhooks)",
      roles: 'tenant, admin',
      ok: '200',
    },
  },
  '/v1/webhook-secret/rotate': {
    post: {
      summary: 'replace the webhook secret; pending retries are signed with the new one',
      roles: 'tenant, admin',
      ok: '200',
    },
  },
};

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [path, ops] of Object.entries(ROUTES)) {
    paths[path] = Object.fromEntries(
      Object.entries(ops).map(([method, op]) => [
        method,
        {
          summary: op.summary,
          description: `Roles: ${op.roles}.`,
          ...(op.roles === 'none' ? { security: [] } : {}),
          ...(op.params
            ? {
                parameters: op.params.map((name) => ({
                  name,
                  in: 'path',
                  required: true,
                  schema: { type: 'string' },
                })),
              }
            : {}),
          ...(op.body
            ? {
                requestBody: {
                  required: true,
                  content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.body}` } } },
                },
              }
            : {}),
          responses: {
            [op.ok.slice(0, 3)]: { description: op.ok },
            ...(op.roles === 'none'
              ? {}
              : {
                  401: { description: 'missing, unknown or revoked token' },
                  403: { description: 'wrong role' },
                }),
          },
        },
      ]),
    );
  }
  const bodies: Record<string, ZodType> = {
    ClaimBody,
    HeartbeatBody,
    SegmentUrlBody,
    SegmentReadUrlsBody,
    OutputUploadBody,
    OutputCompleteBody,
    CheckpointBody,
    CompleteBody,
    RejectSegmentsBody,
    ReleaseBody,
    CreateTokenBody,
    UploadBody,
    UploadPartsBody,
    CompleteUploadBody,
    SubmitBody,
    PreviewBody,
  };
  const schema = (name: string, body: ZodType) => {
    try {
      const { $schema: _, ...json } = z.toJSONSchema(body, { io: 'input', unrepresentable: 'any' });
      return json;
    } catch {
      return { type: 'object', description: `see ${name} in src/protocol/wire.ts` };
    }
  };
  return {
    openapi: '3.1.0',
    info: { title: 'spotfuse coordinator', version: '0.1.0' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(Object.entries(bodies).map(([name, body]) => [name, schema(name, body)])),
    },
    security: [{ bearer: [] }],
    paths,
  };
}
