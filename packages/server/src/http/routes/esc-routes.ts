import type { EventId } from '@vigil/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EnvironmentRef } from '../../environments/names.js';
import type {
  EnvironmentInfo,
  EnvironmentSummary,
  EnvironmentTag,
  RevisionInfo,
  RevisionTag,
} from '../../environments/types.js';
import { DEFAULT_OPEN_DURATION_MS, parseGoDuration, parsePropertyPath } from '../../esc/parse.js';
import type { Caller, EscService } from '../../esc/esc-service.js';
import type { RouteAudit } from '../route-audit.js';
import { ProblemError } from '../problem-reply.js';
import type { Authenticate } from '../authenticate.js';

type Params = { org: string; project: string; env: string; version: string; tag: string; id: string };
type Req = FastifyRequest<{ Params: Params; Querystring: Record<string, string | undefined> }>;

const iso = (ms: number) => new Date(ms).toISOString();
const action = (...events: EventId[]): { config: { audit: RouteAudit } } => ({
  config: { audit: { action: events } },
});
const exempt = (reason: string): { config: { audit: RouteAudit } } => ({
  config: { audit: { exempt: reason } },
});

/** Reads that Pulumi's catalog records no event for: names and metadata, never values. Refusals are recorded. */
const METADATA = exempt('metadata only (names, revisions, tags, settings); refusals are recorded');

/**
 * The Pulumi ESC REST API under /api/esc, as `@pulumi/esc-sdk` 0.12.4 calls it (status codes exactly as the SDK
 * requires them; YAML bodies accepted whatever their Content-Type). Every route declares what it records.
 */
