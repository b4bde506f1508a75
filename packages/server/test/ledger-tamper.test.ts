import { canonicalBytes, generateSignerKey, leafHash, verifyLog } from '@vigil/ledger';
import SQLite from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import { CheckpointPublisher } from '../src/ledger/publisher.js';
import { loadSigningKey, registerSigningKey } from '../src/ledger/signing-key.js';
import { APPEND_ONLY_TABLES } from '../src/storage/migrations/index.js';
import { DIALECTS, POSTGRES_URL, testDatabase, type TestDatabase } from './support/databases.js';

const SIZE = 24;
const record = (n: number) => ({
  event: 'environment-open',
  n,
  description: `Opened environment "app/prod" (${n})`,
});
const forged = (n: number) =>
  canonicalBytes({ event: 'environment-open', n, description: 'nothing to see here' });

/** What an attacker's database hands a verifier: the rows as they now stand. */
interface Dump {
  entries: Uint8Array[];
  leafHashes: Uint8Array[];
  notes: string[];
}

/**
 * An attacker with database access: drops the append-only triggers, rewrites rows, and we read what a verifier
 * would be served — all inside a transaction that is rolled back, so every scenario starts from the same log.
 */
interface Attacker {
  tamper(statements: (bytes: (b: Uint8Array) => string) => string[]): Promise<Dump>;
  close(): Promise<void>;
}

