import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EnvironmentRef } from '../../environments/names.js';
import { ScheduleError } from '../../schedules/errors.js';
import type { ScheduleRequest, ScheduleService } from '../../schedules/schedule-service.js';
import type { Schedule, ScheduleRun } from '../../schedules/schedule-store.js';
import type { Authenticate } from '../authenticate.js';
import { ProblemError } from '../problem-reply.js';

type Req = FastifyRequest<{ Params: { org: string; project: string; env: string; scheduleID?: string } }>;

/** Longest `environmentPath` accepted (as a rotate request's paths). */
export const MAX_SCHEDULE_PATH = 1024;

const S = '/environments/:org/:project/:env/schedules';

/**
 * Environment schedules under /api/esc, in Pulumi's shapes (`ScheduledAction`, `CreateEnvironmentScheduleRequest`,
 * `{scheduleHistoryEvents}`). Create, PATCH, pause, resume and delete record `environment-schedule-*`.
 */
export function scheduleRoutes(
  app: FastifyInstance,
  deps: { schedules: ScheduleService; authenticate: Authenticate },
): void {
  const { schedules, authenticate } = deps;
  void app.register(
    async (scope) => {
      // As the ESC routes: clients label bodies loosely; take text and parse here.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
      const envRef = (request: Req): EnvironmentRef => ({
        org: request.params.org,
        project: request.params.project,
        name: request.params.env,
      });
      const id = (request: Req) => request.params.scheduleID!;
      const exempt = (reason: string) => ({ config: { audit: { exempt: reason } } });
      const records = (
        action:
          'environment-schedule-created' | 'environment-schedule-updated' | 'environment-schedule-deleted',
      ) => ({ config: { audit: { action } } });

      scope.post(S, records('environment-schedule-created'), async (request: Req) =>
        scheduledAction(
          await answer(
            schedules.create(await authenticate(request), envRef(request), scheduleRequest(request.body)),
          ),
        ),
      );
      scope.get(S, exempt('schedule metadata only; refusals are recorded'), async (request: Req) => ({
        schedules: (await answer(schedules.list(await authenticate(request), envRef(request)))).map(
          scheduledAction,
        ),
      }));
      scope.get(
        `${S}/:scheduleID`,
        exempt('schedule metadata only; refusals are recorded'),
        async (request: Req) =>
          scheduledAction(
            await answer(schedules.get(await authenticate(request), envRef(request), id(request))),
          ),
      );
      scope.patch(`${S}/:scheduleID`, records('environment-schedule-updated'), async (request: Req) =>
        scheduledAction(
          await answer(
            schedules.update(
              await authenticate(request),
              envRef(request),
              id(request),
              scheduleRequest(request.body),
            ),
          ),
        ),
      );
      scope.delete(
        `${S}/:scheduleID`,
        records('environment-schedule-deleted'),
        async (request: Req, reply) => {
          await answer(schedules.remove(await authenticate(request), envRef(request), id(request)));
          return reply.code(200).send();
        },
      );
      scope.post(
        `${S}/:scheduleID/pause`,
        records('environment-schedule-updated'),
        async (request: Req, reply) => {
          await answer(schedules.pause(await authenticate(request), envRef(request), id(request)));
          return reply.code(200).send();
        },
      );
      scope.post(
        `${S}/:scheduleID/resume`,
        records('environment-schedule-updated'),
        async (request: Req, reply) => {
          await answer(schedules.resume(await authenticate(request), envRef(request), id(request)));
          return reply.code(200).send();
        },
      );
      scope.get(
        `${S}/:scheduleID/history`,
        exempt('run results only (times, revisions, statuses); refusals are recorded'),
        async (request: Req) => ({
          scheduleHistoryEvents: (
            await answer(schedules.history(await authenticate(request), envRef(request), id(request)))
          ).map(historyEvent),
        }),
      );
    },
    { prefix: '/api/esc' },
  );
}

/** The service's refusals of a request, as problems naming the field at fault. */
async function answer<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof ScheduleError) throw new ProblemError(error.code, error.message, error.param);
    throw error;
  }
}

/** `CreateEnvironmentScheduleRequest`: `{scheduleCron?, scheduleOnce?, secretRotationRequest?: {environmentPath}}`. */
function scheduleRequest(body: unknown): ScheduleRequest {
  const text = typeof body === 'string' ? body.trim() : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text || '{}');
  } catch {
    throw new ProblemError('invalid-argument', 'the body is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ProblemError('invalid-argument', 'the body is not a JSON object');
  const o = parsed as Record<string, unknown>;
  const text_ = (name: string, v: unknown, max: number): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v.length > max)
      throw new ProblemError(
        'invalid-argument',
        `${name} must be a string of at most ${max} characters`,
        name,
      );
    return v;
  };
  const rotation = o.secretRotationRequest;
  if (
    rotation !== undefined &&
    rotation !== null &&
    (typeof rotation !== 'object' || Array.isArray(rotation))
  )
    throw new ProblemError(
      'invalid-argument',
      'secretRotationRequest must be an object',
      'secretRotationRequest',
    );
  const cron = text_('scheduleCron', o.scheduleCron, 128);
  const once = text_('scheduleOnce', o.scheduleOnce, 64);
  const path = rotation
    ? text_(
        'secretRotationRequest.environmentPath',
        (rotation as Record<string, unknown>).environmentPath,
        MAX_SCHEDULE_PATH,
      )
    : undefined;
  return {
    ...(cron !== undefined && cron !== '' ? { scheduleCron: cron } : {}),
    ...(once !== undefined && once !== '' ? { scheduleOnce: once } : {}),
    ...(path !== undefined ? { environmentPath: path } : {}),
  };
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function scheduledAction(s: Schedule): object {
  return {
    id: s.id,
    orgID: s.org,
    kind: s.kind,
    paused: s.paused,
    created: iso(s.created),
    modified: iso(s.modified),
    lastExecuted: iso(s.lastExecuted),
    nextExecution: iso(s.nextExecution),
    definition: { environmentPath: s.environmentPath },
    ...(s.scheduleCron !== undefined ? { scheduleCron: s.scheduleCron } : {}),
    ...(s.scheduleOnce !== undefined ? { scheduleOnce: iso(s.scheduleOnce) } : {}),
  };
}

function historyEvent(r: ScheduleRun): object {
  return {
    id: r.id,
    scheduledActionID: r.scheduleId,
    executed: iso(r.executed),
    version: r.version ?? 0,
    result: r.result,
    ...(r.errorMessage ? { errorMessage: r.errorMessage } : {}),
    ...(r.rotationId ? { secretRotationEventID: r.rotationId } : {}),
  };
}
