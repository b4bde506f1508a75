import type { EnvironmentStore } from '../environments/environment-store.js';
import type { EnvironmentRef } from '../environments/names.js';
import { createAuthorizer, quoteRef } from '../esc/authorizer.js';
import type { Caller } from '../esc/esc-service.js';
import type { IamService } from '../iam/iam-service.js';
import type { Kernel, Refusal } from '../kernel/kernel.js';
import type { Storage } from '../storage/storage.js';
import { atMostDaily, CronError, nextCronTime, parseCron } from './cron.js';
import { ScheduleError } from './errors.js';
import {
  deleteSchedule,
  environmentSchedules,
  findSchedule,
  insertSchedule,
  newScheduleId,
  scheduleRuns,
  updateSchedule,
  type Schedule,
  type ScheduleRun,
} from './schedule-store.js';

/** What a create or PATCH request asks for (Pulumi's `CreateEnvironmentScheduleRequest`), shape-checked. */
export interface ScheduleRequest {
  readonly scheduleCron?: string;
  /** RFC 3339 text, as sent. */
  readonly scheduleOnce?: string;
  /** `secretRotationRequest.environmentPath`; empty rotates every `fn::rotate` path. */
  readonly environmentPath?: string;
}

/** Strict RFC 3339 date-time (`2026-01-02T03:04:05Z`, fractions and offsets allowed). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

export interface ScheduleServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly environments: EnvironmentStore;
  readonly now?: () => number;
}

/** The timing of a request: a cron expression run at most daily, or one time in the future. */
function timing(
  request: ScheduleRequest,
  now: number,
): Pick<Schedule, 'scheduleCron' | 'scheduleOnce' | 'nextExecution'> {
  if (request.scheduleCron !== undefined && request.scheduleOnce !== undefined)
    throw new ScheduleError('invalid-argument', 'set scheduleCron or scheduleOnce, not both', 'scheduleCron');
  if (request.scheduleCron !== undefined) {
    let cron;
    try {
      cron = parseCron(request.scheduleCron);
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      throw new ScheduleError('invalid-argument', `scheduleCron: ${error.message}`, 'scheduleCron');
    }
    if (!atMostDaily(cron)) {
      throw new ScheduleError(
        'invalid-argument',
        `scheduleCron: "${cron.text}" runs more than once a day; the minimum interval is once per day (one minute and one hour, e.g. "0 3 * * *")`,
        'scheduleCron',
      );
    }
    const next = nextCronTime(cron, now);
    if (next === undefined)
      throw new ScheduleError('invalid-argument', `scheduleCron: "${cron.text}" never fires`, 'scheduleCron');
    return { scheduleCron: cron.text, nextExecution: next };
  }
  if (request.scheduleOnce !== undefined) {
    const at = RFC3339.test(request.scheduleOnce) ? Date.parse(request.scheduleOnce) : NaN;
    if (Number.isNaN(at))
      throw new ScheduleError('invalid-argument', 'scheduleOnce: not an RFC 3339 time', 'scheduleOnce');
    if (at <= now)
      throw new ScheduleError('invalid-argument', 'scheduleOnce: must be in the future', 'scheduleOnce');
    return { scheduleOnce: at, nextExecution: at };
  }
  throw new ScheduleError('invalid-argument', 'set scheduleCron or scheduleOnce', 'scheduleCron');
}

function describeTiming(s: Pick<Schedule, 'scheduleCron' | 'scheduleOnce'>): string {
  return s.scheduleCron !== undefined
    ? `cron "${s.scheduleCron}"`
    : `once at ${new Date(s.scheduleOnce!).toISOString()}`;
}
const describePath = (path: string) => (path === '' ? 'every rotated path' : `"${path}"`);

/**
 * Environment schedules (`…/schedules`): secret rotation by cron (at most daily, UTC) or once. Create, update
 * (PATCH, pause, resume) and delete are kernel operations recording `environment-schedule-created|updated|deleted`
 * and need `write` on the environment; reads need `read`. Refusals are recorded. The runs themselves are the
 * scheduler's (`scheduler.ts`).
 */