export function escRoutes(app: FastifyInstance, deps: { esc: EscService; authenticate: Authenticate }): void {
  const { esc, authenticate } = deps;

  void app.register(
    async (scope) => {
      // Bodies are YAML or JSON, and clients label them loosely (the Go CLI sends YAML as application/json):
      // take every body as text, and let each route parse what it expects.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

      const caller = (request: FastifyRequest): Promise<Caller> => authenticate(request);
      const envRef = (request: Req): EnvironmentRef => ({
        org: request.params.org,
        project: request.params.project,
        name: request.params.env,
      });

      // ---- organization level

      scope.get('/environments/:org', METADATA, async (request: Req) => {
        const page = await esc.listEnvironments(await caller(request), request.params.org, {
          ...optional('continuationToken', request.query.continuationToken),
          ...optionalInt('maxResults', request.query.maxResults),
        });
        return { environments: page.environments.map(orgEnvironment), ...nextToken(page.nextToken) };
      });

      scope.post('/environments/:org', action('environment-created'), async (request: Req, reply) => {
        const body = jsonBody(request) as { project?: unknown; name?: unknown };
        const project = requireString(body, 'project');
        const name = requireString(body, 'name');
        await esc.createEnvironment(await caller(request), { org: request.params.org, project, name });
        return reply.code(200).send();
      });

      scope.get('/environments/:org/tags', METADATA, async (request: Req) =>
        esc.orgTags(await caller(request), request.params.org),
      );

      scope.get('/environments/:org/restore', METADATA, async (request: Req) => {
        const page = await esc.listDeleted(await caller(request), request.params.org, {
          ...optional('continuationToken', request.query.continuationToken),
        });
        return { environments: page.environments.map(orgEnvironment), ...nextToken(page.nextToken) };
      });

      scope.put('/environments/:org/restore', action('environment-restored'), async (request: Req, reply) => {
        const body = jsonBody(request) as Record<string, unknown>;
        const deletionTimestamp = body.deletionTimestamp;
        if (typeof deletionTimestamp !== 'string' && typeof deletionTimestamp !== 'number') {
          throw new ProblemError('invalid-argument', 'deletionTimestamp is required', 'deletionTimestamp');
        }
        await esc.restoreEnvironment(await caller(request), request.params.org, {
          project: requireString(body, 'project'),
          name: requireString(body, 'name'),
          deletionTimestamp,
        });
        return reply.code(204).send();
      });

      scope.post(
        '/environments/:org/yaml/check',
        exempt('checks a definition that is not stored; imports are authorized and refusals recorded'),
        async (request: Req, reply) => {
          const result = await esc.checkYaml(await caller(request), request.params.org, yamlBody(request), {
            showSecrets: boolQuery(request.query.showSecrets),
          });
          return reply.code(hasErrors(result.diagnostics) ? 400 : 200).send(checkBody(result));
        },
      );

      scope.post('/environments/:org/yaml/open', action('environment-open'), async (request: Req) => {
        const opened = await esc.openYaml(
          await caller(request),
          request.params.org,
          yamlBody(request),
          duration(request),
        );
        return openBody(opened);
      });

      scope.get('/environments/:org/yaml/open/:id', action('environment-read-open'), async (request: Req) =>
        esc.readOpenYaml(await caller(request), request.params.org, request.params.id, property(request)),
      );

      // ---- one environment

      const E = '/environments/:org/:project/:env';

      scope.get(E, action('environment-read'), async (request: Req, reply) => {
        const content = await esc.readDefinition(await caller(request), envRef(request));
        return sendYaml(reply, content.yaml, content.etag, content.revision);
      });

      scope.head(E, exempt('existence and ETag only'), async (request: Req, reply) => {
        const info = await esc.headEnvironment(await caller(request), envRef(request));
        return reply
          .header('etag', info.etag)
          .header('pulumi-esc-revision', String(info.revision))
          .code(200)
          .send();
      });

      scope.patch(E, action('environment-updated'), async (request: Req, reply) => {
        // Pulumi's Go CLI sends the ETag it read back in an `ETag` header; HTTP says If-Match. Take either.
        const expected = header(request, 'if-match') ?? header(request, 'etag');
        const updated = await esc.updateEnvironment(
          await caller(request),
          envRef(request),
          yamlBody(request),
          expected,
        );
        reply
          .header('pulumi-esc-revision', String(updated.environment.revision))
          .header('etag', updated.environment.etag);
        return diagnosticsBody(updated.diagnostics);
      });

      scope.delete(E, action('environment-deleted'), async (request: Req, reply) => {
        await esc.deleteEnvironment(await caller(request), envRef(request));
        return reply.code(200).send();
      });

      scope.post(
        `${E}/check`,
        action('environment-read', 'environment-decrypted'),
        async (request: Req, reply) => {
          const result = await esc.checkStored(await caller(request), envRef(request), {
            showSecrets: boolQuery(request.query.showSecrets),
          });
          return reply.code(hasErrors(result.diagnostics) ? 400 : 200).send(checkBody(result));
        },
      );

      scope.post(
        `${E}/versions/:version/check`,
        action('environment-read', 'environment-decrypted'),
        async (request: Req, reply) => {
          const result = await esc.checkStored(await caller(request), envRef(request), {
            version: request.params.version,
            showSecrets: boolQuery(request.query.showSecrets),
          });
          return reply.code(hasErrors(result.diagnostics) ? 400 : 200).send(checkBody(result));
        },
      );

      scope.post(`${E}/clone`, action('environment-cloned'), async (request: Req, reply) => {
        const body = jsonBody(request) as Record<string, unknown>;
        const name = requireString(body, 'name');
        const project = body.project === undefined ? request.params.project : requireString(body, 'project');
        await esc.cloneEnvironment(await caller(request), envRef(request), {
          project,
          name,
          ...(typeof body.version === 'number' ? { version: body.version } : {}),
          preserveHistory: body.preserveHistory === true,
          preserveAccess: body.preserveAccess === true,
          preserveEnvironmentTags: body.preserveEnvironmentTags === true,
          preserveRevisionTags: body.preserveRevisionTags === true,
        });
        return reply.code(204).send();
      });

      scope.get(`${E}/decrypt`, action('environment-decrypted'), async (request: Req, reply) => {
        const content = await esc.decryptDefinition(await caller(request), envRef(request));
        return sendYaml(reply, content.yaml, content.etag, content.revision);
      });

      scope.get(
        `${E}/versions/:version/decrypt`,
        action('environment-decrypted'),
        async (request: Req, reply) => {
          const content = await esc.decryptDefinition(
            await caller(request),
            envRef(request),
            request.params.version,
          );
          return sendYaml(reply, content.yaml, content.etag, content.revision);
        },
      );

      scope.post(`${E}/open`, action('environment-open'), async (request: Req) =>
        openBody(
          await esc.openEnvironment(await caller(request), envRef(request), {
            durationMs: duration(request),
          }),
        ),
      );

      scope.post(
        `${E}/versions/:version/open`,
        action('environment-open', 'environment-revision-tag-open'),
        async (request: Req) =>
          openBody(
            await esc.openEnvironment(await caller(request), envRef(request), {
              version: request.params.version,
              durationMs: duration(request),
            }),
          ),
      );

      scope.get(`${E}/open/:id`, action('environment-read-open'), async (request: Req) =>
        esc.readOpen(await caller(request), envRef(request), request.params.id, property(request)),
      );

      scope.get(`${E}/settings`, METADATA, async (request: Req) =>
        esc.getSettings(await caller(request), envRef(request)),
      );

      scope.patch(
        `${E}/settings`,
        action('environment-deletion-protection-enabled', 'environment-deletion-protection-disabled'),
        async (request: Req) => {
          const body = jsonBody(request) as Record<string, unknown>;
          if (typeof body.deletionProtected !== 'boolean') {
            throw new ProblemError(
              'invalid-argument',
              'deletionProtected must be true or false',
              'deletionProtected',
            );
          }
          const updated = await esc.updateSettings(await caller(request), envRef(request), {
            deletionProtected: body.deletionProtected,
          });
          return { deletionProtected: updated.deletionProtected };
        },
      );

      // ---- environment tags

      scope.get(`${E}/tags`, METADATA, async (request: Req) => {
        const page = await esc.listTags(await caller(request), envRef(request), pageQuery(request));
        return {
          tags: Object.fromEntries(Object.entries(page.tags).map(([k, t]) => [k, environmentTag(t)])),
          nextToken: page.nextToken ?? '',
        };
      });

      scope.post(`${E}/tags`, action('environment-tag-created'), async (request: Req) => {
        const body = jsonBody(request) as Record<string, unknown>;
        const tag = await esc.createTag(await caller(request), envRef(request), {
          name: requireString(body, 'name'),
          value: requireString(body, 'value', true),
        });
        return environmentTag(tag);
      });

      scope.get(`${E}/tags/:tag`, METADATA, async (request: Req) =>
        environmentTag(await esc.getTag(await caller(request), envRef(request), request.params.tag)),
      );

      scope.patch(`${E}/tags/:tag`, action('environment-tag-updated'), async (request: Req) => {
        const body = jsonBody(request) as {
          currentTag?: { value?: unknown };
          newTag?: { name?: unknown; value?: unknown };
        };
        const tag = await esc.updateTag(await caller(request), envRef(request), request.params.tag, {
          ...(typeof body.currentTag?.value === 'string' ? { currentValue: body.currentTag.value } : {}),
          ...(typeof body.newTag?.name === 'string' ? { newName: body.newTag.name } : {}),
          ...(typeof body.newTag?.value === 'string' ? { newValue: body.newTag.value } : {}),
        });
        return environmentTag(tag);
      });

      scope.delete(`${E}/tags/:tag`, action('environment-tag-deleted'), async (request: Req, reply) => {
        await esc.deleteTag(await caller(request), envRef(request), request.params.tag);
        return reply.code(204).send();
      });

      // ---- revisions and revision tags

      scope.get(`${E}/versions`, METADATA, async (request: Req) => {
        const revisions = await esc.listRevisions(await caller(request), envRef(request), {
          ...optionalInt('before', request.query.before),
          ...optionalInt('count', request.query.count),
        });
        return revisions.map(revision);
      });

      scope.get(`${E}/versions/tags`, METADATA, async (request: Req) => {
        const page = await esc.listRevisionTags(await caller(request), envRef(request), pageQuery(request));
        return { tags: page.tags.map(revisionTag), nextToken: page.nextToken ?? '' };
      });

      scope.post(
        `${E}/versions/tags`,
        action('environment-revision-tag-created'),
        async (request: Req, reply) => {
          const body = jsonBody(request) as Record<string, unknown>;
          await esc.createRevisionTag(
            await caller(request),
            envRef(request),
            requireString(body, 'name'),
            optionalRevision(body.revision),
          );
          return reply.code(204).send();
        },
      );

      scope.get(`${E}/versions/tags/:tag`, action('environment-revision-tag-read'), async (request: Req) =>
        revisionTag(await esc.getRevisionTag(await caller(request), envRef(request), request.params.tag)),
      );

      scope.patch(
        `${E}/versions/tags/:tag`,
        action('environment-revision-tag-update'),
        async (request: Req, reply) => {
          const body = jsonBody(request) as Record<string, unknown>;
          await esc.updateRevisionTag(
            await caller(request),
            envRef(request),
            request.params.tag,
            optionalRevision(body.revision),
          );
          return reply.code(204).send();
        },
      );

      scope.delete(
        `${E}/versions/tags/:tag`,
        action('environment-revision-tag-delete'),
        async (request: Req, reply) => {
          await esc.deleteRevisionTag(await caller(request), envRef(request), request.params.tag);
          return reply.code(204).send();
        },
      );

      scope.get(`${E}/versions/:version`, action('environment-read'), async (request: Req, reply) => {
        const content = await esc.readDefinition(
          await caller(request),
          envRef(request),
          request.params.version,
        );
        return sendYaml(reply, content.yaml, content.etag, content.revision);
      });

      scope.post(
        `${E}/versions/:version/retract`,
        action('environment-revision-retracted'),
        async (request: Req, reply) => {
          const body = (request.body ? jsonBody(request) : {}) as Record<string, unknown>;
          await esc.retractRevision(await caller(request), envRef(request), request.params.version, {
            ...(optionalRevision(body.replacement) !== undefined
              ? { replacement: optionalRevision(body.replacement)! }
              : {}),
            ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
          });
          return reply.code(204).send();
        },
      );
    },
    { prefix: '/api/esc' },
  );
}

