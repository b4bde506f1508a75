import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EnvironmentRef } from '../../environments/names.js';
import type { Caller } from '../../esc/esc-service.js';
import type { RotationEvent } from '../../rotation/rotation-history.js';
import type { RotationService } from '../../rotation/rotation-service.js';
import type { Authenticate } from '../authenticate.js';
import { ProblemError } from '../problem-reply.js';

type Req = FastifyRequest<{ Params: { org: string; project: string; env: string } }>;

/** Most paths one rotate request may name. */
export const MAX_ROTATE_PATHS = 256;

const E = '/environments/:org/:project/:env';

/** Secret rotation under /api/esc, in Pulumi's shapes (`RotateEnvironmentResponse`, `SecretRotationEvent`). */
export function rotationRoutes(
  app: FastifyInstance,
  deps: { rotation: RotationService; authenticate: Authenticate },
): void {
  const { rotation, authenticate } = deps;
  void app.register(
    async (scope) => {
      // As the ESC routes: clients label bodies loosely; take text and parse here.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
      const caller = (request: FastifyRequest): Promise<Caller> => authenticate(request);
      const envRef = (request: Req): EnvironmentRef => ({
        org: request.params.org,
        project: request.params.project,
        name: request.params.env,
      });

      scope.post(
        `${E}/rotate`,
        { config: { audit: { action: ['environment-rotated'] } } },
        async (request: Req) => {
          const { event, diagnostics } = await rotation.rotate(
            await caller(request),
            envRef(request),
            rotatePaths(request.body),
          );
          return {
            id: event.id,
            ...(diagnostics.length > 0 ? { diagnostics } : {}),
            secretRotationEvent: rotationEvent(event),
          };
        },
      );

      scope.get(
        `${E}/rotate/history`,
        {
          config: {
            audit: { exempt: 'rotation metadata only (paths, statuses, revisions); refusals are recorded' },
          },
        },
        async (request: Req) => ({
          events: (await rotation.history(await caller(request), envRef(request))).map(rotationEvent),
        }),
      );
    },
    { prefix: '/api/esc' },
  );
}

/** `{paths: string[]}` (the Go CLI sends `Paths`); an empty or missing body rotates every path. */
function rotatePaths(body: unknown): string[] {
  const text = typeof body === 'string' ? body.trim() : '';
  if (text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProblemError('invalid-argument', 'the body is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ProblemError('invalid-argument', 'the body is not a JSON object');
  const o = parsed as Record<string, unknown>;
  const paths = o.paths ?? o.Paths ?? [];
  if (
    !Array.isArray(paths) ||
    paths.length > MAX_ROTATE_PATHS ||
    !paths.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 1024)
  ) {
    throw new ProblemError(
      'invalid-argument',
      `paths must be a list of at most ${MAX_ROTATE_PATHS} non-empty strings`,
      'paths',
    );
  }
  return paths as string[];
}

const iso = (ms: number) => new Date(ms).toISOString();

function rotationEvent(e: RotationEvent): object {
  return {
    id: e.id,
    environmentId: e.environmentId,
    created: iso(e.created),
    preRotationRevision: e.preRotationRevision,
    ...(e.postRotationRevision !== undefined ? { postRotationRevision: e.postRotationRevision } : {}),
    userID: e.userID,
    completed: iso(e.completed),
    status: e.status,
    ...(e.scheduledActionID ? { scheduledActionID: e.scheduledActionID } : {}),
    ...(e.errorMessage ? { errorMessage: e.errorMessage } : {}),
    rotations: e.rotations,
  };
}
