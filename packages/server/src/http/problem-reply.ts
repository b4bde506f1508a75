import { problem, type ProblemCode } from '@vigil/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpFailure } from './errors.js';

/** Sends an RFC 9457 problem response. */
export function sendProblem(
  reply: FastifyReply,
  code: ProblemCode,
  detail: string,
  param?: string,
): FastifyReply {
  const body = problem(code, detail, param);
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** A request mistake detected in a handler; the error handler turns it into a problem response. */
export class ProblemError extends Error {
  constructor(
    readonly code: ProblemCode,
    detail: string,
    readonly param?: string,
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `problem`: RFC 9457 problem details (the ledger's endpoints). Default: Pulumi's `{code, message}`. */
    errorFormat?: 'problem' | 'pulumi';
  }
}

/** Unrouted requests (unknown paths, malformed URLs): Pulumi's shape under the Pulumi-compatible API. */
function defaultFormat(request: FastifyRequest): 'problem' | 'pulumi' {
  if (request.routeOptions.url) return 'pulumi';
  const path = request.url.split('?')[0] ?? '';
  return path.startsWith('/api/') &&
    !/^\/api\/orgs\/[^/]+\/auditlogs\/(checkpoint|verifier-key|entries|hashes|proof)/.test(path)
    ? 'pulumi'
    : 'problem';
}

/**
 * Answers a failure in the route's format: RFC 9457 problem details for Vigil's own endpoints, Pulumi's
 * `{code: <status>, message}` (plus `errorCode`, the stable identifier, and ESC's `diagnostics`) for the
 * Pulumi-compatible ones, which Pulumi's clients parse. Unrouted requests: see `defaultFormat`.
 */
export function sendFailure(
  request: FastifyRequest,
  reply: FastifyReply,
  failure: HttpFailure,
): FastifyReply {
  const format = request.routeOptions.config?.errorFormat ?? defaultFormat(request);
  if (format === 'problem') return sendProblem(reply, failure.code, failure.message, failure.param);
  const status = problem(failure.code, failure.message).status;
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send({
      code: status,
      message: failure.message,
      errorCode: failure.code,
      ...(failure.param ? { param: failure.param } : {}),
      ...(failure.diagnostics ? { diagnostics: failure.diagnostics } : {}),
    });
}
