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
  forbidden: { status: 403, title: 'Forbidden', doc: 'The caller may not use this endpoint.' },
  'not-found': { status: 404, title: 'Not found', doc: 'No such route.' },
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
  'payload-too-large': {
    status: 413,
    title: 'Payload too large',
    doc: 'The request body exceeds the limit.',
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