// ---------------------------------------------------------------- request parsing

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function yamlBody(request: FastifyRequest): string {
  const body = request.body;
  if (body === undefined || body === null) return '';
  if (typeof body !== 'string') throw new ProblemError('invalid-argument', 'expected a YAML body');
  return body;
}

function jsonBody(request: FastifyRequest): unknown {
  const text = yamlBody(request);
  if (text.trim() === '') throw new ProblemError('invalid-argument', 'expected a JSON body');
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch {
    throw new ProblemError('invalid-argument', 'the body is not a JSON object');
  }
}

function requireString(body: Record<string, unknown>, field: string, allowEmpty = false): string {
  const value = body[field];
  if (typeof value !== 'string' || (!allowEmpty && value === '')) {
    throw new ProblemError('invalid-argument', `${field} must be a non-empty string`, field);
  }
  return value;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined || value === '' ? {} : ({ [key]: value } as { [P in K]?: string });
}

function optionalInt<K extends string>(key: K, value: string | undefined): { [P in K]?: number } {
  if (value === undefined || value === '') return {};
  if (!/^(0|[1-9][0-9]{0,8})$/.test(value))
    throw new ProblemError('invalid-parameter', `${key} must be a non-negative integer`, key);
  return { [key]: Number(value) } as { [P in K]?: number };
}

