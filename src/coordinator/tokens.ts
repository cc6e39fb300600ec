import { createHash, randomBytes } from 'node:crypto';
import {
  type NewToken,
  TENANT_NAME,
  TOKEN_TOUCH_INTERVAL_MS,
  type TokenRecord,
  type TokenRole,
  type TokenStore,
} from '../store/store.js';

export { TENANT_NAME, type TokenRecord, type TokenRole };

/**
 * Worker and tenant tokens: issued by the admin, stored as the SHA-256 of their secret, looked up through a
 * cache on every request (see api/auth.ts for the roles and the token format).
 */
export type Role = 'admin' | TokenRole;

export interface Principal {
  role: Role;
  /** The tenant a `tenant` token acts for. */
  tenant?: string;
  /** The stored token this principal authenticated with; absent for the admin and the embedded worker token. */
  tokenId?: string;
}

/** The store calls authentication needs. */
export type { TokenStore };

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
  private readonly lookups = new Map<string, Promise<TokenRecord | undefined>>();
  private revocations = 0;

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

  findTokenByHash(secretHash: string): Promise<TokenRecord | undefined> {
    const cached = this.known.get(secretHash);
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.record);
    // One lookup per token at a time: when an entry runs out, the hundreds of requests that arrive before
    // the store answers wait for that one query instead of each queueing one for a database connection.
    let lookup = this.lookups.get(secretHash);
    if (!lookup) {
      lookup = this.lookUp(secretHash).finally(() => this.lookups.delete(secretHash));
      this.lookups.set(secretHash, lookup);
    }
    return lookup;
  }

  private async lookUp(secretHash: string): Promise<TokenRecord | undefined> {
    const revocations = this.revocations;
    const record = await this.store.findTokenByHash(secretHash);
    // A token revoked while it was being looked up may be the one found: not kept.
    if (!record || revocations !== this.revocations) {
      this.known.delete(secretHash);
      return record;
    }
    if (this.known.size >= TOKEN_CACHE_ENTRIES) this.known.clear();
    this.known.set(secretHash, { record, until: Date.now() + this.ttlMs });
    return record;
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    // Before and after: a lookup that overlapped the revocation in any way keeps nothing.
    this.revocations++;
    const revoked = await this.store.revokeToken(id, now);
    this.revocations++;
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

/** A tenant's fair share and cap on running tasks, as its new token sets them (see NewToken). */
export type TenantShare = Pick<NewToken, 'share' | 'maxRunning'>;

/** Creates a worker token, or a tenant token for `tenant` (setting its share and cap when given). */
export async function issueToken(
  store: TokenStore,
  role: TokenRole,
  tenant?: string,
  now: number = Date.now(),
  share: TenantShare = {},
): Promise<IssuedToken> {
  const token = generateToken(role);
  const record = await store.createToken({ role, tenant: tenant ?? null, ...share }, hashToken(token), now);
  return { token, record };
}
