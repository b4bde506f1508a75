import { sql, type CreateTableBuilder, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';
import { forbidRewrites } from './append-only.js';

/** The tables that hold history; the database itself refuses UPDATE, DELETE and TRUNCATE on them. */
export const APPEND_ONLY_TABLES = [
  'ledger_logs',
  'ledger_entries',
  'ledger_hashes',
  'ledger_checkpoints',
  'ledger_signing_keys',
] as const;

export function ledgerMigration(dialect: Dialect): Migration {
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  // SQLite: store rows in primary-key order (no hidden rowid and second index), so an append touches one page
  // per table instead of two: each commit writes fewer WAL pages.
  const clustered = <T extends CreateTableBuilder<string, never>>(table: T): T =>
    (dialect === 'sqlite' ? table.modifyEnd(sql`WITHOUT ROWID`) : table) as T;
  return {
    async up(db: Kysely<unknown>) {
      let logs = db.schema.createTable('ledger_logs');
      logs =
        dialect === 'postgres'
          ? logs.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
          : logs.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
      await logs
        .addColumn('org', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('ledger_entries')
        .addColumn('log_id', 'integer', (c) => c.notNull().references('ledger_logs.id'))
        .addColumn('idx', big, (c) => c.notNull().check(sql`idx >= 0`))
        .addColumn('data', bytes, (c) => c.notNull())
        .addPrimaryKeyConstraint('ledger_entries_pk', ['log_id', 'idx'])
        .$call(clustered)
        .execute();

      await db.schema
        .createTable('ledger_hashes')
        .addColumn('log_id', 'integer', (c) => c.notNull().references('ledger_logs.id'))
        .addColumn('level', 'integer', (c) => c.notNull().check(sql`level >= 0 AND level < 64`))
        .addColumn('idx', big, (c) => c.notNull().check(sql`idx >= 0`))
        .addColumn('hash', bytes, (c) => c.notNull())
        .addPrimaryKeyConstraint('ledger_hashes_pk', ['log_id', 'level', 'idx'])
        .$call(clustered)
        .execute();

      await db.schema
        .createTable('ledger_checkpoints')
        .addColumn('log_id', 'integer', (c) => c.notNull().references('ledger_logs.id'))
        .addColumn('size', big, (c) => c.notNull().check(sql`size >= 0`))
        .addColumn('root', bytes, (c) => c.notNull())
        .addColumn('note', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('ledger_checkpoints_pk', ['log_id', 'size'])
        .$call(clustered)
        .execute();

      await db.schema
        .createTable('ledger_signing_keys')
        .addColumn('verifier_key', 'text', (c) => c.primaryKey())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();

      for (const table of APPEND_ONLY_TABLES) await forbidRewrites(db, dialect, table);
    },
  };
}
