import { ProblemError } from './problem-reply.js';

/** Canonical non-negative decimal: no sign, no leading zeros, no exponent, at most 2^53-1. */
const NON_NEGATIVE = /^(0|[1-9][0-9]{0,15})$/;

/** A required non-negative integer query parameter. The value is attacker-controlled: parse strictly. */
export function requireIndex(query: unknown, name: string): number {
  const raw = (query as Record<string, unknown> | undefined)?.[name];
  if (raw === undefined || raw === '')
    throw new ProblemError('invalid-parameter', `${name} is required`, name);
  if (typeof raw !== 'string' || !NON_NEGATIVE.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new ProblemError('invalid-parameter', `${name} must be a non-negative integer`, name);
  }
  return Number(raw);
}
