import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';

/** An environment schedule (Pulumi's `ScheduledAction` of kind `environment_rotation`), times in epoch ms. */
export interface Schedule {
  readonly id: string;
  readonly org: string;
  readonly envId: string;
  readonly kind: 'environment_rotation';
  /** The `fn::rotate` path to rotate (relative to `values`); empty rotates every one. */
  readonly environmentPath: string;
  readonly scheduleCron?: string;
  readonly scheduleOnce?: number;
  readonly paused: boolean;
  readonly created: number;
  readonly modified: number;
  readonly lastExecuted?: number;
  /** The due time a process will claim next; absent once a one-time schedule ran, or a cron never fires. */
  readonly nextExecution?: number;
  /** Login of who created it: scheduled rotations are recorded on their behalf. */
  readonly createdBy: string;
}

/** One executed due time (Pulumi's schedule history event). */
export interface ScheduleRun {
  readonly id: string;
  readonly scheduleId: string;
  readonly due: number;
  readonly executed: number;
  /** The revision the rotation wrote (or found, when nothing was written). */
  readonly version?: number;
  readonly result: 'succeeded' | 'failed';
  readonly errorMessage?: string;
  readonly rotationId?: string;
}

/** This feature's tables, outside `Database` so that its schema stays in this folder. */
export type ScheduleTables = {
  environment_schedules: {
    id: string;
    org: string;
    env_id: string;
    kind: 'environment_rotation';
    environment_path: string;
    schedule_cron: string | null;
    schedule_once: number | null;
    paused: number;
    created_at: number;
    modified_at: number;
    last_executed: number | null;
    next_execution: number | null;
    created_by: string;
    creator: string;
    deleted_at: number | null;
  };
  schedule_runs: {
    id: string;
    schedule_id: string;
    due_at: number;
    executed_at: number;
    version: number | null;
    result: 'succeeded' | 'failed';
    error_message: string | null;
    rotation_id: string | null;
  };
};

type Executor = Kysely<Database> | Transaction<Database>;
type Row = ScheduleTables['environment_schedules'];

/** Most history events answered, newest first. */
export const SCHEDULE_HISTORY_LIMIT = 100;

export const newScheduleId = (): string => randomUUID();

const tables = (db: Executor) => db.withTables<ScheduleTables>();
const num = (v: number | string | null): number | undefined => (v === null ? undefined : Number(v));

function fromRow(r: Row): Schedule {
  return {
    id: r.id,
    org: r.org,
    envId: r.env_id,
    kind: r.kind,
    environmentPath: r.environment_path,
    ...(r.schedule_cron !== null ? { scheduleCron: r.schedule_cron } : {}),
    ...(r.schedule_once !== null ? { scheduleOnce: Number(r.schedule_once) } : {}),
    paused: r.paused === 1,
    created: Number(r.created_at),
    modified: Number(r.modified_at),
    ...(r.last_executed !== null ? { lastExecuted: num(r.last_executed)! } : {}),
    ...(r.next_execution !== null ? { nextExecution: num(r.next_execution)! } : {}),
    createdBy: r.created_by,
  };
}

