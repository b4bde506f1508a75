import type { AuditActor, EventId } from '@vigil/protocol';
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../kernel/kernel.js';

/** Longest User-Agent kept in a record; the rest is cut (it is attacker-controlled). */
export const MAX_USER_AGENT = 256;

/** The credential a request presents: `Authorization: token <t>` (Pulumi's form) or `Bearer <t>`. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** The events the matched route declared it records. */
export function declaredEvents(request: FastifyRequest): readonly EventId[] {
  const audit = request.routeOptions.config?.audit;
  if (!audit || !('action' in audit)) return [];
  return (Array.isArray(audit.action) ? audit.action : [audit.action]) as EventId[];
}

/**
 * The kernel's view of a request: who (the authenticated actor), from where (`request.ip`, which Fastify takes
 * from X-Forwarded-For only when the socket belongs to a configured trusted proxy), and which events the route
 * may record.
 */
export function requestContext(request: FastifyRequest, actor: AuditActor): RequestContext {
  const agent = request.headers['user-agent'];
  return {
    actor,
    sourceIP: request.ip,
    ...(typeof agent === 'string' && agent ? { userAgent: agent.slice(0, MAX_USER_AGENT) } : {}),
    requestId: String(request.id),
    declared: declaredEvents(request),
  };
}
