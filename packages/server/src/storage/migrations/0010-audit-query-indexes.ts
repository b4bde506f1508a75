import type { Kysely, Migration } from 'kysely';

/**
 * Audit-log query indexes, revised (issue #6, benchmarks). A page is "the `limit` highest matching indexes", so
 * every filter should walk an index in `idx` order and stop after the page, whatever the log's size:
 *
 * - `audit_events_project (log_id, project, idx, environment)`: `project:` and `env:project/environment` walk
 *   one project's entries newest first; `environment` comes after `idx` so it filters inside the index without
 *   breaking that order (an index ending in `environment, idx` would serve `env:` alone but make `project:`
 *   sort every entry of the project).
 * - `audit_events_time (log_id, time)` is dropped. It could only read a whole time range and sort it by index
 *   (O(range)); time bounds are now turned into index intervals by the query service's per-block time summary
 *   (`audit-query.ts`) and read along the primary key or the filter's own index. Replacing it keeps appends at
 *   four secondary indexes (each costs the sequencer an index insert per entry).
 */
export function auditQueryIndexesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex('audit_events_project')
        .on('audit_events')
        .columns(['log_id', 'project', 'idx', 'environment'])
        .execute();
      await db.schema.dropIndex('audit_events_time').execute();
    },
  };
}
