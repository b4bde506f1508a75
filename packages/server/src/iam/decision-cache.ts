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
 * of an audited secret read's cost. On SQLite this process is the database's only writer: every change to
 * identities goes through its IAM service, which invalidates the cache. On PostgreSQL other instances change
 * identities too: their changes arrive as notifications (`IamChangeFeed`), which clear the cache (`invalidate`),
 * and the cache answers only while the feed shows that it receives them (`serveUntil`).
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
  /** Until when (`performance.now()`) entries may be answered and stored; always, unless a feed says otherwise. */
  private servingUntil = Number.POSITIVE_INFINITY;

  constructor(
    /** The executor whose reads may be cached (the reader connection); reads inside transactions never are. */
    readonly reader: unknown,
    private readonly ttlMs = DECISION_CACHE_TTL_MS,
    private readonly maxEntries = DECISION_CACHE_ENTRIES,
  ) {}

  /**
   * For a cache kept true by a feed of other processes' changes: answers (and stores) only until `until`
   * (`performance.now()` time), which the feed moves on while it can vouch for having received every change
   * committed until shortly before. Past it, every decision is read from the database.
   */
  serveUntil(until: number): void {
    this.servingUntil = until;
  }

  /** Whether entries are answered now. */
  serving(): boolean {
    return performance.now() < this.servingUntil;
  }

  /** Another process changed identities (a notification): forget everything read so far. */
  invalidate(): void {
    this.clear();
  }

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
    if (!this.serving()) return undefined;
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
    if (generation !== this.generation || !this.serving()) return;
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
