import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Text } from '../protocol/textSchema.js';
import {
  type JobFilter,
  type JobStore,
  type StoredJob,
  TENANT_NAME,
  TOKEN_TOUCH_INTERVAL_MS,
  type TokenRecord,
  type TokenRole,
  type TokenStore,
} from '../store/store.js';

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
export type Role = 'admin' | TokenRole;

export interface Principal {
  role: Role;
  /** The tenant a `tenant` token acts for. */
  tenant?: string;
  /** The stored token this principal authenticated with; absent for the admin and the embedded worker token. */
  tokenId?: string;
}

export type AuthResult = { principal: Principal } | { error: string };

/** Maps the bearer token of a request (undefined when there is none) to who is calling, or why not. */
export type Authenticator = (bearer: string | undefined) => Promise<AuthResult>;

/** The store calls authentication needs. */
export type { TokenStore };

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

const ROLE_LETTER: Record<TokenRole, string> = { worker: 'w', tenant: 't' };
const TOKEN_PATTERN = /^sf_([wt])_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;

/** A fresh token string for `role` (see the format above). */
export function generateToken(role: TokenRole): string {
  return `sf_${ROLE_LETTER[role]}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/** The role a string in token format claims to carry, or undefined when it is not in token format. */
export function tokenRole(token: string): TokenRole | undefined {
  const m = TOKEN_PATTERN.exec(token);
  if (!m) return undefined;
  return m[1] === 'w' ? 'worker' : 'tenant';
}

/** What the store keeps of a token: the hex SHA-256 of the whole token string. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
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

/** Entries the token cache holds at most; it starts afresh when full (a flood of distinct tokens). */
const TOKEN_CACHE_ENTRIES = 10_000;

/**
 * The token lookups every request makes, kept in memory for `ttlMs` so that a lease call costs no token
 * query: a known token is looked up again after `ttlMs`, and marked used at most once per
 * TOKEN_TOUCH_INTERVAL_MS by this process. Unknown tokens are never cached. A token revoked through this
 * cache stops working at once; one revoked through another coordinator replica works here for at most
 * `ttlMs` more.
 */
export class CachedTokenStore implements TokenStore {
  private readonly known = new Map<string, { record: TokenRecord; until: number }>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: TokenStore,
    private readonly ttlMs = 5000,
  ) {}

  createToken(...args: Parameters<TokenStore['createToken']>): Promise<TokenRecord> {
    return this.store.createToken(...args);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.store.listTokens();
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | undefined> {
    const cached = this.known.get(secretHash);
    if (cached && cached.until > Date.now()) return cached.record;
    const record = await this.store.findTokenByHash(secretHash);
    if (!record) {
      this.known.delete(secretHash);
      return undefined;
    }
    if (this.known.size >= TOKEN_CACHE_ENTRIES) this.known.clear();
    this.known.set(secretHash, { record, until: Date.now() + this.ttlMs });
    return record;
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    const revoked = await this.store.revokeToken(id, now);
    for (const [hash, entry] of this.known) if (entry.record.id === id) this.known.delete(hash);
    return revoked;
  }

  async touchToken(id: string, now: number): Promise<void> {
    const last = this.touched.get(id);
    if (last !== undefined && now - last < TOKEN_TOUCH_INTERVAL_MS && now >= last) return;
    this.touched.set(id, now);
    await this.store.touchToken(id, now);
  }
}

export interface IssuedToken {
  /** The secret: returned this once, never stored, never listed. */
  token: string;
  record: TokenRecord;
}

/** Creates a worker token, or a tenant token for `tenant`. */
export async function issueToken(
  store: TokenStore,
  role: TokenRole,
  tenant?: string,
  now: number = Date.now(),
): Promise<IssuedToken> {
  const token = generateToken(role);
  const record = await store.createToken({ role, tenant: tenant ?? null }, hashToken(token), now);
  return { token, record };
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

/**
 * The job if `principal` may see it. A tenant asking for another tenant's job gets the same answer as
 * for a job that does not exist (the API answers 404 for both), so job ids of others cannot be probed.
 */
export async function visibleJob(
  store: JobStore,
  principal: Principal,
  jobId: string,
): Promise<StoredJob | undefined> {
  const job = await store.getJob(jobId);
  if (!job) return undefined;
  if (principal.role === 'admin') return job;
  if (principal.role === 'tenant' && principal.tenant !== undefined && job.tenant === principal.tenant) {
    return job;
  }
  return undefined;
}

/** The `listJobs` filter for what `principal` may see; workers see no jobs. */
export function visibleJobsFilter(principal: Principal): JobFilter | undefined {
  if (principal.role === 'admin') return {};
  if (principal.role === 'tenant' && principal.tenant !== undefined) return { tenant: principal.tenant };
  return undefined;
}

/** Body of `POST /v1/tokens`. */
export const CreateTokenBody = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('worker') }),
  z.strictObject({ role: z.literal('tenant'), tenant: Text.regex(TENANT_NAME) }),
]);

export const TokenIdParams = z.object({ id: Text.min(1).max(100) });
