import { isIPv6 } from 'node:net';
import { IamError } from './errors.js';

/** 10 failed sign-ins per account per window: plenty for a person mistyping, useless for guessing. */
export const ACCOUNT_FAILURE_LIMIT = 10;
/** 50 failures per client address per window: room for a NAT full of people, not for a spraying attack. */
export const IP_FAILURE_LIMIT = 50;
/** The sliding window: failures older than 15 minutes are forgotten. */
export const FAILURE_WINDOW_MS = 15 * 60_000;
/** Bounds memory under a flood of distinct logins or addresses; the oldest-touched keys are forgotten first. */
export const MAX_TRACKED_KEYS = 100_000;

export interface LoginRateLimiterOptions {
  readonly now?: () => number;
  readonly accountLimit?: number;
  readonly ipLimit?: number;
  readonly windowMs?: number;
  readonly maxKeys?: number;
}

export type RateLimitVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly scope: 'account' | 'ip'; readonly retryAfterSeconds: number };

/**
 * Counts failed sign-ins per account and per client address in a sliding window, in memory (per process).
 * Call `check` (or `assertAllowed`) before verifying a password, then `recordFailure` or `recordSuccess`.
 * A success clears the account's failures, not the address's.
 *
 * Threat notes: an attacker can lock a victim's account for up to one window by failing on purpose (the price of
 * a per-account limit; the password check is never skipped for the real owner otherwise). Each process keeps its
 * own counts, so N server processes allow N times the limit.
 */
export class LoginRateLimiter {
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #accounts: SlidingWindow;
  readonly #ips: SlidingWindow;

  constructor(options: LoginRateLimiterOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.windowMs ?? FAILURE_WINDOW_MS;
    const maxKeys = options.maxKeys ?? MAX_TRACKED_KEYS;
    this.#accounts = new SlidingWindow(
      options.accountLimit ?? ACCOUNT_FAILURE_LIMIT,
      this.#windowMs,
      maxKeys,
    );
    this.#ips = new SlidingWindow(options.ipLimit ?? IP_FAILURE_LIMIT, this.#windowMs, maxKeys);
  }

  /** Whether a sign-in attempt for `account` from `ip` may proceed now. */
  check(account: string, ip: string): RateLimitVerdict {
    const now = this.#now();
    const accountWait = this.#accounts.waitMs(accountKey(account), now);
    const ipWait = this.#ips.waitMs(ipKey(ip), now);
    if (accountWait === 0 && ipWait === 0) return { allowed: true };
    const scope = accountWait >= ipWait ? 'account' : 'ip';
    return {
      allowed: false,
      scope,
      retryAfterSeconds: Math.max(1, Math.ceil(Math.max(accountWait, ipWait) / 1000)),
    };
  }

  /** Throws `rate-limited` (with `retryAfterSeconds`) when `check` refuses. */
  assertAllowed(account: string, ip: string): void {
    const verdict = this.check(account, ip);
    if (!verdict.allowed)
      throw new IamError(
        'rate-limited',
        `too many failed sign-ins; retry in ${verdict.retryAfterSeconds} s`,
        verdict.retryAfterSeconds,
      );
  }

  recordFailure(account: string, ip: string): void {
    const now = this.#now();
    this.#accounts.add(accountKey(account), now);
    this.#ips.add(ipKey(ip), now);
  }

  recordSuccess(account: string, _ip: string): void {
    this.#accounts.clear(accountKey(account));
  }
}

/** Logins are case-insensitive, so `Alice` and `alice` share a budget. */
function accountKey(account: string): string {
  return account.toLowerCase();
}

/**
 * One IPv6 client usually holds a whole /64, so addresses are counted per /64; IPv4 (and IPv4-mapped IPv6) per
 * address.
 */
export function ipKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Failure times per key, at most `limit` kept per key (older ones cannot matter). */
class SlidingWindow {
  readonly #failures = new Map<string, number[]>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly maxKeys: number,
  ) {}

  /** Milliseconds until one more attempt is allowed; 0 when allowed now. */
  waitMs(key: string, now: number): number {
    const times = this.#live(key, now);
    if (times.length < this.limit) return 0;
    return times[times.length - this.limit]! + this.windowMs - now;
  }

  add(key: string, now: number): void {
    const times = this.#live(key, now);
    times.push(now);
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    // Re-insert so Map order is least-recently-touched first, then evict from the front when over budget.
    this.#failures.delete(key);
    this.#failures.set(key, times);
    for (const oldest of this.#failures.keys()) {
      if (this.#failures.size <= this.maxKeys) break;
      this.#failures.delete(oldest);
    }
  }

  clear(key: string): void {
    this.#failures.delete(key);
  }

  #live(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const firstLive = times.findIndex((t) => t > now - this.windowMs);
    if (firstLive === -1) {
      this.#failures.delete(key);
      return [];
    }
    if (firstLive > 0) times.splice(0, firstLive);
    return times;
  }
}
