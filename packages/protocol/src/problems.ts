/**
 * Every error Vigil's HTTP API answers with, registered once. Responses are RFC 9457 problem details
 * (`application/problem+json`): `{type, title, status, detail, code, param?}`; `code` is the stable identifier
 * clients match on, `detail` the human sentence. docs/api.md is generated from this table (test keeps it current).
 */
export const PROBLEMS = {
  'invalid-parameter': {
    status: 400,
    title: 'Invalid parameter',
    doc: 'A query or path parameter is missing or malformed; `param` names it.',
  },
  'out-of-range': {
    status: 400,
    title: 'Out of range',
    doc: 'An index, range or tree size lies beyond what the log holds; `param` names it.',
  },
  'invalid-argument': {
    status: 400,
    title: 'Invalid argument',
    doc: 'A body, name or value is malformed: bad YAML or JSON, a name that breaks the naming rules, a value out of bounds.',
  },
  'invalid-definition': {
    status: 400,
    title: 'Invalid environment definition',
    doc: 'The environment definition has errors; `diagnostics` lists them with source ranges.',
  },
  unauthenticated: {
    status: 401,
    title: 'Unauthenticated',
    doc: 'No credential, or one that is unknown, revoked or expired. Send `Authorization: token <access token>`.',
  },
  forbidden: { status: 403, title: 'Forbidden', doc: 'The caller may not use this endpoint.' },
  'access-denied': {
    status: 403,
    title: 'Access denied',
    doc: 'The caller lacks the permission or organization role the operation requires. The refusal is recorded in the audit log.',
  },
  'not-found': {
    status: 404,
    title: 'Not found',
    doc: 'No such route, or no such environment, revision, tag or identity object.',
  },
  'log-not-found': {
    status: 404,
    title: 'Log not found',
    doc: 'The organization has no audit log (nothing was ever recorded for it).',
  },
  'checkpoint-not-found': {
    status: 404,
    title: 'Checkpoint not found',
    doc: 'The log has no signed checkpoint yet; one follows within a second of its first entry.',
  },
  'already-exists': { status: 409, title: 'Already exists', doc: 'Something of that name exists already.' },
  conflict: {
    status: 409,
    title: 'Conflict',
    doc: 'The resource changed since it was read (ETag or current value mismatch), or the change would break an invariant (the last admin, the `latest` tag).',
  },
  'deletion-protected': {
    status: 409,
    title: 'Deletion protected',
    doc: 'Deletion protection is on for this environment; turn it off first.',
  },
  'session-expired': {
    status: 404,
    title: 'Session expired',
    doc: 'The open session has expired; open the environment again.',
  },
  'payload-too-large': {
    status: 413,
    title: 'Payload too large',
    doc: 'The request body exceeds the limit.',
  },
  'rate-limited': {
    status: 429,
    title: 'Too many attempts',
    doc: 'Too many failed sign-ins for this account or address; retry after `Retry-After` seconds.',
  },
  'ledger-unavailable': {
    status: 503,
    title: 'Audit ledger unavailable',
    doc: 'The audit record could not be written, so the operation was not performed and nothing was revealed. Retry later.',
  },
  'ledger-overloaded': {
    status: 503,
    title: 'Audit ledger overloaded',
    doc: 'Too many audit records are waiting; retry after the `Retry-After` seconds.',
  },
  internal: {
    status: 500,
    title: 'Internal error',
    doc: 'An unexpected failure; the server log has the request id.',
  },
} as const satisfies Record<string, { status: number; title: string; doc: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** RFC 9457 problem details as Vigil sends them. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
  readonly param?: string;
}

/** Problem type URIs are relative references into docs/api.md, where each code is described. */
export function problem(code: ProblemCode, detail: string, param?: string): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: `/docs/api#problem-${code}`, title, status, detail, code, ...(param ? { param } : {}) };
}