/** The live schedules of an environment (at most one). */
export async function environmentSchedules(db: Executor, envId: string): Promise<Schedule[]> {
  const rows = await tables(db)
    .selectFrom('environment_schedules')
    .selectAll()
    .where('env_id', '=', envId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .execute();
  return rows.map(fromRow);
}

/** A live schedule of the environment, or undefined. */
export async function findSchedule(db: Executor, envId: string, id: string): Promise<Schedule | undefined> {
  const row = await tables(db)
    .selectFrom('environment_schedules')
    .selectAll()
    .where('id', '=', id)
    .where('env_id', '=', envId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row && fromRow(row);
}

/**
 * Inserts a schedule. Answers false when the environment already has a live one (the partial unique index): a
 * concurrent create that lost the race is told so instead of failing its transaction.
 */
export async function insertSchedule(db: Executor, s: Schedule, creator: string): Promise<boolean> {
  const result = await tables(db)
    .insertInto('environment_schedules')
    .values({
      id: s.id,
      org: s.org,
      env_id: s.envId,
      kind: s.kind,
      environment_path: s.environmentPath,
      schedule_cron: s.scheduleCron ?? null,
      schedule_once: s.scheduleOnce ?? null,
      paused: s.paused ? 1 : 0,
      created_at: s.created,
      modified_at: s.modified,
      last_executed: s.lastExecuted ?? null,
      next_execution: s.nextExecution ?? null,
      created_by: s.createdBy,
      creator,
      deleted_at: null,
    })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Rewrites what a PATCH, pause or resume changes. */
export async function updateSchedule(db: Executor, s: Schedule): Promise<void> {
  await tables(db)
    .updateTable('environment_schedules')
    .set({
      environment_path: s.environmentPath,
      schedule_cron: s.scheduleCron ?? null,
      schedule_once: s.scheduleOnce ?? null,
      paused: s.paused ? 1 : 0,
      modified_at: s.modified,
      next_execution: s.nextExecution ?? null,
    })
    .where('id', '=', s.id)
    .execute();
}

export async function deleteSchedule(db: Executor, id: string, at: number): Promise<void> {
  await tables(db)
    .updateTable('environment_schedules')
    .set({ deleted_at: at, next_execution: null, modified_at: at })
    .where('id', '=', id)
    .execute();
}

/** Live, unpaused schedules due at `now`, oldest due first, with the principal they run as. */
export async function dueSchedules(
  db: Executor,
  now: number,
  limit: number,
): Promise<Array<Schedule & { readonly creator: string }>> {
  const rows = await tables(db)
    .selectFrom('environment_schedules')
    .selectAll()
    .where('deleted_at', 'is', null)
    .where('paused', '=', 0)
    .where('next_execution', '<=', now)
    .orderBy('next_execution')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ...fromRow(r), creator: r.creator }));
}

/**
 * Claims the due time `due` of a schedule: moves `next_execution` from `due` to `next` (compare-and-set). On
 * PostgreSQL a concurrent claimer blocks on the row lock, then re-checks the condition against the committed row
 * and updates nothing; on SQLite writers are serialized. Exactly one claimer sees `true`.
 */
export async function claimDue(
  db: Executor,
  id: string,
  due: number,
  next: number | undefined,
  now: number,
): Promise<boolean> {
  const result = await tables(db)
    .updateTable('environment_schedules')
    .set({ next_execution: next ?? null, last_executed: now })
    .where('id', '=', id)
    .where('next_execution', '=', due)
    .where('paused', '=', 0)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function recordRun(db: Executor, run: ScheduleRun): Promise<void> {
  await tables(db)
    .insertInto('schedule_runs')
    .values({
      id: run.id,
      schedule_id: run.scheduleId,
      due_at: run.due,
      executed_at: run.executed,
      version: run.version ?? null,
      result: run.result,
      error_message: run.errorMessage ?? null,
      rotation_id: run.rotationId ?? null,
    })
    .execute();
}

/** A schedule's runs, newest first. */
export async function scheduleRuns(db: Executor, scheduleId: string): Promise<ScheduleRun[]> {
  const rows = await tables(db)
    .selectFrom('schedule_runs')
    .selectAll()
    .where('schedule_id', '=', scheduleId)
    .orderBy('due_at', 'desc')
    .limit(SCHEDULE_HISTORY_LIMIT)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    scheduleId: r.schedule_id,
    due: Number(r.due_at),
    executed: Number(r.executed_at),
    ...(r.version !== null ? { version: r.version } : {}),
    result: r.result,
    ...(r.error_message !== null ? { errorMessage: r.error_message } : {}),
    ...(r.rotation_id !== null ? { rotationId: r.rotation_id } : {}),
  }));
}
