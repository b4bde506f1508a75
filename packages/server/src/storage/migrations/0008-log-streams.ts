import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/**
 * Audit log streams (issue #6): destinations an organization's log is delivered to (webhook, syslog).
 *
 * `cursor` is the next log index to deliver; it only moves forward, and only after the receiver acknowledged
 * everything below it (at-least-once). `lease_owner`/`lease_until` say which server process delivers the stream
 * now: a process takes an expired lease with a compare-and-set, so of several processes one delivers at a time.
 * The webhook secret is `secret_sealed` (the server's SecretBox, bound to the stream id); it is never answered.
 */
export function logStreamsMigration(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_log_streams')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('webhook', 'syslog')`))
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('query', 'text')
        .addColumn('secret_sealed', bytes)
        .addColumn('paused', 'integer', (c) =>
          c
            .notNull()
            .defaultTo(0)
            .check(sql`paused IN (0, 1)`),
        )
        .addColumn('cursor', big, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('modified_at', big, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('last_success_at', big)
        .addColumn('last_error', 'text')
        .addColumn('last_error_at', big)
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', big, (c) => c.notNull().defaultTo(0))
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', big)
        .execute();
      await db.schema
        .createIndex('audit_log_streams_org_name')
        .unique()
        .on('audit_log_streams')
        .columns(['org', 'name'])
        .execute();
    },
  };
}
