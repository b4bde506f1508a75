import type { Kysely, Migration } from 'kysely';

/**
 * `audit_events_actor` gains `event` after `idx`: `(log_id, actor_login, idx, event)` (issue #6, benchmarks). A
 * page filtered by actor and event (`q=actor:alice event:environment-open`, or `userFilter` with `eventFilter`)
 * still walks one actor's entries newest first, but now tests the event inside the index instead of reading each
 * candidate's row: at 1,000,000 events a page of 100 read ~330 rows to find them. As for `environment` in
 * `audit_events_project` (migration 0010), the extra column comes after `idx`, so the walk keeps log-index order.
 * Appends still write four secondary indexes.
 */
export function auditActorIndexMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('audit_events_actor').execute();
      await db.schema
        .createIndex('audit_events_actor')
        .on('audit_events')
        .columns(['log_id', 'actor_login', 'idx', 'event'])
        .execute();
    },
  };
}
