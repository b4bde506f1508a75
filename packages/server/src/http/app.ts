import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { LedgerStoreError } from '../ledger/errors.js';
import type { LedgerStore } from '../ledger/ledger-store.js';
import type { CheckpointPublisher } from '../ledger/publisher.js';
import type { CheckpointSigner } from '../ledger/signing-key.js';
import { ProblemError, sendProblem } from './problem-reply.js';
import { enforceRouteAudit, type DeclaredRoute } from './route-audit.js';
import { ledgerRoutes } from './routes/ledger-routes.js';

export interface AppDeps {
  readonly ledger: LedgerStore;
  readonly publisher: CheckpointPublisher;
  readonly signer: CheckpointSigner;
  readonly logger?: FastifyServerOptions['logger'];
  /** CIDRs of proxies whose X-Forwarded-For is believed (VIGIL_TRUSTED_PROXIES). */
  readonly trustedProxies?: readonly string[];
}

/** Largest request body accepted anywhere (environment definitions are far smaller). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface App {
  readonly fastify: FastifyInstance;
  /** Every route with its audit declaration (complete once `fastify.ready()` resolved). */
  readonly routes: readonly DeclaredRoute[];
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const fastify = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: BODY_LIMIT_BYTES,
    // `open//{id}` (the ESC SDK's empty-revision path) must reach its route, not a redirect.
    routerOptions: { ignoreDuplicateSlashes: true },
    // Request ids are ours (they go into audit records); a client-supplied one is not believed.
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    // request.ip: the socket address, or X-Forwarded-For's client when the socket is a trusted proxy.
    trustProxy: deps.trustedProxies && deps.trustedProxies.length > 0 ? [...deps.trustedProxies] : false,
  });
  const routes = enforceRouteAudit(fastify);
  fastify.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  fastify.setErrorHandler((error, request, reply) => {
    if (error instanceof ProblemError) return sendProblem(reply, error.code, error.message, error.param);
    if (error instanceof LedgerStoreError) {
      switch (error.code) {
        case 'out-of-range':
          return sendProblem(reply, 'out-of-range', error.message, (error as { param?: string }).param);
        case 'log-not-found':
          return sendProblem(reply, 'log-not-found', error.message);
        case 'ledger-overloaded':
          reply.header('retry-after', '1');
          return sendProblem(reply, 'ledger-overloaded', error.message);
        default:
          request.log.error({ code: error.code }, 'audit ledger failure');
          reply.header('retry-after', '5');
          return sendProblem(
            reply,
            'ledger-unavailable',
            'the audit ledger is unavailable; nothing was performed',
          );
      }
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 413)
      return sendProblem(
        reply,
        'payload-too-large',
        `request bodies are limited to ${BODY_LIMIT_BYTES} bytes`,
      );
    if (status !== undefined && status >= 400 && status < 500) {
      return sendProblem(reply, 'invalid-parameter', (error as Error).message);
    }
    // Log the error class and stack only: messages of driver errors can quote parameters.
    request.log.error(
      { err: { type: (error as Error).name, stack: (error as Error).stack } },
      'unhandled error',
    );
    return sendProblem(reply, 'internal', `unexpected error (request ${request.id})`);
  });
  fastify.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 'not-found', `no route for ${request.method} ${request.url.split('?')[0]}`),
  );

  fastify.get('/healthz', { config: { audit: { exempt: 'health check' } } }, async (_request, reply) => {
    const refused = deps.publisher.refusals();
    if (refused.size > 0) {
      return reply
        .code(503)
        .send({ status: 'degraded', reason: 'stored tree inconsistent with a signed checkpoint' });
    }
    return { status: 'ok' };
  });

  ledgerRoutes(fastify, deps);
  await fastify.ready();
  return { fastify, routes };
}
