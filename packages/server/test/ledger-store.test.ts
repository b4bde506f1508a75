import {
  canonicalBytes,
  generateSignerKey,
  leafHash,
  openCheckpoint,
  rangeNodeIds,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from '@vigil/ledger';
import { CompiledQuery, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerStoreError } from '../src/ledger/errors.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import { CheckpointPublisher } from '../src/ledger/publisher.js';
import { LOCK_CLASS_PUBLISHER, nodesQuery, readNodes } from '../src/ledger/tree-store.js';
import { loadSigningKey, registerSigningKey, type CheckpointSigner } from '../src/ledger/signing-key.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, rawSql, testDatabase, type TestDatabase } from './support/databases.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const record = (org: string, n: number) => ({
  event: 'test-event',
  org,
  n,
  description: `record ${n} of ${org}`,
});

async function readAll(ledger: LedgerStore, org: string): Promise<Uint8Array[]> {
  const size = await ledger.size(org);
  const out: Uint8Array[] = [];
  for await (const e of ledger.entries(org, 0, size)) out.push(e.data);
  return out;
}

// The storage conformance suite: one set of behaviours, held to by every engine.
for (const dialect of DIALECTS) {
  describe(`ledger store on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;
    let ledger: LedgerStore;
    let signer: CheckpointSigner;
    let publisher: CheckpointPublisher;
    let verifierKey: string;

    beforeEach(async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      const key = generateSignerKey('vigil.test');
      signer = loadSigningKey({ signingKey: key.privateKey, dataDir: db.dataDir, name: 'vigil.test' });
      verifierKey = key.verifierKey;
      await registerSigningKey(storage, signer.verifierKey);
      publisher = new CheckpointPublisher({ storage, signer, originPrefix: 'vigil.test', intervalMs: 50 });
      ledger = new LedgerStore(storage, { onCommit: (ids) => publisher.markDirty(ids) });
    });

    afterEach(async () => {
      await ledger.close();
      await publisher.stop();
      await storage.close();
      await db.drop();
    });

    it('assigns dense indexes and stores the exact canonical bytes', async () => {
      for (let n = 0; n < 10; n++) {
        const s = await ledger.append('acme', record('acme', n));
        expect(s.index).toBe(n);
        expect(hex(s.leafHash)).toBe(hex(leafHash(canonicalBytes(record('acme', n)))));
      }
      const entries = await readAll(ledger, 'acme');
      expect(entries.map((e) => Buffer.from(e).toString())).toEqual(
        [...Array(10).keys()].map((n) => Buffer.from(canonicalBytes(record('acme', n))).toString()),
      );
    });

    it('keeps one dense log per organization under many concurrent appenders', async () => {
      const orgs = ['acme', 'globex', 'initech'];
      const results = await Promise.all(
        [...Array(1500).keys()].map((n) => ledger.append(orgs[n % 3]!, record(orgs[n % 3]!, n))),
      );
      for (const org of orgs) {
        const indexes = results.filter((r) => r.org === org).map((r) => r.index);
        expect(indexes.sort((a, b) => a - b)).toEqual([...Array(500).keys()]);
        const entries = await readAll(ledger, org);
        expect(entries).toHaveLength(500);
        expect(hex(treeRoot(entries.map(leafHash)))).toBe(hex(await ledger.rootAt(org, 500)));
      }
    });

    it('serves inclusion and consistency proofs for every tree size up to the integrated size', async () => {
      const n = 37;
      for (let i = 0; i < n; i++) await ledger.append('acme', record('acme', i));
      const leaves = (await readAll(ledger, 'acme')).map(leafHash);
      for (let size = 1; size <= n; size++) {
        const root = treeRoot(leaves.slice(0, size));
        expect(hex(await ledger.rootAt('acme', size))).toBe(hex(root));
        for (const index of [0, size - 1, Math.floor(size / 2)]) {
          const proof = await ledger.inclusionProof('acme', index, size);
          expect(hex(proof.leafHash)).toBe(hex(leaves[index]!));
          expect(() => verifyInclusion(index, size, proof.leafHash, proof.hashes, root)).not.toThrow();
        }
        for (const from of [1, Math.ceil(size / 3), size]) {
          if (from > size) continue;
          const proof = await ledger.consistencyProof('acme', from, size);
          const old = treeRoot(leaves.slice(0, from));
          expect(() => verifyConsistency(from, size, old, root, proof)).not.toThrow();
        }
      }
    });

    it('stores the leaves and the subtrees from level 4 up, and hashes the levels between from the leaves', async () => {
      for (let i = 0; i < 37; i++) await ledger.append('acme', record('acme', i));
      const logId = await ledger.existingLogId('acme');
      const levels = await storage.reader
        .selectFrom('ledger_hashes')
        .select(['level', (eb) => eb.fn.countAll<number>().as('n')])
        .where('log_id', '=', logId)
        .groupBy('level')
        .orderBy('level')
        .execute();
      // 37 leaves; 2 subtrees of 16, 1 of 32; nothing on levels 1–3.
      expect(levels.map((r) => [r.level, Number(r.n)])).toEqual([
        [0, 37],
        [4, 2],
        [5, 1],
      ]);
      const leaves = (await readAll(ledger, 'acme')).map(leafHash);
      const ids = [
        { level: 3, index: 3 },
        { level: 1, index: 17 },
        { level: 0, index: 36 },
        { level: 4, index: 1 },
      ];
      const found = await readNodes(storage.reader, logId, ids);
      for (const id of ids) {
        const width = 2 ** id.level;
        const expected = treeRoot(leaves.slice(id.index * width, (id.index + 1) * width));
        expect(hex(found.get(`${id.level}/${id.index}`)!), `${id.level}/${id.index}`).toBe(hex(expected));
      }
      // A leaf hash gone (an attacker with the triggers off): the node above it is missing, not guessed.
      const drop =
        dialect === 'sqlite'
          ? ['DROP TRIGGER ledger_hashes_no_delete']
          : ['ALTER TABLE ledger_hashes DISABLE TRIGGER ledger_hashes_no_rewrite'];
      await rawSql(db, [...drop, 'DELETE FROM ledger_hashes WHERE level = 0 AND idx = 35']);
      expect((await readNodes(storage.reader, logId, [{ level: 1, index: 17 }])).size).toBe(0);
      await expect(ledger.inclusionProof('acme', 32, 37)).rejects.toMatchObject({
        code: 'ledger-unavailable',
      });
    });

    it('reads the nodes of a proof through the primary key, not by scanning the log', async () => {
      for (let n = 0; n < 300; n++) await ledger.append('acme', record('acme', n));
      const logId = await ledger.existingLogId('acme');
      const ids = rangeNodeIds(0, 299);
      const query = nodesQuery(storage.reader, logId, ids);
      const found = await readNodes(storage.reader, logId, ids);
      expect(found.size).toBe(ids.length);
      if (dialect === 'sqlite') {
        // Once this spelling was an OR of pairs, which SQLite ran as a scan of every hash of the log: 8 ms per
        // proof at 20,000 entries, on the event loop, and growing with the log.
        const plan = await storage.reader.executeQuery(
          CompiledQuery.raw(`EXPLAIN QUERY PLAN ${query.sql}`, [...query.parameters]) as CompiledQuery<{
            detail: string;
          }>,
        );
        expect(plan.rows.map((r) => r.detail).join('\n')).toMatch(
          /SEARCH ledger_hashes USING PRIMARY KEY \(log_id=\? AND level=\? AND idx=\?\)/,
        );
      }
    });

    it('rejects ranges beyond the log with out-of-range, and unknown organizations with log-not-found', async () => {
      await ledger.append('acme', record('acme', 0));
      await expect(ledger.inclusionProof('acme', 0, 2)).rejects.toMatchObject({
        code: 'out-of-range',
        param: 'treeSize',
      });
      await expect(ledger.inclusionProof('acme', 1, 1)).rejects.toMatchObject({
        code: 'out-of-range',
        param: 'index',
      });
      await expect(ledger.consistencyProof('acme', 0, 5)).rejects.toMatchObject({
        code: 'out-of-range',
        param: 'to',
      });
      await expect(ledger.entries('acme', 0, 2).next()).rejects.toMatchObject({
        code: 'out-of-range',
        param: 'end',
      });
      await expect(ledger.size('nobody')).rejects.toMatchObject({ code: 'log-not-found' });
    });

    it('commits work and its record together, and a failing unit leaves no trace while its batch-mates commit', async () => {
      await sql`CREATE TABLE notes (id integer primary key, body text not null)`.execute(storage.db);
      const outcomes = await Promise.allSettled(
        [...Array(20).keys()].map((n) =>
          ledger.commit('acme', async (tx) => {
            await sql`INSERT INTO notes (id, body) VALUES (${n}, ${`note ${n}`})`.execute(tx);
            if (n % 5 === 3) throw new Error(`unit ${n} fails after writing`);
            return { record: record('acme', n), result: n * 10 };
          }),
        ),
      );
      const failed = outcomes.flatMap((o, n) => (o.status === 'rejected' ? [n] : []));
      expect(failed).toEqual([3, 8, 13, 18]);
      const { rows } = await sql<{ id: number }>`SELECT id FROM notes ORDER BY id`.execute(storage.db);
      expect(rows.map((r) => r.id)).toEqual([...Array(20).keys()].filter((n) => n % 5 !== 3));
      const entries = (await readAll(ledger, 'acme')).map((e) => JSON.parse(Buffer.from(e).toString()).n);
      expect(entries.sort((a, b) => a - b)).toEqual(rows.map((r) => r.id));
      const fulfilled = outcomes.find((o) => o.status === 'fulfilled');
      expect(fulfilled?.status === 'fulfilled' && fulfilled.value.result).toBe(0);
    });

    it('refuses records that are not canonical JSON objects without sequencing them', async () => {
      await expect(ledger.append('acme', { bad: Number.NaN })).rejects.toMatchObject({
        code: 'record-invalid',
      });
      await ledger.append('acme', record('acme', 0));
      expect(await ledger.size('acme')).toBe(1);
    });

    it('fails closed: when the database refuses the write, every caller in the batch is told and nothing is half-written', async () => {
      await ledger.append('acme', record('acme', 0));
      await rawSql(db, ['ALTER TABLE ledger_hashes RENAME TO ledger_hashes_away']);
      const failures = await Promise.allSettled(
        [1, 2, 3].map((n) => ledger.append('acme', record('acme', n))),
      );
      for (const f of failures) {
        expect(f.status).toBe('rejected');
        expect((f as PromiseRejectedResult).reason).toBeInstanceOf(LedgerStoreError);
        expect((f as PromiseRejectedResult).reason.code).toBe('ledger-unavailable');
      }
      await rawSql(db, ['ALTER TABLE ledger_hashes_away RENAME TO ledger_hashes']);
      expect(await ledger.size('acme')).toBe(1);
      expect((await ledger.append('acme', record('acme', 4))).index).toBe(1);
    });

    it('refuses UPDATE and DELETE of history in the database itself', async () => {
      await ledger.append('acme', record('acme', 0));
      await publisher.publishAll();
      for (const statement of [
        `UPDATE ledger_entries SET data = data WHERE idx = 0`,
        `DELETE FROM ledger_entries WHERE idx = 0`,
        `UPDATE ledger_hashes SET hash = hash`,
        `DELETE FROM ledger_hashes`,
        `DELETE FROM ledger_checkpoints`,
        `UPDATE ledger_logs SET org = 'other'`,
        `DELETE FROM ledger_signing_keys`,
      ]) {
        await expect(rawSql(db, [statement]), statement).rejects.toThrow(/append-only/);
      }
      if (dialect === 'postgres') {
        await expect(rawSql(db, ['TRUNCATE ledger_entries CASCADE'])).rejects.toThrow(/append-only/);
      }
      expect(await ledger.size('acme')).toBe(1);
    });

    it('signs checkpoints that open with the verifier key and commit to the stored root', async () => {
      for (let n = 0; n < 5; n++) await ledger.append('acme', record('acme', n));
      const [published] = await publisher.publishAll();
      expect(published?.size).toBe(5);
      const cp = openCheckpoint(published!.note, verifierKey, 'vigil.test/acme');
      expect(cp.size).toBe(5);
      expect(hex(cp.root)).toBe(hex(await ledger.rootAt('acme', 5)));
      expect((await ledger.latestCheckpoint('acme'))?.note).toBe(published!.note);
      // Nothing new: nothing to sign.
      expect(await publisher.publishAll()).toEqual([]);
      for (let n = 5; n < 9; n++) await ledger.append('acme', record('acme', n));
      await publisher.publishAll();
      expect((await ledger.checkpoints('acme')).map((c) => c.size)).toEqual([5, 9]);
    });

    it('publishes every appended entry within a second on its own', async () => {
      publisher.start();
      const appended = Date.now();
      await ledger.append('acme', record('acme', 0));
      let latest;
      while (!(latest = await ledger.latestCheckpoint('acme')) && Date.now() - appended < 1000) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(latest?.size).toBe(1);
    });

    if (dialect === 'postgres')
      it('publishAll covers the size it was called at, even while another publisher holds the log', async () => {
        for (let n = 0; n < 3; n++) await ledger.append('acme', record('acme', n));
        await publisher.publishAll();
        // Another publisher — the timer, or another process — took the log before the next entries committed.
        const other = await storage.pool!.connect();
        const logId = await ledger.existingLogId('acme');
        await other.query('BEGIN');
        await other.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS_PUBLISHER, logId]);
        for (let n = 3; n < 5; n++) await ledger.append('acme', record('acme', n));
        const publishing = publisher.publishAll();
        let returned = false;
        void publishing.finally(() => (returned = true));
        // Hold the log until publishAll either waits for it or gives up on it.
        const deadline = Date.now() + 10_000;
        for (;;) {
          const { rows } = await other.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = $2`,
            [LOCK_CLASS_PUBLISHER, logId],
          );
          if (returned || rows[0]!.n > 0 || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await other.query('COMMIT');
        other.release();
        // Once, publishAll left the log to the other publisher and returned with size 3 the latest checkpoint.
        expect((await publishing).map((c) => c.size)).toEqual([5]);
        expect((await ledger.latestCheckpoint('acme'))?.size).toBe(5);
      });

    it('refuses to sign a checkpoint when the stored tree contradicts the last one it signed', async () => {
      for (let n = 0; n < 4; n++) await ledger.append('acme', record('acme', n));
      await publisher.publishAll();
      const drop =
        dialect === 'sqlite'
          ? ['DROP TRIGGER ledger_hashes_no_update']
          : ['ALTER TABLE ledger_hashes DISABLE TRIGGER ledger_hashes_no_rewrite'];
      // An attacker rewrites the stored hash of leaf 0 (under the signed root of size 4), then the log grows.
      const forged = dialect === 'sqlite' ? `x'${'00'.repeat(32)}'` : `'\\x${'00'.repeat(32)}'`;
      await rawSql(db, [...drop, `UPDATE ledger_hashes SET hash = ${forged} WHERE level = 0 AND idx = 0`]);
      await ledger.append('acme', record('acme', 4));
      await expect(publisher.publishAll()).rejects.toMatchObject({ code: 'checkpoint-refused' });
      expect((await ledger.checkpoints('acme')).map((c) => c.size)).toEqual([4]);
      expect(publisher.refusals().size).toBe(1);
    });

    it('continues the same tree after a restart', async () => {
      for (let n = 0; n < 11; n++) await ledger.append('acme', record('acme', n));
      await ledger.close();
      await storage.close();
      storage = await db.open();
      ledger = new LedgerStore(storage);
      for (let n = 11; n < 20; n++) expect((await ledger.append('acme', record('acme', n))).index).toBe(n);
      const entries = await readAll(ledger, 'acme');
      expect(hex(treeRoot(entries.map(leafHash)))).toBe(hex(await ledger.rootAt('acme', 20)));
      publisher = new CheckpointPublisher({ storage, signer, originPrefix: 'vigil.test', intervalMs: 50 });
    });

    it('pushes back instead of queueing without bound', async () => {
      const small = new LedgerStore(storage, { maxPending: 5 });
      const attempts = await Promise.allSettled(
        [...Array(40).keys()].map((n) => small.append('acme', record('acme', n))),
      );
      const refused = attempts.filter((a) => a.status === 'rejected');
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) expect((r as PromiseRejectedResult).reason.code).toBe('ledger-overloaded');
      await small.close();
      expect(await small.size('acme')).toBe(40 - refused.length);
    });
  });
}
