import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import type { JobSpec } from '../../src/core/types.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { backends, type OpenedStore } from '../helpers/storeBackends.js';
import { propertyParams } from './runs.js';

/**
 * Hostile requests on every route the OpenAPI document lists: no, forged, revoked or wrong-role tokens,
 * malformed JSON, wrong types, huge numbers, oversized bodies, path traversal in ids and blob keys, and
 * another tenant's job. Each is answered with a 4xx and a JSON error, never a 5xx, and changes no row.
 */

const ADMIN = 'admin-secret-that-is-long-enough-0123456789';
const spec: JobSpec = {
  input: 'uploads/globex/in.mp4',
  sources: [],
  output: 'outputs/out.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 10,
};

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  roles: string[];
  body?: Record<string, { type?: string }>;
}

const sqlite = backends[0];
let opened: OpenedStore;
let app: FastifyInstance;
let routes: Route[];
const tokens: Record<string, string> = {};
let revoked: string;
let otherJob: string;

/** Rows in every table: hostile requests must leave each count as it was. */
async function rowCounts(): Promise<Record<string, number>> {
  const tables = await opened.sql(
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables)
    counts[name as string] = Number((await opened.sql(`SELECT COUNT(*) AS n FROM "${name}"`))[0].n);
  return counts;
}

beforeAll(async () => {
  opened = await sqlite.open();
  const { store } = opened;
  const blobs = new LocalBlobStore(join(mkdtempSync(join(tmpdir(), 'spotfuse-fuzz-')), 'blobs'));
  const leases = new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 3 });
  app = buildApi({
    leases,
    store,
    adminToken: ADMIN,
    jobs: { store, blobs, parallelism: 2, rateLimit: { ratePerSecond: 1e6, burst: 1e6 } },
  });
  tokens.tenant = (await issueToken(store, 'tenant', 'acme')).token;
  tokens.worker = (await issueToken(store, 'worker')).token;
  tokens.admin = ADMIN;
  const gone = await issueToken(store, 'tenant', 'acme');
  expect(await store.revokeToken(gone.record.id, 1)).toBe(true);
  revoked = gone.token;
  otherJob = (
    await store.createJob(
      {
        key: 'k',
        spec,
        probe: { video: {} },
        framePts: [0, 1, 2],
        chunks: [{ start: 0, end: 3 }],
        tenant: 'globex',
      },
      0,
    )
  ).id;
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<
      string,
      Record<
        string,
        { description: string; requestBody?: { content: Record<string, { schema: { $ref: string } }> } }
      >
    >;
    components: { schemas: Record<string, { properties?: Record<string, { type?: string }> }> };
  };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const roles = /Roles: (.*)\./.exec(op.description)?.[1].split(', ') ?? [];
      const ref = op.requestBody?.content['application/json'].schema.$ref.split('/').at(-1);
      return {
        method: method.toUpperCase() as Route['method'],
        path,
        roles,
        body: ref ? (doc.components.schemas[ref].properties ?? {}) : undefined,
      };
    }),
  );
}, 60_000);
afterAll(async () => {
  await app?.close();
  await opened?.store.close();
});

const guarded = () => routes.filter((r) => !r.roles.includes('none'));

/** A value of another JSON type than `type`, or an absurd one of the same. */
function wrongValue(type: string | undefined, pick: number): unknown {
  const hostile: unknown[] = [
    type === 'string' ? 1e308 : '../../../etc/passwd',
    type === 'array' ? { length: 1 } : [[[]]],
    type === 'object' ? 'object' : null,
    type === 'boolean' ? 'true' : { $gt: '' },
    type === 'number' || type === 'integer' ? -1e21 : true,
  ];
  return hostile[pick % hostile.length];
}

const MALFORMED = ['{', '{"epoch":', '[1,2', 'nul', '{"a":1}}', '\u0000', '"\\ud800"', '{"epoch":1e999}', ''];
const BAD_IDS = ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%00', 'x'.repeat(2000), '%F0%9F%92%A9'];

type Attack =
  | { kind: 'token'; token: 'none' | 'forged' | 'revoked' | 'garbage' | 'wrong-role' }
  | { kind: 'malformed'; text: string }
  | { kind: 'wrong-types'; pick: number }
  | { kind: 'oversized' }
  | { kind: 'bad-id'; id: string }
  | { kind: 'other-tenant' };

const attack: fc.Arbitrary<Attack> = fc.oneof(
  fc.record({
    kind: fc.constant('token' as const),
    token: fc.constantFrom(
      'none' as const,
      'forged' as const,
      'revoked' as const,
      'garbage' as const,
      'wrong-role' as const,
    ),
  }),
  fc.record({
    kind: fc.constant('malformed' as const),
    text: fc.oneof(fc.constantFrom(...MALFORMED), fc.string()),
  }),
  fc.record({ kind: fc.constant('wrong-types' as const), pick: fc.nat() }),
  fc.constant({ kind: 'oversized' as const }),
  fc.record({ kind: fc.constant('bad-id' as const), id: fc.constantFrom(...BAD_IDS) }),
  fc.constant({ kind: 'other-tenant' as const }),
);

