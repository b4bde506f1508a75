import type { EventId } from '@vigil/protocol';
import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * What a route records in the audit log. Every route must say: either the catalog event it records, or why it
 * records none (health checks, static assets, public verification material). A route that says neither is a
 * boot failure — see `enforceRouteAudit`.
 */
export type RouteAudit = { readonly action: EventId | readonly EventId[] } | { readonly exempt: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    audit?: RouteAudit;
  }
}

/** A route registered without an audit declaration. Thrown during registration, so the server cannot boot. */
export class UndeclaredAuditError extends Error {
  constructor(method: string, url: string) {
    super(`route ${method} ${url} declares no audit action (config.audit = {action} or {exempt: reason})`);
    this.name = 'UndeclaredAuditError';
  }
}

/** Every route registered so far with its declaration, for the test that proves each records what it declares. */
export interface DeclaredRoute {
  readonly method: string;
  readonly url: string;
  readonly audit: RouteAudit;
}

/** Installs the onRoute check. Call before registering any route. Returns the live list of declared routes. */
export function enforceRouteAudit(app: FastifyInstance): DeclaredRoute[] {
  const routes: DeclaredRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const audit = route.config?.audit;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const declared = audit && 'action' in audit ? [audit.action].flat() : [];
    if (!audit || !(declared.length > 0 || ('exempt' in audit && audit.exempt))) {
      throw new UndeclaredAuditError(methods.join(','), route.url);
    }
    for (const method of methods) routes.push({ method, url: route.url, audit });
  });
  return routes;
}

/** The route table of docs/api.md: every route with what it records (generated; a test keeps it current). */
export function renderRouteTable(routes: readonly DeclaredRoute[]): string {
  const rows = [...routes]
    .filter((r) => r.method !== 'HEAD' || routes.some((o) => o.url === r.url && o.method === 'HEAD'))
    .sort((a, b) => (a.url === b.url ? a.method.localeCompare(b.method) : a.url.localeCompare(b.url)))
    .map((r) => {
      const records =
        'action' in r.audit
          ? [r.audit.action]
              .flat()
              .map((e) => `\`${e}\``)
              .join(', ')
          : `— (${r.audit.exempt})`;
      return `| \`${r.method}\` | \`${r.url}\` | ${records} |`;
    });
  return ['| method | path | records |', '| --- | --- | --- |', ...rows, ''].join('\n');
}
