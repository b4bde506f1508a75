import type { FastifyRequest } from 'fastify';
import { auditActor } from '../esc/actor.js';
import type { Caller } from '../esc/esc-service.js';
import type { IamService } from '../iam/iam-service.js';
import type { Storage } from '../storage/storage.js';
import { ProblemError } from './problem-reply.js';
import { bearerToken, requestContext } from './request-context.js';

/** Establishes who calls: the principal behind the request's token, and the kernel's context for it. */
export type Authenticate = (request: FastifyRequest) => Promise<Caller>;

const CALLER = Symbol('vigil.caller');

/**
 * `Authorization: token <t>` (or `Bearer <t>`) → the principal, through the identity service. No token, or an
 * unknown, revoked or expired one, is 401 — without saying which, and without echoing the token.
 */
export function createAuthenticator(deps: { iam: IamService; storage: Storage }): Authenticate {
  return async (request) => {
    const cached = (request as unknown as Record<symbol, Caller | undefined>)[CALLER];
    if (cached) return cached;
    const token = bearerToken(request);
    if (!token)
      throw new ProblemError('unauthenticated', 'an access token is required: Authorization: token <token>');
    let principal;
    try {
      principal = await deps.iam.authenticateToken(deps.storage.reader, token, { writer: deps.storage.db });
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('token-')) {
        throw new ProblemError('unauthenticated', 'the access token is unknown, revoked or expired');
      }
      throw error;
    }
    const caller: Caller = { principal, ctx: requestContext(request, auditActor(principal)) };
    (request as unknown as Record<symbol, Caller>)[CALLER] = caller;
    return caller;
  };
}
