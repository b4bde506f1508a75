import { afterEach, describe, expect, it } from 'vitest';
import {
  createAuditQuery,
  type AuditSelection,
  type SelectedText,
  type TextPage,
} from '../src/audit/audit-query.js';
import { blockEntries } from '../src/audit/copy-rows.js';
import { renderPage, type RenderedFormat } from '../src/audit/export-render.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import type { Storage } from '../src/storage/storage.js';
import { seedRecord } from './auditlog-support.js';
import { DIALECTS, rawSql, testDatabase, type TestDatabase } from './support/databases.js';

/** What an attacker with the database may leave in an entry; each must export as its bytes would. */
const HOSTILE: ReadonlyArray<readonly [number, Buffer]> = [
  // Not UTF-8: a lone continuation byte and an overlong encoding inside a description.
  [
    3,
    Buffer.concat([
      Buffer.from('{"description":"bad '),
      Buffer.from([0x80, 0xc0, 0xaf]),
      Buffer.from('","time":1}'),
    ]),
  ],
  // A NUL byte (PostgreSQL's text cannot hold one).
  [7, Buffer.from('{"description":"a\u0000b","time":2}')],
  // Valid UTF-8 beyond ASCII, and an encoded character cut short at the end.
  [9, Buffer.from('{"description":"Grüße 🎉","time":3,"event":"user-login"}')],
  [11, Buffer.concat([Buffer.from('{"description":"cut'), Buffer.from([0xf0, 0x9f, 0x8e])])],
];

for (const dialect of DIALECTS) {
  describe(`audit entries read as text on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;
    afterEach(async () => {
      await storage.close();
      await db.drop();
    });

    it('read as the bytes decode, tampered entries included, whether filtered or not, and render the same', async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const ledger = new LedgerStore(storage);
      for (let n = 0; n < 40; n++)
        await ledger.append('acme', seedRecord(1_000 * n, n, n % 2 ? {} : { description: `päge ${n} ✓` }));
      await ledger.close();
      const literal = (b: Buffer) =>
        dialect === 'sqlite' ? `x'${b.toString('hex')}'` : `'\\x${b.toString('hex')}'::bytea`;
      await rawSql(db, [
        dialect === 'sqlite'
          ? 'DROP TRIGGER ledger_entries_no_update'
          : 'ALTER TABLE ledger_entries DISABLE TRIGGER USER',
        ...HOSTILE.map(
          ([idx, bytes]) => `UPDATE ledger_entries SET data = ${literal(bytes)} WHERE idx = ${idx}`,
        ),
      ]);

      const query = createAuditQuery(new LedgerStore(storage));
      const all = async <T>(pages: AsyncGenerator<T[]>) => {
        const out: T[] = [];
        for await (const page of pages) out.push(...page);
        return out;
      };
      // Text pages, and how many came as COPY blocks (PostgreSQL, no filter).
      const blocks = { count: 0 };
      const allText = async (pages: AsyncGenerator<TextPage>) => {
        const out: SelectedText[] = [];
        for await (const page of pages) {
          if ('kind' in page) blocks.count++;
          out.push(...('kind' in page ? blockEntries(page) : page));
        }
        return out;
      };
      const selections: AuditSelection[] = [{}, { login: 'seeder' }, { before: 10 }];
      for (const selection of selections) {
        const bytes = await all(query.pages('acme', selection));
        blocks.count = 0;
        const text = await allText(query.textPages('acme', selection));
        expect(blocks.count > 0, JSON.stringify(selection)).toBe(
          dialect === 'postgres' && selection.login === undefined,
        );
        expect(bytes.length, JSON.stringify(selection)).toBeGreaterThan(5);
        expect(text).toEqual(
          bytes.map((e) => ({ index: e.index, data: Buffer.from(e.data).toString('utf8') })),
        );
        for (const format of ['csv', 'cef', 'ocsf'] satisfies RenderedFormat[])
          expect(renderPage(text, format, { org: 'acme', host: 'h' }).toString('utf8')).toBe(
            renderPage(bytes, format, { org: 'acme', host: 'h' }).toString('utf8'),
          );
      }
      // Pages stay exact where entries are missing (deleted by hand) or are not audit records.
      const ledger2 = new LedgerStore(storage);
      for (let n = 40; n < 60; n++)
        await ledger2.append('acme', n % 4 ? seedRecord(1_000 * n, n) : { event: 'not-an-audit-record', n });
      await ledger2.close();
      await rawSql(db, [
        dialect === 'sqlite'
          ? 'DROP TRIGGER ledger_entries_no_delete'
          : 'ALTER TABLE ledger_entries DISABLE TRIGGER USER',
        'DELETE FROM ledger_entries WHERE idx IN (50, 51, 53, 54)',
      ]);
      const audited = (await all(query.pages('acme', {}))).map((e) => e.index);
      expect(audited.filter((i) => i >= 40)).toEqual([59, 58, 57, 55, 49, 47, 46, 45, 43, 42, 41]);
      expect((await allText(query.textPages('acme', {}))).map((e) => e.index)).toEqual(audited);
      expect((await allText(query.textPages('acme', { before: 50 }))).map((e) => e.index)).toEqual(
        audited.filter((i) => i < 50),
      );
      for (let before = 40; before <= 60; before++)
        for (const size of [1, 2, 3, 5]) {
          const page = await query.page('acme', { before }, size);
          const expected = audited.filter((i) => i < before);
          expect(
            page.entries.map((e) => e.index),
            `before ${before}, ${size}`,
          ).toEqual(expected.slice(0, size));
        }

      // The tampered entries are among those read, as their bytes decode.
      const text = await allText(query.textPages('acme', {}));
      for (const [idx, bytes] of HOSTILE)
        expect(text.find((e) => e.index === idx)?.data).toBe(bytes.toString('utf8'));
    });
  });
}
