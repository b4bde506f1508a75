import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';

const TABLE = 'audit_log_streams';
/** 0008's constraint, exactly as it wrote it, and its successor. */
const OLD_CHECK = "kind IN ('webhook', 'syslog')";
const NEW_CHECK = "kind IN ('webhook', 'syslog', 's3')";

/**
 * Log streams to S3-compatible object storage (issue #6): the `kind` check of `audit_log_streams` admits `s3`. The
 * destination's columns need no change (an s3 destination is JSON in `destination`, its secret access key in
 * `secret_sealed`).
 *
 * PostgreSQL replaces the named check constraint. SQLite cannot alter a constraint; the table is rebuilt the way
 * its documentation prescribes (ALTER TABLE, "making other kinds of table schema changes"): a new table from the
 * stored `CREATE TABLE` text with only the check changed, the rows copied, the old table dropped, the new one
 * renamed, and the table's indexes and triggers recreated from their stored text — in one transaction, so no
 * reader sees a half-built table and a failure leaves 0008's table as it was. Working from the stored text keeps
 * every other column, default and constraint exactly as 0008 made them.
 */
export function s3StreamsMigration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect === 'postgres') {
        // 0008 declared the check on the column; PostgreSQL named it <table>_<column>_check.
        await sql`ALTER TABLE ${sql.id(TABLE)} DROP CONSTRAINT ${sql.id(`${TABLE}_kind_check`)}`.execute(db);
        await sql`ALTER TABLE ${sql.id(TABLE)} ADD CONSTRAINT ${sql.id(`${TABLE}_kind_check`)} CHECK (${sql.raw(NEW_CHECK)})`.execute(
          db,
        );
        return;
      }
      // Kysely runs SQLite migrations outside a transaction (see 0007): this one makes its own.
      await db.transaction().execute((tx) => rebuildSqliteTable(tx, TABLE, OLD_CHECK, NEW_CHECK));
    },
  };
}

interface SchemaRow {
  type: string;
  name: string;
  sql: string | null;
}

/** Rebuilds `table` with `from` replaced by `to` in its definition; rows, indexes and triggers carried over. */
async function rebuildSqliteTable(
  db: Kysely<unknown>,
  table: string,
  from: string,
  to: string,
): Promise<void> {
  const { rows } = await sql<SchemaRow>`SELECT type, name, sql FROM sqlite_master
    WHERE tbl_name = ${table} ORDER BY type = 'table' DESC`.execute(db);
  const definition = rows.find((r) => r.type === 'table')?.sql;
  if (!definition || definition.split(from).length !== 2)
    throw new Error(`migration 0009: ${table} is not as 0008 created it (expected one "${from}")`);
  const temporary = `${table}_0009`;
  const created = definition
    .replace(from, to)
    .replace(/^CREATE TABLE\s+("?)[A-Za-z0-9_]+\1/i, `CREATE TABLE "${temporary}"`);
  if (!created.startsWith(`CREATE TABLE "${temporary}"`))
    throw new Error(`migration 0009: cannot read the definition of ${table}`);
  await sql.raw(created).execute(db);
  await sql`INSERT INTO ${sql.id(temporary)} SELECT * FROM ${sql.id(table)}`.execute(db);
  await sql`DROP TABLE ${sql.id(table)}`.execute(db);
  await sql`ALTER TABLE ${sql.id(temporary)} RENAME TO ${sql.id(table)}`.execute(db);
  // Automatic indexes (primary key, unique columns) have no text and come back with the table itself.
  for (const r of rows) if (r.type !== 'table' && r.sql) await sql.raw(r.sql).execute(db);
}
