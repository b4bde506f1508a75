import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';
import { forbidRewrites } from './append-only.js';

/** History the database itself refuses to rewrite: a revision, once written, and its retraction. */
export const ENVIRONMENT_APPEND_ONLY_TABLES = ['environment_revisions', 'environment_retractions'] as const;

/**
 * Environments, their immutable revisions and retractions, revision tags, environment tags, open sessions.
 * Times are epoch milliseconds (BIGINT); booleans are 0/1 integers (better-sqlite3 cannot bind booleans).
 */
export function environmentsMigration(dialect: Dialect): Migration {
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  // Names sort (and page) by code point on both engines: SQLite compares text as bytes; PostgreSQL would use the
  // database's locale collation unless told otherwise.
  const byteOrder = dialect === 'postgres' ? sql`COLLATE "C"` : sql``;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('environments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org', 'text', (c) => c.notNull().modifyFront(byteOrder))
        .addColumn('project', 'text', (c) => c.notNull().modifyFront(byteOrder))
        .addColumn('name', 'text', (c) => c.notNull().modifyFront(byteOrder))
        .addColumn('head_revision', 'integer', (c) => c.notNull().check(sql`head_revision >= 1`))
        .addColumn('deletion_protected', 'integer', (c) =>
          c
            .notNull()
            .defaultTo(0)
            .check(sql`deletion_protected IN (0, 1)`),
        )
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('modified_at', big, (c) => c.notNull())
        .addColumn('deleted_at', big)
        .addColumn('created_by', 'text')
        .execute();
      // One live environment per name; any number of deleted ones (each restorable by its deletion time).
      await db.schema
        .createIndex('environments_live_name')
        .unique()
        .on('environments')
        .columns(['org', 'project', 'name'])
        .where(sql.ref('deleted_at'), 'is', null)
        .execute();
      await db.schema
        .createIndex('environments_deleted')
        .on('environments')
        .columns(['org', 'project', 'name', 'deleted_at'])
        .where(sql.ref('deleted_at'), 'is not', null)
        .execute();

      await db.schema
        .createTable('environment_revisions')
        .addColumn('env_id', 'text', (c) => c.notNull().references('environments.id'))
        .addColumn('number', 'integer', (c) => c.notNull().check(sql`number >= 1`))
        .addColumn('yaml', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('creator_login', 'text')
        .addColumn('creator_name', 'text')
        .addPrimaryKeyConstraint('environment_revisions_pk', ['env_id', 'number'])
        .execute();

      await db.schema
        .createTable('environment_retractions')
        .addColumn('env_id', 'text', (c) => c.notNull())
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('replacement', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('retracted_at', big, (c) => c.notNull())
        .addColumn('by_login', 'text')
        .addColumn('by_name', 'text')
        .addPrimaryKeyConstraint('environment_retractions_pk', ['env_id', 'number'])
        .addForeignKeyConstraint(
          'environment_retractions_revision',
          ['env_id', 'number'],
          'environment_revisions',
          ['env_id', 'number'],
        )
        .addForeignKeyConstraint(
          'environment_retractions_replacement',
          ['env_id', 'replacement'],
          'environment_revisions',
          ['env_id', 'number'],
        )
        .addCheckConstraint('environment_retractions_not_self', sql`replacement <> number`)
        .execute();

      await db.schema
        .createTable('environment_revision_tags')
        .addColumn('env_id', 'text', (c) => c.notNull().references('environments.id'))
        .addColumn('name', 'text', (c) => c.notNull().modifyFront(byteOrder))
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('modified_at', big, (c) => c.notNull())
        .addColumn('editor_login', 'text')
        .addColumn('editor_name', 'text')
        .addPrimaryKeyConstraint('environment_revision_tags_pk', ['env_id', 'name'])
        .addForeignKeyConstraint(
          'environment_revision_tags_revision',
          ['env_id', 'revision'],
          'environment_revisions',
          ['env_id', 'number'],
        )
        .execute();

      await db.schema
        .createTable('environment_tags')
        .addColumn('env_id', 'text', (c) => c.notNull().references('environments.id'))
        .addColumn('name', 'text', (c) => c.notNull().modifyFront(byteOrder))
        .addColumn('value', 'text', (c) => c.notNull().modifyFront(byteOrder))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('modified_at', big, (c) => c.notNull())
        .addColumn('editor_login', 'text')
        .addColumn('editor_name', 'text')
        .addPrimaryKeyConstraint('environment_tags_pk', ['env_id', 'name'])
        .execute();

      await db.schema
        .createTable('environment_open_sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('org', 'text', (c) => c.notNull())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('env', 'text', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('sealed', bytes, (c) => c.notNull())
        .addColumn('opened_by', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('environment_open_sessions_expiry')
        .on('environment_open_sessions')
        .column('expires_at')
        .execute();

      for (const table of ENVIRONMENT_APPEND_ONLY_TABLES) await forbidRewrites(db, dialect, table);
    },
  };
}