export function createScheduleService(deps: ScheduleServiceDeps) {
  const { storage, kernel, iam, environments: store } = deps;
  const db = storage.reader;
  const now = deps.now ?? Date.now;

  const { envRefusal } = createAuthorizer({ iam, storage });

  const refuse = (caller: Caller, org: string, refusal: Refusal) => kernel.refuse(caller.ctx, org, refusal);

  async function readable(caller: Caller, ref: EnvironmentRef, action: string): Promise<string> {
    const refusal = await envRefusal(caller, ref, 'read', action);
    if (refusal) await refuse(caller, ref.org, refusal);
    return (await store.getInfo(db, ref)).id;
  }

  const notFound = (id: string, ref: EnvironmentRef) =>
    new ScheduleError('not-found', `no schedule "${id}" on environment ${quoteRef(ref)}`);

  /** An update of one schedule: `write` needed, `change` computes the new state from the current one. */
  function change(
    caller: Caller,
    ref: EnvironmentRef,
    id: string,
    verb: string,
    edit: (current: Schedule, at: number) => Schedule,
  ): Promise<Schedule> {
    return kernel.perform(caller.ctx, {
      org: ref.org,
      event: 'environment-schedule-updated',
      resource: { project: ref.project, environment: ref.name },
      authorize: () => envRefusal(caller, ref, 'write', `${verb} a schedule of`),
      run: async (tx) => {
        const env = await store.getInfo(tx, ref);
        const current = await findSchedule(tx, env.id, id);
        if (!current) throw notFound(id, ref);
        const at = now();
        const next = { ...edit(current, at), modified: at };
        await updateSchedule(tx, next);
        return {
          result: next,
          description: `${verb[0]!.toUpperCase()}${verb.slice(1)}d schedule ${id} of environment ${quoteRef(ref)}: rotate ${describePath(next.environmentPath)} ${describeTiming(next)}${next.paused ? ' (paused)' : ''}`,
        };
      },
    });
  }

  return {
    async create(caller: Caller, ref: EnvironmentRef, request: ScheduleRequest): Promise<Schedule> {
      return kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-schedule-created',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'schedule rotation of'),
        run: async (tx) => {
          const env = await store.getInfo(tx, ref);
          if ((await environmentSchedules(tx, env.id)).length > 0) {
            throw new ScheduleError(
              'already-exists',
              `environment ${quoteRef(ref)} has a schedule already; only one schedule per environment is supported`,
            );
          }
          const at = now();
          const schedule: Schedule = {
            id: newScheduleId(),
            org: ref.org,
            envId: env.id,
            kind: 'environment_rotation',
            environmentPath: request.environmentPath ?? '',
            ...timing(request, at),
            paused: false,
            created: at,
            modified: at,
            createdBy: caller.ctx.actor.login,
          };
          if (!(await insertSchedule(tx, schedule, JSON.stringify(caller.principal)))) {
            // Another request created one between our check and our insert.
            throw new ScheduleError(
              'already-exists',
              `environment ${quoteRef(ref)} has a schedule already; only one schedule per environment is supported`,
            );
          }
          return {
            result: schedule,
            description: `Created schedule ${schedule.id} on environment ${quoteRef(ref)}: rotate ${describePath(schedule.environmentPath)} ${describeTiming(schedule)}`,
          };
        },
      });
    },

    /** PATCH: the fields sent replace the schedule's (a cron replaces a one-time schedule, and vice versa). */
    update(caller: Caller, ref: EnvironmentRef, id: string, request: ScheduleRequest): Promise<Schedule> {
      return change(caller, ref, id, 'update', (current, at) => {
        const retimed =
          request.scheduleCron !== undefined || request.scheduleOnce !== undefined
            ? timing(request, at)
            : undefined;
        const { scheduleCron: _c, scheduleOnce: _o, nextExecution: _n, ...rest } = current;
        const base: Schedule = retimed ? { ...rest, ...retimed } : current;
        return { ...base, environmentPath: request.environmentPath ?? current.environmentPath };
      });
    },

    pause(caller: Caller, ref: EnvironmentRef, id: string): Promise<Schedule> {
      return change(caller, ref, id, 'pause', (current) => ({ ...current, paused: true }));
    },

    /** A cron schedule resumes at its next time from now (slots passed while paused are skipped). */
    resume(caller: Caller, ref: EnvironmentRef, id: string): Promise<Schedule> {
      return change(caller, ref, id, 'resume', (current, at) => {
        if (current.scheduleCron === undefined) return { ...current, paused: false };
        const next = nextCronTime(parseCron(current.scheduleCron), at);
        const { nextExecution: _n, ...rest } = current;
        return { ...rest, paused: false, ...(next !== undefined ? { nextExecution: next } : {}) };
      });
    },

    async remove(caller: Caller, ref: EnvironmentRef, id: string): Promise<void> {
      await kernel.perform(caller.ctx, {
        org: ref.org,
        event: 'environment-schedule-deleted',
        resource: { project: ref.project, environment: ref.name },
        authorize: () => envRefusal(caller, ref, 'write', 'delete a schedule of'),
        run: async (tx) => {
          const env = await store.getInfo(tx, ref);
          if (!(await findSchedule(tx, env.id, id))) throw notFound(id, ref);
          await deleteSchedule(tx, id, now());
          return {
            result: undefined,
            description: `Deleted schedule ${id} of environment ${quoteRef(ref)}`,
          };
        },
      });
    },

    async list(caller: Caller, ref: EnvironmentRef): Promise<Schedule[]> {
      return environmentSchedules(db, await readable(caller, ref, 'list the schedules of'));
    },

    async get(caller: Caller, ref: EnvironmentRef, id: string): Promise<Schedule> {
      const schedule = await findSchedule(db, await readable(caller, ref, 'read a schedule of'), id);
      if (!schedule) throw notFound(id, ref);
      return schedule;
    },

    async history(caller: Caller, ref: EnvironmentRef, id: string): Promise<ScheduleRun[]> {
      const schedule = await findSchedule(db, await readable(caller, ref, 'read a schedule of'), id);
      if (!schedule) throw notFound(id, ref);
      return scheduleRuns(db, id);
    },
  };
}

export type ScheduleService = ReturnType<typeof createScheduleService>;
