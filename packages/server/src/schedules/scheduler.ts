import { randomUUID } from 'node:crypto';
import { EnvironmentStoreError } from '../environments/errors.js';
import type { Caller } from '../esc/esc-service.js';
import { DefinitionError } from '../http/errors.js';
import { IamError } from '../iam/errors.js';
import type { IamService } from '../iam/iam-service.js';
import { userPrincipal, type Principal } from '../iam/principal.js';
import { AccessDenied, SYSTEM_ACTOR, type RequestContext } from '../kernel/kernel.js';
import type { RotationService } from '../rotation/rotation-service.js';
import type { Storage } from '../storage/storage.js';
import { nextCronTime, parseCron } from './cron.js';
import { ScheduleError } from './errors.js';
import { claimDue, dueSchedules, recordRun, type Schedule, type ScheduleRun } from './schedule-store.js';

/** How often each server process looks for due schedules: a due rotation starts within this much of its time. */
export const SCHEDULER_INTERVAL_MS = 30_000;
/** Most schedules one look claims; the rest wait for the next look (rotations are slow). */
export const SCHEDULER_BATCH = 16;

/** The address scheduled work is recorded from: the server itself. */
export const SCHEDULER_SOURCE_IP = '127.0.0.1';

export interface SchedulerDeps {
  readonly storage: Storage;
  readonly iam: IamService;
  readonly rotation: RotationService;
  readonly now?: () => number;
  readonly intervalMs?: number;
  /** Told about a look that failed (the database was unreachable); the next look retries. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Runs due schedules, in every server process. A due time is claimed by moving the schedule's `next_execution`
 * from it to the following one with a compare-and-set (`claimDue`): of several processes, exactly one runs it.
 * The following time is computed from the later of the due time and now, so a schedule missed while every
 * server was down runs once after start, not once per missed slot. A process that dies between claim and run
 * loses that run (at most once); the next due time is unaffected.
 *
 * A run rotates as the system actor on behalf of the schedule's creator, with the creator's current
 * permissions (a creator who lost `write` makes it fail, and the refusal is recorded). Its result, success or
 * failure, is appended to the schedule's history.
 */
export function createScheduler(deps: SchedulerDeps) {
  const { storage, iam, rotation } = deps;
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? SCHEDULER_INTERVAL_MS;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  /** The creator as they are now: a user's current record (a deleted user cannot run anything). */
  async function principalOf(stored: string): Promise<Principal> {
    const principal = JSON.parse(stored) as Principal;
    if (!principal.user) return principal;
    const fresh = userPrincipal(await iam.getUserById(storage.reader, principal.user.id));
    return principal.kind === 'token' ? { ...principal, user: fresh.user! } : fresh;
  }

  async function environmentOf(envId: string) {
    const env = await storage.reader
      .selectFrom('environments')
      .select(['org', 'project', 'name', 'deleted_at'])
      .where('id', '=', envId)
      .executeTakeFirst();
    if (!env || env.deleted_at !== null) throw new ScheduleError('not-found', 'the environment was deleted');
    return { org: env.org, project: env.project, name: env.name };
  }

  /** Error texts that are the service's own (driver errors can quote parameters: never stored). */
  function reason(error: unknown): string {
    if (
      error instanceof AccessDenied ||
      error instanceof DefinitionError ||
      error instanceof EnvironmentStoreError ||
      error instanceof IamError ||
      error instanceof ScheduleError
    )
      return error.message;
    return 'unexpected error';
  }

  async function execute(schedule: Schedule & { creator: string }, due: number): Promise<ScheduleRun> {
    const base = { id: randomUUID(), scheduleId: schedule.id, due };
    try {
      const ref = await environmentOf(schedule.envId);
      const ctx: RequestContext = {
        actor: { ...SYSTEM_ACTOR, scheduleId: schedule.id, onBehalfOf: schedule.createdBy },
        sourceIP: SCHEDULER_SOURCE_IP,
      };
      const caller: Caller = { ctx, principal: await principalOf(schedule.creator) };
      const paths = schedule.environmentPath === '' ? [] : [schedule.environmentPath];
      const { event } = await rotation.rotate(caller, ref, paths, { scheduledActionId: schedule.id });
      return {
        ...base,
        executed: now(),
        version: event.postRotationRevision ?? event.preRotationRevision,
        result: event.status,
        ...(event.errorMessage ? { errorMessage: event.errorMessage } : {}),
        rotationId: event.id,
      };
    } catch (error) {
      if (!(error instanceof Error) || reason(error) === 'unexpected error') deps.onError?.(error);
      return { ...base, executed: now(), result: 'failed', errorMessage: reason(error) };
    }
  }

  async function look(): Promise<number> {
    const at = now();
    let ran = 0;
    for (const schedule of await dueSchedules(storage.reader, at, SCHEDULER_BATCH)) {
      const due = schedule.nextExecution!;
      const next =
        schedule.scheduleCron !== undefined
          ? nextCronTime(parseCron(schedule.scheduleCron), Math.max(at, due))
          : undefined;
      if (!(await claimDue(storage.db, schedule.id, due, next, at))) continue;
      await recordRun(storage.db, await execute(schedule, due));
      ran++;
    }
    return ran;
  }

  let started = false;
  function later(): void {
    if (!started) return;
    timer = setTimeout(() => void tick().finally(later), intervalMs);
    timer.unref();
  }

  /** Runs what is due now; answers how many runs this process did. Looks never overlap. */
  function tick(): Promise<number> {
    running ??= look()
      .catch((error: unknown) => {
        deps.onError?.(error);
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    tick,
    /** Looks now, then every `intervalMs`. */
    start(): void {
      if (started) return;
      started = true;
      void tick().finally(later);
    },
    /** Stops looking and waits for a look in progress. */
    async stop(): Promise<void> {
      started = false;
      clearTimeout(timer);
      await running;
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
