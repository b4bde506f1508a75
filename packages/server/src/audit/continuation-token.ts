/**
 * The audit-log continuation token: opaque to clients (Pulumi documents none), base64url of `{"before":<index>}`,
 * the keyset of the next page — the ledger index below which it starts. It names a position, not a time, so
 * events that share a second are neither skipped nor repeated.
 */
export function formatContinuationToken(before: number): string {
  return Buffer.from(JSON.stringify({ before })).toString('base64url');
}

/** Longest token accepted: `{"before":9007199254740991}` in base64url is 36 characters. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The index a token names, or undefined if it is not one this server issued. The token is attacker-controlled:
 * parsed strictly (exact shape, a safe non-negative integer), never trusted beyond the position it names.
 */
export function parseContinuationToken(token: string): number | undefined {
  if (!TOKEN.test(token)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const before = (value as { before?: unknown }).before;
  if (keys.length !== 1 || keys[0] !== 'before') return undefined;
  return typeof before === 'number' && Number.isSafeInteger(before) && before >= 0 ? before : undefined;
}
