import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  hashToken,
  type Principal,
  type Role,
  TENANT_NAME,
  type TokenStore,
  tokenRole,
} from '../coordinator/tokens.js';
import { Text } from '../protocol/textSchema.js';

// The token service lives in coordinator/tokens.ts, the visibility of jobs in coordinator/jobQueries.ts.
export { visibleJob, visibleJobsFilter } from '../coordinator/jobQueries.js';
export {
  CachedTokenStore,
  generateToken,
  hashToken,
  type IssuedToken,
  issueToken,
  type Principal,
  type Role,
  type TokenStore,
  tokenRole,
} from '../coordinator/tokens.js';

/**
 * Who may call the API:
 * - `admin`: one token from configuration (SPOTFUSE_ADMIN_TOKEN); issues and revokes the others, sees everything.
 * - `worker`: claims tasks and drives the leases it holds (heartbeat, segment URL, checkpoint, complete, release).
 * - `tenant`: submits, reads, cancels and downloads its own jobs only.
 *
 * Worker and tenant tokens are issued by the admin and stored as the SHA-256 of their secret, so a copy of
 * the database does not give anyone a usable token. A token's secret is shown once, when it is issued.
 *
 * Token format: `sf_<role letter>_<secret>`, where the letter is `w` (worker) or `t` (tenant) and the
 * secret is 32 random bytes in base64url without padding (43 characters): 48 characters in all. The
 * prefix lets secret scanners and people tell what a leaked string is; the whole string is what gets hashed.
 */
export type AuthResult = { principal: Principal } | { error: string };

/** Maps the bearer token of a request (undefined when there is none) to who is calling, or why not. */
export type Authenticator = (bearer: string | undefined) => Promise<AuthResult>;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireRole` once the request is authenticated. */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** Set by `installAuth`; used by `requireRole`. */
    authenticator?: Authenticator;
  }
}

/**
 * Constant-time comparison of a presented secret with the configured one. Both are hashed first, so
 * `timingSafeEqual` always compares two 32-byte digests: neither the content nor the length of the
 * expected secret shows in the time taken.
 */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Who `bearer` is. The admin token is compared in constant time (`sameSecret`). Every other token is
 * looked up by the SHA-256 of the presented string: the database compares digests, not secrets, so
 * however its index lookup's time varies, it varies with how the digest of the guess relates to stored
 * digests. An attacker cannot choose a guess whose digest approaches an unknown digest (that would be a
 * preimage search on SHA-256), so timing tells nothing about any real secret.
 */
export async function authenticate(
  store: TokenStore | undefined,
  bearer: string | undefined,
  adminToken: string | undefined,
  now: number = Date.now(),
): Promise<AuthResult> {
  if (!bearer) return { error: 'missing token' };
  if (adminToken && sameSecret(bearer, adminToken)) return { principal: { role: 'admin' } };
  const claimed = tokenRole(bearer);
  // Strings not in token format never reach the database.
  if (!claimed || !store) return { error: 'invalid token' };
  const record = await store.findTokenByHash(hashToken(bearer));
  // A revoked token gets the same answer as one that never existed: the answer tells nobody which it was.
  if (!record || record.role !== claimed || record.revokedAt !== null) return { error: 'invalid token' };
  await store.touchToken(record.id, now);
  return {
    principal: { role: record.role, tokenId: record.id, ...(record.tenant ? { tenant: record.tenant } : {}) },
  };
}

export interface AuthConfig {
  /** Store-backed worker and tenant tokens (cluster mode). */
  tokens?: TokenStore;
  /** SPOTFUSE_ADMIN_TOKEN. */
  adminToken?: string;
  /** Embedded mode: the one random token the local workers are started with; acts as a worker. */
  workerToken?: string;
  now?: () => number;
}

/** One authenticator for every source of tokens a server accepts. */
export function makeAuthenticator(config: AuthConfig): Authenticator {
  const now = config.now ?? Date.now;
  return async (bearer) => {
    if (bearer && config.workerToken && sameSecret(bearer, config.workerToken)) {
      return { principal: { role: 'worker' } };
    }
    return authenticate(config.tokens, bearer, config.adminToken, now());
  };
}

/** The admin token from the environment; undefined when unset. A short one is refused. */
export function adminTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env.SPOTFUSE_ADMIN_TOKEN?.trim();
  if (!token) return undefined;
  if (token.length < 24) throw new Error('SPOTFUSE_ADMIN_TOKEN must be at least 24 characters long');
  return token;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  return m ? m[1] : undefined;
}

/** Makes `requireRole` work on `app` and every plugin registered inside it. */
export function installAuth(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorate('authenticator', authenticator);
  app.decorateRequest('principal', null);
}

/**
 * A hook that lets through only callers with one of `roles`, and sets `request.principal`. Missing,
 * unknown or revoked token: 401 (`invalid token` for the last two alike); a valid token of another role: 403; both with a JSON `{ error }` body.
 * Works as `onRequest` (preferred: an unauthenticated body is never read or parsed) or `preHandler`.
 */
export function requireRole(...roles: Role[]) {
  const allowed = new Set<Role>(roles);
  const needs = `requires a${roles[0] === 'admin' ? 'n' : ''} ${roles.join(' or ')} token`;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const authenticator = request.server.authenticator;
    if (!authenticator) throw new Error('requireRole used on a server without installAuth');
    const result = await authenticator(bearerToken(request.headers.authorization));
    if ('error' in result) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: result.error });
    }
    if (!allowed.has(result.principal.role)) return reply.code(403).send({ error: needs });
    request.principal = result.principal;
  };
}

/** Body of `POST /v1/tokens`. */
export const CreateTokenBody = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('worker') }),
  z.strictObject({
    role: z.literal('tenant'),
    tenant: Text.regex(TENANT_NAME),
    /** The tenant's fair share of the workers from now on (default 1); sets `maxRunning` too. */
    share: z.number().positive().max(1_000_000).optional(),
    /** Most tasks the tenant may have under a lease at once, from now on (default: no cap). */
    maxRunning: z
      .number()
      .int()
      .positive()
      .max(2 ** 31 - 1)
      .optional(),
  }),
]);

export const TokenIdParams = z.object({ id: Text.min(1).max(100) });
