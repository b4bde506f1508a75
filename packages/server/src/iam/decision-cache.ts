import type { Principal } from './principal.js';
import type { EnvironmentPermission, OrgRole } from './permissions.js';

/** What `access` decides for a principal in an organization (and, with a target, on one environment). */
export interface AccessDecision {
  readonly role: OrgRole | undefined;
  readonly permission: EnvironmentPermission;
}

/** A cached authentication: the principal and what expiry and last-use checks need on every hit. */
export interface CachedToken {
  readonly principal: Principal;
  readonly tokenId: string;
  readonly expiresAt: number | null;
  lastUsedAt: number | null;
}

/** Entries kept per map; past it the oldest go (a bounded cache cannot be grown by a caller). */
export const DECISION_CACHE_ENTRIES = 10_000;
/** Defence in depth: even an entry nothing invalidated is re-read after this long. */
export const DECISION_CACHE_TTL_MS = 30_000;

/**
 * Authentication and authorization decisions read on the reader connection, kept in memory: without it every
 * request reads its token (three joins) and its organization role and grants (two or three queries) — a quarter
 * of an audited secret read's cost. Only for a database that this process alone writes (SQLite): there every
 * change to identities goes through this process's IAM service, which invalidates the cache.
 *
 * Invalidation: every IAM function that writes calls `changed()` before it writes (the maps are cleared), and the
 * ledger calls `committed()` after every commit (cleared again if a change was pending: a decision read between
 * the write and its commit saw the old state). A decision being read while either happens is not stored: each
 * fill remembers the generation it started in. Revoked, expired and unknown tokens are never cached; expiry is
 * checked on every hit.
 */
export class DecisionCache {
  private generation = 0;
  private pending = false;
  private readonly tokens = new Map<string, { generation: number; at: number; value: CachedToken }>();
  private readonly decisions = new Map<string, { generation: number; at: number; value: AccessDecision }>();

  constructor(
    /** The executor whose reads may be cached (the reader connection); reads inside transactions never are. */
    readonly reader: unknown,
    private readonly ttlMs = DECISION_CACHE_TTL_MS,
    private readonly maxEntries = DECISION_CACHE_ENTRIES,
  ) {}

  /** An identity, membership, team, grant, token or organization setting is about to change. */
  changed(): void {
    this.pending = true;
    this.clear();
  }

  /** A transaction committed; if an IAM change was pending, it is now visible: forget what was read before. */
  committed(): void {
    if (!this.pending) return;
    this.pending = false;
    this.clear();
  }

  /** The generation a fill starts in; pass it back to `store…` so that a fill overtaken by a change is dropped. */
  begin(): number {
    return this.generation;
  }

  token(hash: string): CachedToken | undefined {
    return this.fresh(this.tokens, hash);
  }

  storeToken(generation: number, hash: string, value: CachedToken): void {
    this.store(this.tokens, generation, hash, value);
  }

  forgetToken(hash: string): void {
    this.tokens.delete(hash);
  }

  decision(key: string): AccessDecision | undefined {
    return this.fresh(this.decisions, key);
  }

  storeDecision(generation: number, key: string, value: AccessDecision): void {
    this.store(this.decisions, generation, key, value);
  }

  private clear(): void {
    this.generation++;
    this.tokens.clear();
    this.decisions.clear();
  }

  private fresh<T>(
    map: Map<string, { generation: number; at: number; value: T }>,
    key: string,
  ): T | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    if (entry.generation !== this.generation || performance.now() - entry.at > this.ttlMs) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  private store<T>(
    map: Map<string, { generation: number; at: number; value: T }>,
    generation: number,
    key: string,
    value: T,
  ): void {
    if (generation !== this.generation) return;
    if (map.size >= this.maxEntries) map.delete(map.keys().next().value!);
    map.set(key, { generation, at: performance.now(), value });
  }
}

/** The cache key of an access decision: who (token and user), where (organization, environment). */
export function decisionKey(
  principal: Principal,
  org: string,
  target?: { project: string; env: string },
): string {
  return JSON.stringify([
    principal.token?.id ?? null,
    principal.user?.id ?? null,
    org,
    target?.project ?? null,
    target?.env ?? null,
  ]);
}
