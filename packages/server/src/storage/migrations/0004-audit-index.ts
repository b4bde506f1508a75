import { sql, type Kysely, type Migration } from 'kysely';
import { auditIndexRow, type AuditIndexRow } from '../../audit/index-row.js';
import type { Database } from '../schema.js';
import type { Dialect } from '../storage.js';
import { forbidRewrites } from './append-only.js';

/** The query index is history too: the database refuses to rewrite it, as it refuses to rewrite the ledger. */
export const AUDIT_INDEX_TABLES = ['audit_events'] as const;

/**
 * The audit log's query index (issue #6): one row per ledger entry that is an audit record, written by the
 * sequencer in the entry's own transaction (so the index never lags or leads the log). It only *finds* entries;
 * every answer is rendered from the entry's bytes in `ledger_entries`, the ones the tree hashes.
 */
export function auditIndexMigration(dialect: Dialect): Migration {
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  return {
    async up(db: Kysely<unknown>) {
      let table = db.schema
        .createTable('audit_events')
        .addColumn('log_id', 'integer', (c) => c.notNull().references('ledger_logs.id'))
        .addColumn('idx', big, (c) => c.notNull().check(sql`idx >= 0`))
        .addColumn('time', big, (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('actor_login', 'text', (c) => c.notNull())
        .addColumn('token_name', 'text')
        .addColumn('project', 'text')
        .addColumn('environment', 'text')
        .addColumn('source_ip', 'text')
        .addColumn('outcome', 'text')
        .addPrimaryKeyConstraint('audit_events_pk', ['log_id', 'idx']);
      // SQLite: rows in primary-key order, like the ledger tables (one page touched per append, not two).
      if (dialect === 'sqlite') table = table.modifyEnd(sql`WITHOUT ROWID`);
      await table.execute();
      // Newest-first pages are `ORDER BY idx DESC` on the primary key; each filter has an index ending in idx,
      // so a filtered page is a range scan, not a sort.
      await db.schema
        .createIndex('audit_events_actor')
        .on('audit_events')
        .columns(['log_id', 'actor_login', 'idx'])
        .execute();
      await db.schema
        .createIndex('audit_events_event')
        .on('audit_events')
        .columns(['log_id', 'event', 'idx'])
        .execute();
      await db.schema
        .createIndex('audit_events_time')
        .on('audit_events')
        .columns(['log_id', 'time'])
        .execute();
      // Entries sequenced before this migration are indexed now, so listings cover the whole log.
      await backfillAuditIndex(db as unknown as Kysely<Database>);
      for (const name of AUDIT_INDEX_TABLES) await forbidRewrites(db, dialect, name);
    },
  };
}

/** Entries read (and index rows written) per statement while backfilling. */
const BACKFILL_PAGE = 1000;

/**
 * Indexes every entry that has no `audit_events` row yet, in key order, a page at a time. Run by the migration on
 * a database whose entries predate the index; idempotent (entries that have their row are skipped).
 */
export async function backfillAuditIndex(db: Kysely<Database>): Promise<number> {
  let written = 0;
  let after = { log: -1, idx: -1 };
  for (;;) {
    const rows = await db
      .selectFrom('ledger_entries as l')
      .leftJoin('audit_events as a', (join) =>
        join.onRef('a.log_id', '=', 'l.log_id').onRef('a.idx', '=', 'l.idx'),
      )
      .select(['l.log_id', 'l.idx', 'l.data', 'a.idx as indexed'])
      .where((eb) =>
        eb.or([
          eb('l.log_id', '>', after.log),
          eb.and([eb('l.log_id', '=', after.log), eb('l.idx', '>', after.idx)]),
        ]),
      )
      .orderBy('l.log_id')
      .orderBy('l.idx')
      .limit(BACKFILL_PAGE)
      .execute();
    if (rows.length === 0) return written;
    const events: AuditIndexRow[] = [];
    for (const row of rows) {
      if (row.indexed !== null) continue;
      let record: unknown;
      try {
        record = JSON.parse(Buffer.from(row.data).toString('utf8'));
      } catch {
        continue;
      }
      if (record === null || typeof record !== 'object') continue;
      const event = auditIndexRow(row.log_id, Number(row.idx), record);
      if (event) events.push(event);
    }
    if (events.length > 0) {
      await db
        .insertInto('audit_events')
        .values(
          events.map((e) => ({
            log_id: e.logId,
            idx: e.index,
            time: e.time,
            event: e.event,
            actor_login: e.actorLogin,
            token_name: e.tokenName,
            project: e.project,
            environment: e.environment,
            source_ip: e.sourceIp,
            outcome: e.outcome,
          })),
        )
        .execute();
      written += events.length;
    }
    const last = rows.at(-1)!;
    after = { log: last.log_id, idx: Number(last.idx) };
  }
}
