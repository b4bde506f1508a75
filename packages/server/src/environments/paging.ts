import { EnvironmentStoreError } from './errors.js';

/** Page size when the caller names none. */
export const DEFAULT_PAGE_SIZE = 100;
/** The largest page we serve: bounds one request's work whatever `maxResults`/`count` says. */
export const MAX_PAGE_SIZE = 1000;

/** Clamps a requested page size into 1..MAX_PAGE_SIZE; a non-integer or non-positive size is refused. */
export function pageSize(requested: number | undefined): number {
  if (requested === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(requested) || requested < 1)
    throw new EnvironmentStoreError('invalid-argument', `page size must be a positive integer`);
  return Math.min(requested, MAX_PAGE_SIZE);
}

/**
 * Continuation tokens are opaque to clients: base64url of JSON `[kind, ...key]`, the keyset position of the last
 * item served. `kind` keeps a token of one listing from being replayed against another.
 */
export function encodeToken(kind: string, key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify([kind, ...key])).toString('base64url');
}

/** Decodes a token of `kind` whose key has the given shape; anything else is 'invalid-continuation-token'. */
export function decodeToken<const T extends readonly ('string' | 'number')[]>(
  kind: string,
  token: string,
  shape: T,
): { [K in keyof T]: T[K] extends 'string' ? string : number } {
  const refuse = () =>
    new EnvironmentStoreError(
      'invalid-continuation-token',
      'the continuation token is not one this server issued',
    );
  // Tokens are client input: bound the size before decoding, and check every element's type.
  if (typeof token !== 'string' || token.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(token)) throw refuse();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(parsed) || parsed.length !== shape.length + 1 || parsed[0] !== kind) throw refuse();
  const key = parsed.slice(1);
  key.forEach((value, i) => {
    if (typeof value !== shape[i]) throw refuse();
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw refuse();
  });
  return key as { [K in keyof T]: T[K] extends 'string' ? string : number };
}
