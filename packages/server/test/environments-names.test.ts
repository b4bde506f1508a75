import { describe, expect, it } from 'vitest';
import {
  checkEnvironmentName,
  checkEnvironmentTagName,
  checkOrgName,
  checkProjectName,
  checkRevisionTagName,
  DEFAULT_PROJECT,
  environmentEtag,
  etagMatches,
  EnvironmentStoreError,
  parseVersion,
} from '../src/environments/index.js';
import { decodeToken, encodeToken, pageSize } from '../src/environments/paging.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(EnvironmentStoreError);
    return (error as EnvironmentStoreError).code;
  }
}

describe('environment names', () => {
  it('accepts organization logins of 3–40 characters, alphanumeric at both ends', () => {
    for (const ok of ['abc', 'acme-corp', 'a_b', 'A1', 'x'.repeat(40)].filter((n) => n.length >= 3))
      expect(checkOrgName(ok)).toBe(ok);
    for (const bad of ['ab', 'x'.repeat(41), '-acme', 'acme-', 'ac me', 'ac.me', 'acme_', ''])
      expect(codeOf(() => checkOrgName(bad))).toBe('invalid-name');
  });

  it('accepts the implicit project "default" and names that merely start with a reserved word', () => {
    expect(checkProjectName(DEFAULT_PROJECT)).toBe('default');
    expect(checkProjectName('default-apps')).toBe('default-apps');
    expect(checkEnvironmentName('openai')).toBe('openai');
    expect(checkEnvironmentName('yaml-configs')).toBe('yaml-configs');
    expect(checkEnvironmentName('.hidden')).toBe('.hidden');
    expect(checkEnvironmentName('v1.2_prod-eu')).toBe('v1.2_prod-eu');
  });

  it('refuses the exact reserved names, bad characters and lengths outside 1–100', () => {
    for (const bad of ['.', '..', 'open', 'yaml', '', 'a/b', 'a b', 'é', 'x'.repeat(101)])
      expect(codeOf(() => checkEnvironmentName(bad))).toBe('invalid-name');
    for (const bad of ['.', '..', '', 'a/b', 'x'.repeat(101)])
      expect(codeOf(() => checkProjectName(bad))).toBe('invalid-name');
    expect(checkProjectName('open')).toBe('open');
    expect(checkEnvironmentName('x'.repeat(100))).toHaveLength(100);
  });

  it('refuses revision tag names that begin with a digit (those select revisions)', () => {
    expect(checkRevisionTagName('prod')).toBe('prod');
    expect(checkRevisionTagName('v2')).toBe('v2');
    for (const bad of ['2prod', '', '.', '..', 'a b', 'x'.repeat(101)])
      expect(codeOf(() => checkRevisionTagName(bad))).toBe('invalid-name');
  });

  it('checks environment tag names', () => {
    expect(checkEnvironmentTagName('team:platform')).toBe('team:platform');
    for (const bad of ['', 'a b', 'x'.repeat(41)])
      expect(codeOf(() => checkEnvironmentTagName(bad))).toBe('invalid-name');
  });
});

describe('version path segments', () => {
  it('treats a segment beginning with a digit as a revision number, anything else as a tag', () => {
    expect(parseVersion('3')).toEqual({ revision: 3 });
    expect(parseVersion('2147483647')).toEqual({ revision: 2147483647 });
    expect(parseVersion('latest')).toEqual({ tag: 'latest' });
    expect(parseVersion('prod')).toEqual({ tag: 'prod' });
  });

  it('refuses non-canonical revision numbers', () => {
    for (const bad of ['0', '03', '3a', '1.5', '2147483648', '99999999999'])
      expect(codeOf(() => parseVersion(bad))).toBe('invalid-revision');
    expect(codeOf(() => parseVersion('a b'))).toBe('invalid-name');
  });
});

describe('ETags', () => {
  it('are strong, quoted, and differ by environment and revision', () => {
    const a1 = environmentEtag('a', 1);
    expect(a1).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(environmentEtag('a', 2)).not.toBe(a1);
    expect(environmentEtag('b', 1)).not.toBe(a1);
    expect(environmentEtag('a', 1)).toBe(a1);
  });

  it('match with or without quotes, never weakly', () => {
    const tag = environmentEtag('a', 1);
    expect(etagMatches(tag, tag)).toBe(true);
    expect(etagMatches(tag.slice(1, -1), tag)).toBe(true);
    expect(etagMatches(`W/${tag}`, tag)).toBe(false);
    expect(etagMatches(environmentEtag('a', 2), tag)).toBe(false);
    expect(etagMatches('', tag)).toBe(false);
  });
});

describe('continuation tokens', () => {
  it('round-trip and refuse tokens of another kind, shape or forgery', () => {
    const token = encodeToken('environments', ['p', 'n']);
    expect(decodeToken('environments', token, ['string', 'string'])).toEqual(['p', 'n']);
    const refused = (f: () => unknown) => expect(codeOf(f)).toBe('invalid-continuation-token');
    refused(() => decodeToken('deleted', token, ['string', 'string']));
    refused(() => decodeToken('environments', token, ['string', 'number']));
    refused(() => decodeToken('environments', 'not a token!', ['string', 'string']));
    refused(() => decodeToken('environments', Buffer.from('{').toString('base64url'), ['string']));
    refused(() => decodeToken('environments', 'A'.repeat(4000), ['string']));
  });

  it('clamps page sizes and refuses nonsense', () => {
    expect(pageSize(undefined)).toBe(100);
    expect(pageSize(5)).toBe(5);
    expect(pageSize(10 ** 9)).toBe(1000);
    expect(codeOf(() => pageSize(0))).toBe('invalid-argument');
    expect(codeOf(() => pageSize(1.5))).toBe('invalid-argument');
  });
});
