import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';
import { forbidRewrites } from './append-only.js';

/**
 * Secret rotation history (issue #5): one row per rotation, written with its audit record and (when anything
 * rotated) the revision it produced. A row is complete when written and never changes: append-only.
 * `rotations` is JSON text: `[{id, environmentPath, status, errorMessage?}]` — paths and errors, never a secret.
 */
export function rotationMigration(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('rotation_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('env_id', 'text', (c) => c.notNull().references('environments.id'))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('completed_at', big, (c) => c.notNull())
        .addColumn('pre_revision', 'integer', (c) => c.notNull())
        .addColumn('post_revision', 'integer')
        .addColumn('user_login', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('succeeded', 'failed')`))
        .addColumn('scheduled_action_id', 'text')
        .addColumn('error_message', 'text')
        .addColumn('rotations', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('rotation_events_env')
        .on('rotation_events')
        .columns(['env_id', 'created_at'])
        .execute();
      await forbidRewrites(db, dialect, 'rotation_events');
    },
  };
}
