import { sql, type Kysely, type Migration } from 'kysely';
import { auditQueryColumns } from '../../audit/index-row.js';
import type { Database } from '../schema.js';
import type { Dialect } from '../storage.js';
import { forbidRewrites } from './append-only.js';

/**
 * The query language's columns on the audit index (issue #6, `q=`): `description_folded` (the description in
 * lower case, for free words) and `source_ip_key` (the source address as 16 sortable bytes, IPv4 mapped into
 * IPv6, so an `ip:` CIDR block is one range scan on both engines — rather than matching CIDRs in JavaScript over
 * a candidate set, which would make keyset pages inexact or unbounded).
 *
 * Rows indexed before this migration get their columns from their entry's bytes. `audit_events` refuses
 * updates (it is history); the backfill lifts that guard inside this migration's transaction and restores it
 * before the transaction commits, so no other writer ever sees the table unguarded.
 */
export function auditQueryMigration(dialect: Dialect): Migration {
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const up = async (db: Kysely<unknown>): Promise<void> => {
    await db.schema.alterTable('audit_events').addColumn('description_folded', 'text').execute();
    await db.schema.alterTable('audit_events').addColumn('source_ip_key', bytes).execute();
    await db.schema
      .createIndex('audit_events_ip')
      .on('audit_events')
      .columns(['log_id', 'source_ip_key'])
      .execute();
    const triggers =
      dialect === 'sqlite'
        ? ['audit_events_no_update', 'audit_events_no_delete']
        : ['audit_events_no_rewrite', 'audit_events_no_truncate'];
    for (const name of triggers)
      await (
        dialect === 'sqlite'
          ? sql`DROP TRIGGER ${sql.id(name)}`
          : sql`DROP TRIGGER ${sql.id(name)} ON audit_events`
      ).execute(db);
    await backfillAuditQueryColumns(db as unknown as Kysely<Database>);
    await forbidRewrites(db, dialect, 'audit_events');
  };
  return {
    // Kysely runs PostgreSQL migrations in a transaction, SQLite ones not (its adapter reports no
    // transactional DDL): SQLite gets one here, so the guard is never seen lifted.
    up: (db) =>
      dialect === 'sqlite' ? db.transaction().execute((tx) => up(tx as unknown as Kysely<unknown>)) : up(db),
  };
}

/** Rows read per statement while backfilling. */
const BACKFILL_PAGE = 1000;

/**
 * Fills `description_folded` and `source_ip_key` of every index row that lacks them, from its entry's bytes, in
 * key order a page at a time. Idempotent. Runs with `audit_events`'s rewrite guard lifted (see above).
 */
export async function backfillAuditQueryColumns(db: Kysely<Database>): Promise<number> {
  let written = 0;
  let after = { log: -1, idx: -1 };
  for (;;) {
    const rows = await db
      .selectFrom('audit_events as a')
      .innerJoin('ledger_entries as l', (join) =>
        join.onRef('l.log_id', '=', 'a.log_id').onRef('l.idx', '=', 'a.idx'),
      )
      .select(['a.log_id', 'a.idx', 'l.data'])
      .where('a.description_folded', 'is', null)
      .where((eb) =>
        eb.or([
          eb('a.log_id', '>', after.log),
          eb.and([eb('a.log_id', '=', after.log), eb('a.idx', '>', after.idx)]),
        ]),
      )
      .orderBy('a.log_id')
      .orderBy('a.idx')
      .limit(BACKFILL_PAGE)
      .execute();
    if (rows.length === 0) return written;
    for (const row of rows) {
      let record: unknown;
      try {
        record = JSON.parse(Buffer.from(row.data).toString('utf8'));
      } catch {
        record = {};
      }
      const columns = auditQueryColumns(record !== null && typeof record === 'object' ? record : {});
      await db
        .updateTable('audit_events')
        .set({
          description_folded: columns.descriptionFolded,
          source_ip_key: columns.sourceIpKey && Buffer.from(columns.sourceIpKey),
        })
        .where('log_id', '=', row.log_id)
        .where('idx', '=', row.idx)
        .execute();
      written++;
    }
    const last = rows.at(-1)!;
    after = { log: last.log_id, idx: Number(last.idx) };
  }
}
