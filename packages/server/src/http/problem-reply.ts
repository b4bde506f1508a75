import { problem, type ProblemCode } from '@vigil/protocol';
import type { FastifyReply } from 'fastify';

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
