import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';
import { forbidRewrites } from './append-only.js';

/**
 * Environment schedules (issue #5): secret rotation by cron or once.
 *
 * - `environment_schedules`: one live schedule per environment (a partial unique index; deleted ones are kept,
 *   marked `deleted_at`, so their history stays readable by id). `next_execution` is the due time a server
 *   process claims with a compare-and-set (`… WHERE id = ? AND next_execution = ?`): exactly one claim succeeds.
 *   `creator` is the creating principal as JSON (ids and names, never a secret): a run acts with its permissions.
 * - `schedule_runs`: one row per executed due time, append-only, unique per (schedule, due time).
 */
export function schedulesMigration(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('environment_schedules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org', 'text', (c) => c.notNull())
        .addColumn('env_id', 'text', (c) => c.notNull().references('environments.id'))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('environment_rotation')`))
        .addColumn('environment_path', 'text', (c) => c.notNull())
        .addColumn('schedule_cron', 'text')
        .addColumn('schedule_once', big)
        .addColumn('paused', 'integer', (c) =>
          c
            .notNull()
            .defaultTo(0)
            .check(sql`paused IN (0, 1)`),
        )
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('modified_at', big, (c) => c.notNull())
        .addColumn('last_executed', big)
        .addColumn('next_execution', big)
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('creator', 'text', (c) => c.notNull())
        .addColumn('deleted_at', big)
        .addCheckConstraint(
          'environment_schedules_one_kind',
          sql`(schedule_cron IS NULL) <> (schedule_once IS NULL)`,
        )
        .execute();
      await db.schema
        .createIndex('environment_schedules_one_per_env')
        .unique()
        .on('environment_schedules')
        .column('env_id')
        .where(sql.ref('deleted_at'), 'is', null)
        .execute();
      await db.schema
        .createIndex('environment_schedules_due')
        .on('environment_schedules')
        .column('next_execution')
        .execute();
      await db.schema
        .createTable('schedule_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('schedule_id', 'text', (c) => c.notNull().references('environment_schedules.id'))
        .addColumn('due_at', big, (c) => c.notNull())
        .addColumn('executed_at', big, (c) => c.notNull())
        .addColumn('version', 'integer')
        .addColumn('result', 'text', (c) => c.notNull().check(sql`result IN ('succeeded', 'failed')`))
        .addColumn('error_message', 'text')
        .addColumn('rotation_id', 'text')
        .addUniqueConstraint('schedule_runs_once_per_due_time', ['schedule_id', 'due_at'])
        .execute();
      await forbidRewrites(db, dialect, 'schedule_runs');
    },
  };
}