async function attacker(db: TestDatabase): Promise<Attacker> {
  const dump = 'SELECT data FROM ledger_entries ORDER BY idx';
  const hashes = 'SELECT hash FROM ledger_hashes WHERE level = 0 ORDER BY idx';
  const notes = 'SELECT note FROM ledger_checkpoints ORDER BY size';
  if (db.dialect === 'sqlite') {
    const handle = new SQLite(join(db.dataDir, 'vigil.db'));
    const literal = (b: Uint8Array) => `x'${Buffer.from(b).toString('hex')}'`;
    return {
      async tamper(statements) {
        handle.exec('BEGIN');
        try {
          for (const t of APPEND_ONLY_TABLES)
            for (const op of ['update', 'delete']) handle.exec(`DROP TRIGGER ${t}_no_${op}`);
          for (const s of statements(literal)) handle.exec(s);
          return {
            entries: handle
              .prepare(dump)
              .all()
              .map((r) => (r as { data: Uint8Array }).data),
            leafHashes: handle
              .prepare(hashes)
              .all()
              .map((r) => (r as { hash: Uint8Array }).hash),
            notes: handle
              .prepare(notes)
              .all()
              .map((r) => (r as { note: string }).note),
          };
        } finally {
          handle.exec('ROLLBACK');
        }
      },
      async close() {
        handle.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${db.schema}` });
  await client.connect();
  const literal = (b: Uint8Array) => `'\\x${Buffer.from(b).toString('hex')}'::bytea`;
  return {
    async tamper(statements) {
      await client.query('BEGIN');
      try {
        for (const t of APPEND_ONLY_TABLES) await client.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
        for (const s of statements(literal)) await client.query(s);
        return {
          entries: (await client.query(dump)).rows.map((r) => r.data),
          leafHashes: (await client.query(hashes)).rows.map((r) => r.hash),
          notes: (await client.query(notes)).rows.map((r) => r.note),
        };
      } finally {
        await client.query('ROLLBACK');
      }
    },
    close: () => client.end(),
  };
}

for (const dialect of DIALECTS) {
  describe(`tampering with the ${dialect} database`, () => {
    let db: TestDatabase;
    let evil: Attacker;
    const key = generateSignerKey('vigil.test');

    beforeAll(async () => {
      db = testDatabase(dialect);
      const storage = await db.open();
      const signer = loadSigningKey({ signingKey: key.privateKey, dataDir: db.dataDir, name: 'vigil.test' });
      await registerSigningKey(storage, signer.verifierKey);
      const ledger = new LedgerStore(storage);
      const publisher = new CheckpointPublisher({
        storage,
        signer,
        originPrefix: 'vigil.test',
        intervalMs: 1000,
      });
      // One checkpoint per entry, as a quiet log gets: the publisher signs each append within its interval.
      for (let n = 0; n < SIZE; n++) {
        await ledger.append('acme', record(n));
        await publisher.publishAll();
      }
      await ledger.close();
      await storage.close();
      evil = await attacker(db);
    });

    afterAll(async () => {
      await evil.close();
      await db.drop();
    });

    function verify(dump: Dump, options: { leafHashes?: boolean; checkpoints?: boolean } = {}) {
      return verifyLog({
        verifierKey: key.verifierKey,
        origin: 'vigil.test/acme',
        checkpoint: dump.notes.at(-1)!,
        entries: dump.entries,
        ...(options.leafHashes === false ? {} : { leafHashes: dump.leafHashes }),
        ...(options.checkpoints === false ? {} : { checkpoints: dump.notes }),
      });
    }

    it('the untouched log verifies', async () => {
      const report = verify(await evil.tamper(() => []));
      expect(report).toMatchObject({ ok: true, size: SIZE });
    });

    it.each([0, 1, 7, 12, SIZE - 1])('names entry %i when its row is updated', async (k) => {
      const report = verify(
        await evil.tamper((b) => [`UPDATE ledger_entries SET data = ${b(forged(k))} WHERE idx = ${k}`]),
      );
      expect(report.ok).toBe(false);
      expect(!report.ok && report.error.code).toBe('entry-modified');
      expect(!report.ok && report.error.evidence.index).toBe(k);
    });

    it.each([0, 5, 16, SIZE - 1])('names entry %i when its row is deleted', async (k) => {
      const report = verify(await evil.tamper(() => [`DELETE FROM ledger_entries WHERE idx = ${k}`]));
      expect(!report.ok && report.error.code).toBe('entries-missing');
      expect(!report.ok && report.error.evidence.index).toBe(k);
    });

    it.each([0, 9, SIZE - 1])('names position %i when a forged row is inserted there', async (k) => {
      const report = verify(
        await evil.tamper((b) => [
          `UPDATE ledger_entries SET idx = idx + 1000000 WHERE idx >= ${k}`,
          `UPDATE ledger_entries SET idx = idx - 999999 WHERE idx >= 1000000`,
          `INSERT INTO ledger_entries (log_id, idx, data) VALUES (1, ${k}, ${b(forged(k))})`,
        ]),
      );
      expect(!report.ok && report.error.code).toBe('entries-inserted');
      expect(!report.ok && report.error.evidence.index).toBe(k);
    });

    it.each([
      [2, 2, 3],
      [4, 4, 17],
      [0, 0, SIZE - 1],
    ])('names position %i when rows %i and %i are swapped', async (_, i, j) => {
      const report = verify(
        await evil.tamper(() => [
          `UPDATE ledger_entries SET idx = 1000000 WHERE idx = ${i}`,
          `UPDATE ledger_entries SET idx = ${i} WHERE idx = ${j}`,
          `UPDATE ledger_entries SET idx = ${j} WHERE idx = 1000000`,
        ]),
      );
      expect(!report.ok && report.error.code).toBe('entries-reordered');
      expect(!report.ok && report.error.evidence.index).toBe(i);
    });

    it('names where the log was cut when its tail is deleted', async () => {
      const report = verify(await evil.tamper(() => [`DELETE FROM ledger_entries WHERE idx >= 15`]));
      expect(!report.ok && report.error.code).toBe('entries-missing');
      expect(!report.ok && report.error.evidence.index).toBe(15);
    });

    it.each([3, 20])(
      'still names entry %i when the attacker also rewrote its stored leaf hash (signed checkpoints bracket it)',
      async (k) => {
        const report = verify(
          await evil.tamper((b) => [
            `UPDATE ledger_entries SET data = ${b(forged(k))} WHERE idx = ${k}`,
            `UPDATE ledger_hashes SET hash = ${b(leafHash(forged(k)))} WHERE level = 0 AND idx = ${k}`,
          ]),
        );
        expect(!report.ok && report.error.code).toBe('entry-modified');
        expect(!report.ok && report.error.evidence.index).toBe(k);
      },
    );

    it('detects tampering with no help at all beyond the latest checkpoint', async () => {
      const report = verify(
        await evil.tamper((b) => [`UPDATE ledger_entries SET data = ${b(forged(5))} WHERE idx = 5`]),
        {
          leafHashes: false,
          checkpoints: false,
        },
      );
      expect(report.ok).toBe(false);
    });

    it('rejects a checkpoint the attacker edited', async () => {
      const dump = await evil.tamper(() => []);
      const edited = dump.notes.at(-1)!.replace(`\n${SIZE}\n`, `\n${SIZE - 1}\n`);
      const report = verifyLog({
        verifierKey: key.verifierKey,
        checkpoint: edited,
        entries: dump.entries.slice(0, -1),
      });
      expect(!report.ok && report.error.code).toBe('signature-invalid');
    });
  });
}
