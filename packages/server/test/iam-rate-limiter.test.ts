import { describe, expect, it } from 'vitest';
import { IamError } from '../src/iam/errors.js';
import {
  ACCOUNT_FAILURE_LIMIT,
  FAILURE_WINDOW_MS,
  IP_FAILURE_LIMIT,
  ipKey,
  LoginRateLimiter,
} from '../src/iam/login-rate-limiter.js';

function fakeClock(start = 1_700_000_000_000) {
  const clock = { t: start, now: () => clock.t, advance: (ms: number) => void (clock.t += ms) };
  return clock;
}

describe('login rate limiter', () => {
  it('allows ten failures per account, then refuses with the seconds until the oldest one leaves the window', () => {
    const clock = fakeClock();
    const limiter = new LoginRateLimiter({ now: clock.now });
    for (let i = 0; i < ACCOUNT_FAILURE_LIMIT; i++) {
      expect(limiter.check('alice', '10.0.0.1')).toEqual({ allowed: true });
      limiter.recordFailure('alice', '10.0.0.1');
      clock.advance(1000);
    }
    // The first failure was 10 s ago: a slot frees when it is 15 minutes old.
    expect(limiter.check('alice', '10.0.0.2')).toEqual({
      allowed: false,
      scope: 'account',
      retryAfterSeconds: FAILURE_WINDOW_MS / 1000 - 10,
    });
    expect(limiter.check('bob', '10.0.0.1')).toEqual({ allowed: true });
    clock.advance(FAILURE_WINDOW_MS - 10_000 - 1);
    expect(limiter.check('alice', '10.0.0.2')).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1);
    expect(limiter.check('alice', '10.0.0.2')).toEqual({ allowed: true });
  });

  it('slides: each expiring failure frees one attempt', () => {
    const clock = fakeClock();
    const limiter = new LoginRateLimiter({ now: clock.now, accountLimit: 3, windowMs: 60_000 });
    for (const _ of [1, 2, 3]) {
      limiter.recordFailure('alice', 'ip');
      clock.advance(10_000);
    }
    expect(limiter.check('alice', 'ip')).toMatchObject({ allowed: false, retryAfterSeconds: 30 });
    clock.advance(30_000);
    expect(limiter.check('alice', 'ip').allowed).toBe(true);
    limiter.recordFailure('alice', 'ip');
    expect(limiter.check('alice', 'ip')).toMatchObject({ allowed: false, retryAfterSeconds: 10 });
  });

  it('counts accounts case-insensitively', () => {
    const limiter = new LoginRateLimiter({ now: fakeClock().now, accountLimit: 2 });
    limiter.recordFailure('Alice', 'a');
    limiter.recordFailure('ALICE', 'b');
    expect(limiter.check('alice', 'c')).toMatchObject({ allowed: false, scope: 'account' });
  });

  it('limits one address spraying many accounts at fifty failures', () => {
    const clock = fakeClock();
    const limiter = new LoginRateLimiter({ now: clock.now });
    for (let i = 0; i < IP_FAILURE_LIMIT; i++) limiter.recordFailure(`user${i}`, '203.0.113.9');
    expect(limiter.check('fresh', '203.0.113.9')).toMatchObject({ allowed: false, scope: 'ip' });
    expect(limiter.check('fresh', '203.0.113.10')).toEqual({ allowed: true });
  });

  it('counts IPv6 clients per /64 and IPv4-mapped addresses as IPv4', () => {
    expect(ipKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
    expect(ipKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(ipKey('192.0.2.1')).toBe('192.0.2.1');
    const limiter = new LoginRateLimiter({ now: fakeClock().now, ipLimit: 2 });
    limiter.recordFailure('a', '2001:db8:1:2::1');
    limiter.recordFailure('b', '2001:db8:1:2::2');
    expect(limiter.check('c', '2001:db8:1:2::3')).toMatchObject({ allowed: false, scope: 'ip' });
  });

  it('clears an account after a success, but not its address', () => {
    const limiter = new LoginRateLimiter({ now: fakeClock().now, accountLimit: 2, ipLimit: 3 });
    limiter.recordFailure('alice', 'ip');
    limiter.recordFailure('alice', 'ip');
    expect(limiter.check('alice', 'other').allowed).toBe(false);
    limiter.recordSuccess('alice', 'ip');
    expect(limiter.check('alice', 'other').allowed).toBe(true);
    limiter.recordFailure('bob', 'ip');
    expect(limiter.check('carol', 'ip')).toMatchObject({ allowed: false, scope: 'ip' });
  });

  it('assertAllowed throws rate-limited carrying retryAfterSeconds', () => {
    const limiter = new LoginRateLimiter({ now: fakeClock().now, accountLimit: 1 });
    limiter.recordFailure('alice', 'ip');
    let error: unknown;
    try {
      limiter.assertAllowed('alice', 'ip');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IamError);
    expect(error).toMatchObject({ code: 'rate-limited', retryAfterSeconds: FAILURE_WINDOW_MS / 1000 });
  });

  it('bounds memory by forgetting the least recently touched keys', () => {
    const limiter = new LoginRateLimiter({
      now: fakeClock().now,
      accountLimit: 1,
      ipLimit: 1000,
      maxKeys: 3,
    });
    for (const name of ['a', 'b', 'c', 'd']) limiter.recordFailure(name, 'ip');
    expect(limiter.check('a', 'ip2').allowed).toBe(true);
    expect(limiter.check('d', 'ip2').allowed).toBe(false);
  });
});
