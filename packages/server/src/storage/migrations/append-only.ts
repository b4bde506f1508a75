import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../storage.js';

/** Triggers that make the database itself reject changes to history (an application bug cannot rewrite it). */
export async function forbidRewrites(db: Kysely<unknown>, dialect: Dialect, table: string): Promise<void> {
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
