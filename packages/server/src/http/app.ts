import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { LedgerStore } from '../ledger/ledger-store.js';
import type { CheckpointPublisher } from '../ledger/publisher.js';
import type { CheckpointSigner } from '../ledger/signing-key.js';
import { httpFailure } from './errors.js';
import { sendFailure } from './problem-reply.js';
import { enforceRouteAudit, type DeclaredRoute } from './route-audit.js';
import { isLoopback, ledgerRoutes } from './routes/ledger-routes.js';
import { ProblemError } from './problem-reply.js';
import { escRoutes } from './routes/esc-routes.js';
import { identityRoutes } from './routes/identity-routes.js';
import { auditLogRoutes } from './routes/auditlog-routes.js';
import type { AuditLogService } from '../audit/audit-log-service.js';
import type { LogStreamService } from '../audit/log-stream-service.js';
import { auditLogStreamRoutes } from './routes/auditlog-stream-routes.js';
import { rotationRoutes } from './routes/rotation-routes.js';
import { scheduleRoutes } from './routes/schedule-routes.js';
import type { ScheduleService } from '../schedules/schedule-service.js';
import type { IdentityService } from '../identity/identity-service.js';
import type { SignInService } from '../identity/sign-in.js';
import type { EscService } from '../esc/esc-service.js';
import type { RotationService } from '../rotation/rotation-service.js';
import type { Authenticate } from './authenticate.js';

export interface AppDeps {
  readonly ledger: LedgerStore;
  readonly publisher: CheckpointPublisher;
  readonly signer: CheckpointSigner;
  readonly esc: EscService;
  readonly rotation: RotationService;
  readonly schedules: ScheduleService;
  readonly authenticate: Authenticate;
  readonly identity: IdentityService;
  readonly signIn: SignInService;
  readonly auditLog: AuditLogService;
  readonly logStreams: LogStreamService;
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
    // HEAD is declared where it means something (an environment's ETag); no implicit HEAD twin of every GET.
    exposeHeadRoutes: false,
    // `open//{id}` (the ESC SDK's empty-revision path) must reach its route, not a redirect.
    // Long names reach their route, whose validation answers in the API's own shape (Fastify's default is 414).
    routerOptions: { ignoreDuplicateSlashes: true, maxParamLength: 1024 },
    // Malformed URLs (bad percent-encoding) are answered like every other bad request.
    frameworkErrors: (error, request, reply) => {
      void sendFailure(request, reply, {
        code: 'invalid-argument',
        message: `malformed request: ${error.message}`,
      });
    },
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
    let failure = httpFailure(error);
    if (!failure) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 413) {
        failure = {
          code: 'payload-too-large',
          message: `request bodies are limited to ${BODY_LIMIT_BYTES} bytes`,
        };
      } else if (status !== undefined && status >= 400 && status < 500) {
        // A body parser's message can quote the body (a password, a secret): never echo it.
        const parsing = String((error as { code?: string }).code ?? '').startsWith('FST_ERR_CTP');
        failure = {
          code: 'invalid-argument',
          message: parsing ? 'the request body could not be parsed' : (error as Error).message,
        };
      }
    }
    if (!failure) {
      // Log the error class and stack only: messages of driver errors can quote parameters.
      request.log.error(
        { err: { type: (error as Error).name, stack: (error as Error).stack } },
        'unhandled error',
      );
      failure = { code: 'internal', message: `unexpected error (request ${request.id})` };
    }
    if (failure.code === 'ledger-unavailable')
      request.log.error({ code: failure.code }, 'audit ledger failure');
    for (const [name, value] of Object.entries(failure.headers ?? {})) reply.header(name, value);
    return sendFailure(request, reply, failure);
  });
  fastify.setNotFoundHandler((request, reply) =>
    sendFailure(request, reply, {
      code: 'not-found',
      message: `no route for ${request.method} ${request.url.split('?')[0]}`,
    }),
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

  fastify.get(
    '/metrics',
    { config: { audit: { exempt: 'operational counters, loopback only' }, errorFormat: 'problem' } },
    async (request, reply) => {
      if (!isLoopback(request.socket.remoteAddress)) {
        throw new ProblemError('forbidden', 'metrics answer loopback callers only');
      }
      const { appends, waitMs } = deps.ledger.stats();
      return reply
        .type('text/plain; version=0.0.4')
        .send(
          [
            '# HELP vigil_ledger_appends_total Audit records appended (answered) by this process.',
            '# TYPE vigil_ledger_appends_total counter',
            `vigil_ledger_appends_total ${appends}`,
            '# HELP vigil_ledger_append_wait_seconds_total Time callers waited for their audit records to be sequenced.',
            '# TYPE vigil_ledger_append_wait_seconds_total counter',
            `vigil_ledger_append_wait_seconds_total ${(waitMs / 1000).toFixed(6)}`,
            '',
          ].join('\n'),
        );
    },
  );

  ledgerRoutes(fastify, deps);
  escRoutes(fastify, deps);
  identityRoutes(fastify, deps);
  auditLogRoutes(fastify, deps);
  auditLogStreamRoutes(fastify, deps);
  rotationRoutes(fastify, deps);
  scheduleRoutes(fastify, deps);
  await fastify.ready();
  return { fastify, routes };
}
