import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkEnvironmentName,
  checkOrgLogin,
  checkTeamName,
  checkUserLogin,
  ORG_LOGIN_PATTERN,
} from '../src/iam/names.js';
import { checkPassword, hashPassword, parseHash, verifyPasswordHash } from '../src/iam/passwords.js';
import { maxPermission, permits } from '../src/iam/permissions.js';
import { generateTokenText, isWellFormedTokenText, tokenHash } from '../src/iam/token-text.js';

const cheap = { N: 1024, r: 8, p: 1 };

describe('names', () => {
  it.each(['acme', 'a-b', 'a_b', 'ACME-corp_2', 'x'.repeat(40)])('accepts organization login %s', (login) => {
    expect(checkOrgLogin(login)).toBe(login);
  });

  it.each(['ab', 'x'.repeat(41), '-acme', 'acme-', 'acme_', 'ac me', 'acmé', 'a.b', '', 'acme\n'])(
    'refuses organization login %j with invalid-name',
    (login) => {
      expect(() => checkOrgLogin(login)).toThrow(expect.objectContaining({ code: 'invalid-name' }));
    },
  );

  it('allows one- and two-character user logins, unlike organizations', () => {
    expect(checkUserLogin('a')).toBe('a');
    expect(checkUserLogin('ab')).toBe('ab');
    expect(() => checkUserLogin('a-')).toThrow(expect.objectContaining({ code: 'invalid-name' }));
    expect(() => checkUserLogin(42)).toThrow(expect.objectContaining({ code: 'invalid-name' }));
  });

  it('team names take dots and up to 100 characters', () => {
    expect(checkTeamName('platform.sre-1_x')).toBe('platform.sre-1_x');
    expect(checkTeamName('t'.repeat(100))).toHaveLength(100);
    for (const bad of ['.hidden', 't'.repeat(101), 'a b', '', 'a/b'])
      expect(() => checkTeamName(bad)).toThrow(expect.objectContaining({ code: 'invalid-name' }));
  });

  it('environment names refuse the wildcard, path separators, . and ..', () => {
    expect(checkEnvironmentName('prod.eu-1')).toBe('prod.eu-1');
    for (const bad of ['*', '.', '..', 'a/b', '', 'x'.repeat(101)])
      expect(() => checkEnvironmentName(bad)).toThrow(expect.objectContaining({ code: 'invalid-name' }));
  });

  it('never echoes a long or non-printable value in the error message', () => {
    const secret = 'vgl_pat_' + 'A'.repeat(80);
    expect(() => checkOrgLogin(secret)).toThrow(
      expect.not.objectContaining({ message: expect.stringContaining('AAAA') }),
    );
    expect(() => checkOrgLogin('\u001b[2J')).toThrow('invalid organization login');
  });

  it('organization logins: the pattern matches a naive spelled-out rule', () => {
    const alnum = /^[a-zA-Z0-9]$/;
    const naive = (s: string) =>
      s.length >= 3 &&
      s.length <= 40 &&
      alnum.test(s[0]!) &&
      alnum.test(s[s.length - 1]!) &&
      [...s].every((c) => alnum.test(c) || c === '-' || c === '_');
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'aZ09-_.é '.split('')), maxLength: 45 }), (s) => {
        expect(ORG_LOGIN_PATTERN.test(s)).toBe(naive(s));
      }),
    );
  });
});

describe('permissions order', () => {
  it('none < read < open < write < admin', () => {
    expect(maxPermission()).toBe('none');
    expect(maxPermission('read', 'admin', 'open')).toBe('admin');
    expect(maxPermission('open', 'read')).toBe('open');
    expect(permits('open', 'read')).toBe(true);
    expect(permits('read', 'open')).toBe(false);
    expect(permits('none', 'none')).toBe(true);
  });
});

describe('password hashing', () => {
  it('stores a self-describing scrypt string and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery', cheap);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(stored).not.toContain('correct');
    expect(await verifyPasswordHash('correct horse battery', stored)).toBe(true);
    expect(await verifyPasswordHash('correct horse batterY', stored)).toBe(false);
    expect(await verifyPasswordHash('', stored)).toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([
      hashPassword('same password!', cheap),
      hashPassword('same password!', cheap),
    ]);
    expect(a).not.toBe(b);
  });

  it('compares Unicode passwords after NFC normalization', async () => {
    const stored = await hashPassword('caf\u00e9 au lait!!', cheap);
    expect(await verifyPasswordHash('cafe\u0301 au lait!!', stored)).toBe(true);
  });

  it('parses strictly and refuses tampered or absurd parameters', async () => {
    const stored = await hashPassword('correct horse battery', cheap);
    expect(parseHash(stored)?.params).toEqual(cheap);
    for (const bad of [
      stored.replace('scrypt', 'bcrypt'),
      stored.replace('$1024$', '$01024$'),
      stored.replace('$1024$', '$1000$'),
      stored.replace('$1024$', `$${2 ** 24}$`),
      stored.replace('$8$', '$99$'),
      stored + '$x',
      stored.replace(/\$[^$]+$/, '$not*base64'),
      '',
    ]) {
      expect(parseHash(bad)).toBeUndefined();
      expect(await verifyPasswordHash('correct horse battery', bad)).toBe(false);
    }
  });

  it('enforces 12 to 1024 characters', () => {
    expect(() => checkPassword('short')).toThrow(expect.objectContaining({ code: 'invalid-password' }));
    expect(() => checkPassword('x'.repeat(1025))).toThrow(
      expect.objectContaining({ code: 'invalid-password' }),
    );
    expect(checkPassword('twelve chars')).toBe('twelve chars');
  });
});

describe('token text', () => {
  it('names its kind and carries 256 random bits', () => {
    const text = generateTokenText('personal');
    expect(text).toMatch(/^vgl_pat_[A-Za-z0-9_-]{43}$/);
    expect(generateTokenText('organization')).toMatch(/^vgl_org_/);
    expect(generateTokenText('team')).toMatch(/^vgl_team_/);
    expect(generateTokenText('session')).toMatch(/^vgl_ses_/);
    expect(generateTokenText('personal')).not.toBe(text);
    expect(tokenHash(text)).toHaveLength(32);
  });

  it('refuses oversized or non-printable text before hashing', () => {
    expect(isWellFormedTokenText('x'.repeat(256))).toBe(true);
    expect(isWellFormedTokenText('x'.repeat(257))).toBe(false);
    expect(isWellFormedTokenText('a b')).toBe(false);
    expect(isWellFormedTokenText('')).toBe(false);
    expect(isWellFormedTokenText(undefined)).toBe(false);
  });
});
