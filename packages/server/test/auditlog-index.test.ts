import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuditQuery } from '../src/audit/audit-query.js';
import { parseQuery } from '../src/audit/query-language.js';
import { compileQuery } from '../src/audit/query-sql.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import { backfillAuditIndex } from '../src/storage/migrations/0004-audit-index.js';
import { backfillAuditQueryColumns } from '../src/storage/migrations/0007-audit-query.js';
import { openStorage, type Storage } from '../src/storage/storage.js';
import { seedRecord } from './auditlog-support.js';
import { DIALECTS, rawSql, testDatabase, type TestDatabase } from './support/databases.js';

for (const dialect of DIALECTS) {
  describe(`audit_events index on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;
    afterEach(async () => {
      await storage.close();
      await db.drop();
    });

    const rows = async () =>
      (
        await storage.db.selectFrom('audit_events').selectAll().orderBy('log_id').orderBy('idx').execute()
      ).map((r) => ({
        ...r,
        source_ip_key: r.source_ip_key && Buffer.from(r.source_ip_key).toString('hex'),
      }));

    it('indexes audit records in their own transaction, skips other objects, and refuses rewrites', async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const ledger = new LedgerStore(storage);
      await ledger.append(
        'acme',
        seedRecord(1_000, 0, { resource: { project: 'app', environment: 'prod' } }),
      );
      await ledger.append('acme', { event: 'test-event', n: 1 }); // no time: not an audit record
      await ledger.append('acme', seedRecord(2_000, 2, { actor: { kind: 'user', login: 'Zoe', name: 'Z' } }));
      await ledger.close();
      expect((await rows()).map((r) => ({ ...r, idx: Number(r.idx), time: Number(r.time) }))).toEqual([
        {
          log_id: 1,
          idx: 0,
          time: 1000,
          event: 'environment-read',
          actor_login: 'seeder',
          token_name: null,
          project: 'app',
          environment: 'prod',
          source_ip: '198.51.100.7',
          outcome: 'success',
          description_folded: 'seed 0',
          // ::ffff:198.51.100.7, the IPv4-mapped key (migration 0007).
          source_ip_key: '00000000000000000000ffffc6336407',
        },
        expect.objectContaining({ idx: 2, time: 2000, actor_login: 'zoe', project: null }),
      ]);
      await expect(storage.db.deleteFrom('audit_events').execute()).rejects.toThrow(/append-only/);
      await expect(storage.db.updateTable('audit_events').set({ event: 'x' }).execute()).rejects.toThrow(
        /append-only/,
      );
    });

    it('reads whole selections past entries that are not audit records, page after page', async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const ledger = new LedgerStore(storage);
      // Every third entry is not an audit record (no index row): an unfiltered read must skip it, and still fill
      // each page and continue below it.
      for (let n = 0; n < 30; n++)
        await ledger.append('acme', n % 3 === 1 ? { event: 'test-event', n } : seedRecord(1_000 + n, n));
      const query = createAuditQuery(ledger);
      const audited = [...Array(30).keys()].filter((n) => n % 3 !== 1).reverse();
      const page = await query.page('acme', {}, 7);
      expect(page.entries.map((e) => e.index)).toEqual(audited.slice(0, 7));
      const next = await query.page('acme', { before: page.next! }, 7);
      expect(next.entries.map((e) => e.index)).toEqual(audited.slice(7, 14));
      const all: number[] = [];
      for await (const page of query.pages('acme', {})) all.push(...page.map((e) => e.index));
      expect(all).toEqual(audited);
      await ledger.close();
    });

    it('reads past an audit record whose index row was deleted by hand, though no entry is missing', async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const ledger = new LedgerStore(storage);
      await Promise.all([...Array(3000).keys()].map((n) => ledger.append('acme', seedRecord(1_000 + n, n))));
      await ledger.close();
      const query = createAuditQuery(ledger);
      const indexes = async () => {
        const out: number[] = [];
        for await (const page of query.pages('acme', {})) out.push(...page.map((e) => e.index));
        return out;
      };
      const every = [...Array(3000).keys()].reverse();
      expect(await indexes()).toEqual(every);
      // Entries stay dense, so a page's range is whole; one of its records lost its index row.
      await rawSql(db, [
        dialect === 'sqlite'
          ? 'DROP TRIGGER audit_events_no_delete'
          : 'ALTER TABLE audit_events DISABLE TRIGGER USER',
        'DELETE FROM audit_events WHERE idx = 1500',
      ]);
      expect(await indexes()).toEqual(every.filter((i) => i !== 1500));
      const page = await query.page('acme', { before: 1503 }, 5);
      expect(page.entries.map((e) => e.index)).toEqual([1502, 1501, 1499, 1498, 1497]);
    });

    if (dialect === 'postgres')
      it('reads the index on sessions that leave PostgreSQL only index walks, in the same schema, without statistics', async () => {
        db = testDatabase(dialect);
        // The schema as a server is given it: in the URL's own `options`, which the audit pool must keep.
        const url = new URL(db.databaseUrl!);
        url.searchParams.set('options', `-c search_path=${db.schema} -c statement_timeout=60000`);
        const admin = new pg.Client({ connectionString: db.databaseUrl });
        await admin.connect();
        await admin.query(`CREATE SCHEMA ${db.schema}`);
        await admin.end();
        storage = await openStorage({ databaseUrl: url.toString() });
        const setting = async (reader: Storage['reader'], name: string) =>
          (await sql<{ v: string }>`SELECT current_setting(${name}) AS v`.execute(reader)).rows[0]!.v;
        for (const name of ['enable_bitmapscan', 'enable_sort']) {
          expect(await setting(storage.auditReader, name)).toBe('off');
          expect(await setting(storage.reader, name)).toBe('on');
        }
        expect(await setting(storage.auditReader, 'search_path')).toBe(db.schema);
        expect(await setting(storage.auditReader, 'statement_timeout')).toBe('1min');
        // A filtered page of a table never analyzed: an index walk that stops at the page, no bitmap, no sort.
        const ledger = new LedgerStore(storage);
        await Promise.all([...Array(3000).keys()].map((n) => ledger.append('acme', seedRecord(n, n))));
        await ledger.close();
        const plan = await sql<{ 'QUERY PLAN': string }>`
          EXPLAIN SELECT idx FROM audit_events WHERE log_id = 1 AND event = 'environment-read' AND idx < 2000
          ORDER BY idx DESC LIMIT 101`.execute(storage.auditReader);
        const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(text).toMatch(/Index (Only )?Scan Backward/);
        expect(text).not.toMatch(/Bitmap|Sort/);
      });

    it('tests an event term of an actor page on the actor index entry, never the row (migration 0011)', async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const ledger = new LedgerStore(storage);
      await Promise.all(
        [...Array(6000).keys()].map((n) =>
          ledger.append(
            'acme',
            seedRecord(n, n, {
              event: n % 3 === 0 ? 'environment-read' : 'environment-open',
              actor: { kind: 'user', login: `u${n % 6}`, name: 'U' },
            }),
          ),
        ),
      );
      // The page as the query service selects it (audit-query.ts, `readInterval`): the actor index drives, the
      // event column is offered to no index.
      const condition = compileQuery(parseQuery('actor:u3 event:environment-open')!, {
        dialect,
        indexed: new Set(['actor_login']),
      });
      const hint = dialect === 'sqlite' ? sql` INDEXED BY audit_events_actor` : sql``;
      const page = sql<{ idx: number }>`SELECT a.idx FROM audit_events AS a${hint}
        WHERE a.log_id = 1 AND ${condition} ORDER BY a.idx DESC LIMIT 11`;
      const plan = (
        await sql<
          Record<string, string>
        >`${sql.raw(dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN' : 'EXPLAIN')} ${page}`.execute(
          storage.auditReader,
        )
      ).rows
        .map((r) => r.detail ?? r['QUERY PLAN'])
        .join('\n');
      expect(plan).toMatch(
        dialect === 'sqlite'
          ? /USING COVERING INDEX audit_events_actor/
          : /Index Only Scan Backward using audit_events_actor/,
      );
      const found = (await page.execute(storage.auditReader)).rows.map((r) => Number(r.idx));
      // u3 is n ≡ 3 (mod 6), and those are all reads (n ≡ 0 mod 3): none; u4 (n ≡ 4 mod 6) are all opens.
      expect(found).toEqual([]);
      const u4 = compileQuery(parseQuery('actor:u4 event:environment-open')!, {
        dialect,
        indexed: new Set(['actor_login']),
      });
      const opens = await sql<{ idx: number }>`SELECT a.idx FROM audit_events AS a${hint}
        WHERE a.log_id = 1 AND ${u4} ORDER BY a.idx DESC LIMIT 3`.execute(storage.auditReader);
      expect(opens.rows.map((r) => Number(r.idx))).toEqual([5998, 5992, 5986]);
      await ledger.close();
    });

    it('backfills entries that predate the index, idempotently', async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const ledger = new LedgerStore(storage);
      await Promise.all([...Array(2500).keys()].map((n) => ledger.append('acme', seedRecord(n, n))));
      await ledger.close();
      const before = await rows();
      // As on a database written before migration 0004: the entries are there, the index rows are not.
      await rawSql(
        db,
        dialect === 'sqlite'
          ? [
              'DROP TRIGGER audit_events_no_delete',
              'DROP TRIGGER audit_events_no_update',
              'DELETE FROM audit_events',
            ]
          : ['ALTER TABLE audit_events DISABLE TRIGGER USER', 'DELETE FROM audit_events'],
      );
      expect(await rows()).toHaveLength(0);
      expect(await backfillAuditIndex(storage.db)).toBe(2500);
      expect(await backfillAuditIndex(storage.db)).toBe(0);
      // Then migration 0007's columns, as on a database migrating up from before 0004.
      expect(await backfillAuditQueryColumns(storage.db)).toBe(2500);
      expect(await backfillAuditQueryColumns(storage.db)).toBe(0);
      expect(await rows()).toEqual(before);
    });
  });
}