function optionalRevision(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ProblemError('invalid-argument', 'revision must be a positive integer', 'revision');
  }
  return value;
}

function pageQuery(request: Req): { after?: string; count?: number } {
  return { ...optional('after', request.query.after), ...optionalInt('count', request.query.count) };
}

function boolQuery(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

function duration(request: Req): number {
  const text = request.query.duration;
  if (text === undefined || text === '') return DEFAULT_OPEN_DURATION_MS;
  const ms = parseGoDuration(text);
  if (ms === undefined) {
    throw new ProblemError(
      'invalid-parameter',
      'duration must be a Go duration like 1h or 30m, at most 24h',
      'duration',
    );
  }
  return ms;
}

function property(request: Req): Array<string | number> | undefined {
  const text = request.query.property;
  if (text === undefined || text === '') return undefined;
  const path = parsePropertyPath(text);
  if (!path) throw new ProblemError('invalid-parameter', 'property must be a path like a.b[0]', 'property');
  return path;
}

// ---------------------------------------------------------------- response shapes

function hasErrors(diagnostics: readonly { severity?: string }[]): boolean {
  return diagnostics.some((d) => d.severity !== 'warning');
}

function sendYaml(reply: FastifyReply, yaml: string, etag: string, revision: number): FastifyReply {
  return reply
    .header('etag', etag)
    .header('pulumi-esc-revision', String(revision))
    .type('application/x-yaml')
    .send(yaml);
}

function diagnosticsBody(diagnostics: readonly unknown[]): { diagnostics?: readonly unknown[] } {
  return diagnostics.length > 0 ? { diagnostics } : {};
}

function checkBody(result: { environment?: object; diagnostics: readonly unknown[] }): object {
  return { ...(result.environment ?? {}), ...diagnosticsBody(result.diagnostics) };
}

function openBody(opened: { id: string; diagnostics: readonly unknown[] }): object {
  return { id: opened.id, ...diagnosticsBody(opened.diagnostics) };
}

function nextToken(token: string | undefined): { nextToken?: string } {
  return token ? { nextToken: token } : {};
}

function orgEnvironment(env: EnvironmentSummary | EnvironmentInfo): object {
  return {
    id: env.id,
    organization: env.org,
    project: env.project,
    name: env.name,
    created: iso(env.created),
    modified: iso(env.modified),
    ...('tags' in env ? { tags: env.tags } : {}),
    settings: { deletionProtected: env.deletionProtected },
    ...(env.deletedAt !== undefined ? { deletedAt: iso(env.deletedAt) } : {}),
  };
}

function revision(r: RevisionInfo): object {
  return {
    number: r.number,
    created: iso(r.created),
    ...(r.creatorLogin ? { creatorLogin: r.creatorLogin } : {}),
    ...(r.creatorName ? { creatorName: r.creatorName } : {}),
    tags: r.tags,
    ...(r.retracted
      ? {
          retracted: {
            replacement: r.retracted.replacement,
            at: iso(r.retracted.at),
            ...(r.retracted.byLogin ? { byLogin: r.retracted.byLogin } : {}),
            ...(r.retracted.byName ? { byName: r.retracted.byName } : {}),
            ...(r.retracted.reason ? { reason: r.retracted.reason } : {}),
          },
        }
      : {}),
  };
}

function revisionTag(t: RevisionTag): object {
  return {
    name: t.name,
    revision: t.revision,
    created: iso(t.created),
    modified: iso(t.modified),
    ...(t.editorLogin ? { editorLogin: t.editorLogin } : {}),
    ...(t.editorName ? { editorName: t.editorName } : {}),
  };
}

function environmentTag(t: EnvironmentTag): object {
  return {
    name: t.name,
    value: t.value,
    created: iso(t.created),
    modified: iso(t.modified),
    editorLogin: t.editorLogin ?? '',
    editorName: t.editorName ?? '',
  };
}
