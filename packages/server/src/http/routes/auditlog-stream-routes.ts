import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  StreamError,
  type LogStreamService,
  type StreamRequest,
  type StreamView,
} from '../../audit/log-stream-service.js';
import type { Authenticate } from '../authenticate.js';
import { ProblemError } from '../problem-reply.js';

type Req = FastifyRequest<{ Params: { org: string; streamID?: string } }>;
type Action = 'audit-log-stream-created' | 'audit-log-stream-updated' | 'audit-log-stream-deleted';

const S = '/api/orgs/:org/auditlogs/streams';
// Vigil's own endpoints: RFC 9457 problems, as the ledger's.
const records = (action: Action) => ({ config: { audit: { action }, errorFormat: 'problem' as const } });
const READS = {
  config: {
    audit: { exempt: 'destination settings and delivery health (never a secret); refusals are recorded' },
    errorFormat: 'problem' as const,
  },
};

/**
 * Audit log streams (issue #6, docs/log-streams.md): `…/auditlogs/streams` lists and creates destinations,
 * `…/streams/{id}` reads, changes (PATCH) and deletes one, `…/pause` and `…/resume` stop and restart delivery.
 * Organization admins only. The webhook secret appears once, in the creation answer.
 */
export function auditLogStreamRoutes(
  app: FastifyInstance,
  deps: { logStreams: LogStreamService; authenticate: Authenticate },
): void {
  const { logStreams, authenticate } = deps;
  const id = (request: Req) => request.params.streamID!;
  void app.register(async (scope) => {
    // Bodies are parsed here (an empty body on pause/resume is no error, whatever its content type says).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    scope.get(S, READS, async (request: Req) => ({
      streams: (await answer(logStreams.list(await authenticate(request), request.params.org))).map(present),
    }));
    scope.post(S, records('audit-log-stream-created'), async (request: Req, reply) => {
      const created = await answer(
        logStreams.create(await authenticate(request), request.params.org, streamRequest(request.body)),
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...present(created), ...(created.secret !== undefined ? { secret: created.secret } : {}) });
    });
    scope.get(`${S}/:streamID`, READS, async (request: Req) =>
      present(await answer(logStreams.get(await authenticate(request), request.params.org, id(request)))),
    );
    scope.patch(`${S}/:streamID`, records('audit-log-stream-updated'), async (request: Req) =>
      present(
        await answer(
          logStreams.update(
            await authenticate(request),
            request.params.org,
            id(request),
            streamRequest(request.body),
          ),
        ),
      ),
    );
    scope.delete(`${S}/:streamID`, records('audit-log-stream-deleted'), async (request: Req, reply) => {
      await answer(logStreams.remove(await authenticate(request), request.params.org, id(request)));
      return reply.code(204).send();
    });
    scope.post(`${S}/:streamID/pause`, records('audit-log-stream-updated'), async (request: Req) =>
      present(await answer(logStreams.pause(await authenticate(request), request.params.org, id(request)))),
    );
    scope.post(`${S}/:streamID/resume`, records('audit-log-stream-updated'), async (request: Req) =>
      present(await answer(logStreams.resume(await authenticate(request), request.params.org, id(request)))),
    );
  });
}

async function answer<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof StreamError) throw new ProblemError(error.code, error.message, error.param);
    throw error;
  }
}

/** The request body (attacker-controlled): an object whose known fields have the right JSON types. */
function streamRequest(body: unknown): StreamRequest {
  const text = typeof body === 'string' ? body.trim() : '';
  let o: unknown;
  try {
    o = JSON.parse(text || '{}');
  } catch {
    throw new ProblemError('invalid-argument', 'the body is not JSON');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new ProblemError('invalid-argument', 'the body is not a JSON object');
  const fields = o as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const want = (name: string, type: 'string' | 'number' | 'boolean', nullable = false) => {
    const v = fields[name];
    if (v === undefined || (nullable && v === null)) {
      if (v === null) out[name] = null;
      return;
    }
    if (typeof v !== type) throw new ProblemError('invalid-argument', `${name} must be a ${type}`, name);
    out[name] = v;
  };
  for (const name of ['name', 'kind', 'url', 'secret', 'host', 'ca', 'from']) want(name, 'string');
  want('port', 'number');
  want('tls', 'boolean');
  want('q', 'string', true);
  return out as StreamRequest;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The answer for one stream: settings and health, never the secret. */
function present(view: StreamView): object {
  const s = view.stream;
  const d = s.destination;
  return {
    id: s.id,
    name: s.name,
    kind: d.kind,
    ...(d.kind === 'webhook'
      ? { url: d.url }
      : { host: d.host, port: d.port, tls: d.tls, ...(d.ca !== undefined ? { ca: d.ca } : {}) }),
    q: s.query ?? null,
    paused: s.paused,
    created: iso(s.created),
    modified: iso(s.modified),
    createdBy: s.createdBy,
    health: {
      cursor: s.cursor,
      lag: view.lag,
      lastSuccess: iso(s.lastSuccess),
      lastError: s.lastError ?? null,
      lastErrorAt: iso(s.lastErrorAt),
      failures: s.failures,
      nextAttempt: s.failures > 0 ? iso(s.nextAttempt) : null,
    },
  };
}
