import type { EventId } from '@vigil/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { exportConfig, NOT_CONFIGURED } from '../../audit/export-config.js';
import {
  StreamError,
  type LogStreamService,
  type StreamRequest,
  type StreamView,
} from '../../audit/log-stream-service.js';
import type { Authenticate } from '../authenticate.js';
import { requireIndex } from '../params.js';
import { ProblemError } from '../problem-reply.js';

type Req = FastifyRequest<{ Params: { org: string; streamID?: string }; Querystring: unknown }>;

const A = '/api/orgs/:org/auditlogs';
const S = `${A}/streams`;
const X = `${A}/export/config`;
// Vigil's own endpoints: RFC 9457 problems, as the ledger's.
const records = (action: EventId) => ({ config: { audit: { action }, errorFormat: 'problem' as const } });
const READS = {
  config: {
    audit: { exempt: 'destination settings and delivery health (never a secret); refusals are recorded' },
    errorFormat: 'problem' as const,
  },
};
/** `GET …/auditlogs/reader-kind`: the full-featured reader (every filter works). */
export const READER_KIND = 'standard';

// Pulumi's endpoints: Pulumi's error shape (the default).
const pulumiRecords = (action: EventId | readonly EventId[]) => ({ config: { audit: { action } } });

/**
 * Audit log streams (issue #6, docs/log-streams.md): `…/auditlogs/streams` lists and creates destinations,
 * `…/streams/{id}` reads, changes (PATCH) and deletes one, `…/pause` and `…/resume` stop and restart delivery.
 * Organization admins only. A generated webhook secret appears once, in the creation answer. Beside them, in
 * Pulumi's shapes and error format: the S3 export settings (`…/export/config`, `/test`, `/force`; export-config.ts)
 * over the organization's `pulumi-export` stream, and `…/reader-kind`.
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

    // ---- Pulumi's automated export (reference §1.2, §1.9), over the organization's export stream ----
    const exports = exportConfig(logStreams);
    scope.get(
      X,
      { config: { audit: { exempt: 'export settings (never a credential); refusals are recorded' } } },
      async (request: Req) => {
        const settings = await answer(exports.get(await authenticate(request), request.params.org));
        if (!settings) throw new ProblemError('not-found', NOT_CONFIGURED);
        return settings;
      },
    );
    scope.post(
      X,
      pulumiRecords(['audit-log-stream-created', 'audit-log-stream-updated']),
      async (request: Req, reply) => {
        const caller = await authenticate(request);
        await answer(exports.update(caller, request.params.org, json(request.body)));
        return reply.code(204).send();
      },
    );
    scope.delete(X, pulumiRecords('audit-log-stream-deleted'), async (request: Req, reply) => {
      await answer(exports.remove(await authenticate(request), request.params.org));
      return reply.code(204).send();
    });
    scope.post(`${X}/test`, pulumiRecords('audit-log-export-tested'), async (request: Req) => {
      const caller = await authenticate(request);
      return answer(exports.test(caller, request.params.org, json(request.body)));
    });
    scope.post(`${X}/force`, pulumiRecords('audit-log-exported'), async (request: Req) => {
      const caller = await authenticate(request);
      const timestamp = requireIndex(request.query, 'timestamp');
      return answer(exports.force(caller, request.params.org, timestamp));
    });
    // Pulumi's console asks which reader serves the log (MySQL or DynamoDB) to decide which filters to offer;
    // OpenAPI types the answer as a JSON string. Vigil's one reader supports every filter.
    scope.get(
      `${A}/reader-kind`,
      { config: { audit: { exempt: 'a constant naming the log reader, the same for every organization' } } },
      async (request: Req, reply) => {
        await authenticate(request);
        return reply.type('application/json; charset=utf-8').send(JSON.stringify(READER_KIND));
      },
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

/** The request body (attacker-controlled) parsed as JSON; an empty body is `{}`. */
function json(body: unknown): unknown {
  const text = typeof body === 'string' ? body.trim() : '';
  try {
    return JSON.parse(text || '{}');
  } catch {
    throw new ProblemError('invalid-argument', 'the body is not JSON');
  }
}

/** The string fields of a stream request (the others: `port`, the booleans, `q`). */
const STRING_FIELDS = [
  'name',
  'kind',
  'url',
  'secret',
  'host',
  'ca',
  'from',
  'endpoint',
  'bucket',
  'prefix',
  'region',
  'accessKeyId',
  'secretAccessKey',
] as const;

/** The request body: an object whose known fields have the right JSON types. */
function streamRequest(body: unknown): StreamRequest {
  const o = json(body);
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
  for (const name of STRING_FIELDS) want(name, 'string');
  want('port', 'number');
  for (const name of ['tls', 'pathStyle', 'paused']) want(name, 'boolean');
  want('q', 'string', true);
  return out as StreamRequest;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * The answer for one stream: settings and health, never a secret (a webhook's, an s3 secret access key). An s3
 * stream's access key id is answered: it names the key (AWS lists it too), and signs nothing without the secret.
 */
function present(view: StreamView): object {
  const s = view.stream;
  const { kind: _kind, ...destination } = s.destination;
  return {
    id: s.id,
    name: s.name,
    kind: s.destination.kind,
    ...destination,
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
