import { sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './storage.js';

/**
 * One set of migrations for both engines. Where the engines differ (byte and big-integer types, identity columns,
 * trigger syntax) a migration asks `dialect`; everything else is Kysely's schema builder.
 * Migrations are append-only: never edit one that has shipped, add the next.
 */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return { '0001_ledger': ledger(dialect) };
    },
  };
}

/** The tables that hold history; the database itself refuses UPDATE, DELETE and TRUNCATE on them. */
export const APPEND_ONLY_TABLES = [
  'ledger_logs',
  'ledger_entries',
  'ledger_hashes',
  'ledger_checkpoints',
  'ledger_signing_keys',
] as const;

function ledger(dialect: Dialect): Migration {
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

/** Triggers that make the database itself reject changes to history (an application bug cannot rewrite it). */
async function forbidRewrites(db: Kysely<unknown>, dialect: Dialect, table: string): Promise<void> {
  const name = sql.id(table);
  if (dialect === 'sqlite') {
    for (const op of ['update', 'delete'] as const) {
      await sql`CREATE TRIGGER ${sql.id(`${table}_no_${op}`)} BEFORE ${sql.raw(op.toUpperCase())} ON ${name}
        BEGIN SELECT RAISE(ABORT, ${sql.lit(`vigil: ${table} is append-only`)}); END`.execute(db);
    }
    return;
  }
  await sql`CREATE OR REPLACE FUNCTION vigil_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'vigil: % is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
    END $$`.execute(db);
  await sql`CREATE TRIGGER ${sql.id(`${table}_no_rewrite`)} BEFORE UPDATE OR DELETE ON ${name}
    FOR EACH ROW EXECUTE FUNCTION vigil_append_only()`.execute(db);
  await sql`CREATE TRIGGER ${sql.id(`${table}_no_truncate`)} BEFORE TRUNCATE ON ${name}
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_append_only()`.execute(db);
}
