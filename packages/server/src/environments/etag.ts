import { hash, timingSafeEqual } from 'node:crypto';

/**
 * The strong ETag of an environment at a revision: `"` base64url(SHA-256("vigil etag v1\0" id "\0" revision)) `"`.
 * It names the content exactly (revisions are immutable), and the environment's random id keeps a deleted and
 * re-created environment from ever matching its predecessor's tags.
 */
export function environmentEtag(environmentId: string, revision: number): string {
  const digest = hash('sha256', `vigil etag v1\0${environmentId}\0${revision}`, 'base64url');
  return `"${digest}"`;
}

/**
 * Strong comparison (RFC 9110 §8.8.3.2) of a client's ETag with ours. Accepts the tag with or without its
 * quotes (the Go CLI echoes the header verbatim; other clients strip them); a weak tag (`W/"…"`) never matches.
 */
export function etagMatches(given: string, expected: string): boolean {
  const trimmed = given.trim();
  const quoted = trimmed.startsWith('"') ? trimmed : `"${trimmed}"`;
  const a = Buffer.from(quoted);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