/** The request for `attack` on `route`, or undefined where that attack does not apply to it. */
function request(route: Route, a: Attack, forged: string) {
  const role = route.roles[0];
  let authorization: string | undefined = `Bearer ${tokens[role]}`;
  let url = route.path.replace('{id}', 'task-0');
  let payload: string | undefined = route.body ? '{}' : undefined;
  switch (a.kind) {
    case 'token': {
      const wrong = ['tenant', 'worker'].find(
        (r) => !route.roles.includes(r) && !route.roles.includes('admin'),
      );
      if (a.token === 'wrong-role' && !wrong) {
        const other = ['tenant', 'worker'].find((r) => !route.roles.includes(r));
        if (!other) return undefined;
        authorization = `Bearer ${tokens[other]}`;
      } else if (a.token === 'wrong-role') authorization = `Bearer ${tokens[wrong!]}`;
      else
        authorization = {
          none: undefined,
          forged: `Bearer ${forged}`,
          revoked: `Bearer ${revoked}`,
          garbage: forged,
        }[a.token];
      break;
    }
    case 'malformed':
      if (!route.body) return undefined;
      payload = a.text;
      // A JSON text that happens to parse into a valid body is not an attack.
      try {
        JSON.parse(a.text);
        return undefined;
      } catch {}
      break;
    case 'wrong-types': {
      if (!route.body || Object.keys(route.body).length === 0) return undefined;
      const body = Object.fromEntries(
        Object.entries(route.body).map(([name, p], i) => [name, wrongValue(p.type, a.pick + i)]),
      );
      payload = JSON.stringify(body);
      break;
    }
    case 'oversized':
      if (!route.body) return undefined;
      payload = JSON.stringify({ padding: 'x'.repeat(1024 * 1024 + 1) });
      break;
    case 'bad-id':
      if (!route.path.includes('{id}')) return undefined;
      url = route.path.replace('{id}', a.id);
      if (route.body) payload = '{"epoch":1}';
      break;
    case 'other-tenant':
      if (!route.path.startsWith('/v1/jobs/{id}')) return undefined;
      url = route.path.replace('{id}', otherJob);
      authorization = `Bearer ${tokens.tenant}`;
      break;
  }
  return {
    method: route.method,
    url,
    headers: {
      ...(authorization ? { authorization } : {}),
      ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(payload !== undefined ? { payload } : {}),
  };
}

describe.skipIf(sqlite.skip !== undefined)('API fuzzing', () => {
  it('answers every hostile request on every route with a 4xx JSON error and changes no row', async () => {
    const before = await rowCounts();
    expect(guarded().length).toBeGreaterThan(15);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 1000 }),
        attack,
        fc.base64String({ minLength: 44, maxLength: 44 }).map((s) => s.slice(0, 43)),
        async (index, a, noise) => {
          const route = guarded()[index % guarded().length];
          const req = request(route, a, `sf_t_${noise.replace(/[+/=]/g, 'A')}`);
          if (!req) return;
          const res = await app.inject(req);
          expect(
            res.statusCode,
            `${route.method} ${req.url}: ${res.body.slice(0, 200)}`,
          ).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, `${route.method} ${req.url}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
          expect(typeof res.json().error).toBe('string');
        },
      ),
      propertyParams(600),
    );
    expect(await rowCounts()).toEqual(before);
  }, 60_000);

  it('refuses blob keys that climb out of their folder when submitting and completing uploads', async () => {
    const before = await rowCounts();
    for (const key of ['../../etc/passwd', 'uploads/acme/../../x', '/etc/passwd', 'a//b', 'a/./b', '..']) {
      for (const [url, body] of [
        ['/v1/jobs', { input: key, processors: ['passthrough'] }],
        ['/v1/jobs', { input: 'uploads/acme/x.mp4', sources: [key], processors: ['passthrough'] }],
        ['/v1/uploads/complete', { key, uploadId: 'u', etags: ['e'] }],
      ] as const) {
        const res = await app.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${tokens.tenant}` },
          payload: body,
        });
        expect(res.statusCode, `${url} ${key}`).toBe(400);
        expect(typeof res.json().error).toBe('string');
      }
    }
    // An upload's name is only a name: whatever it holds, the key stays a plain path in the tenant's folder.
    const res = await app.inject({
      method: 'POST',
      url: '/v1/uploads',
      headers: { authorization: `Bearer ${tokens.tenant}` },
      payload: { name: '../../../etc/passwd', size: 10 },
    });
    if (res.statusCode === 201) {
      const { key } = res.json() as { key: string };
      expect(key.split('/')).not.toContain('..');
      expect(key.startsWith('uploads/acme/') || key.includes('acme')).toBe(true);
    } else expect(res.statusCode).toBe(400);
    expect(await rowCounts()).toEqual(before);
  });
});
