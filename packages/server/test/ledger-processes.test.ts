import { leafHash, treeRoot } from '@vigil/ledger';
import { describe, expect, it } from 'vitest';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import { DIALECTS, POSTGRES_AVAILABLE, testDatabase, type TestDatabase } from './support/databases.js';
import { startWorker } from './support/workers.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function storedLog(db: TestDatabase, org: string) {
  const storage = await db.open();
  const ledger = new LedgerStore(storage);
  const size = await ledger.size(org);
  const entries: Array<{ index: number; data: Uint8Array }> = [];
  for await (const e of ledger.entries(org, 0, size)) entries.push(e);
  const root = await ledger.rootAt(org, size);
  return { storage, ledger, size, entries, root };
}

describe.skipIf(!POSTGRES_AVAILABLE)('several server processes on one PostgreSQL database', () => {
  it('produce one dense, gap-free log whose root verifies', async () => {
    const db = testDatabase('postgres');
    try {
      await (await db.open()).close(); // migrate once, up front
      const workers = ['a', 'b'].map((name) => startWorker(db, { name, count: 1500, concurrency: 24 }));
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
      const log = await storedLog(db, 'acme');
      try {
        expect(log.size).toBe(3000);
        expect(log.entries.map((e) => e.index)).toEqual([...Array(3000).keys()]);
        // Every acknowledged append holds its own index, and the two processes never shared one.
        const [a, b] = workers.map((w) => w.acks);
        expect(a!.size + b!.size).toBe(3000);
        for (const [index, hash] of [...a!, ...b!]) {
          expect(hex(leafHash(log.entries[index]!.data))).toBe(hash);
        }
        const byWorker = new Set(log.entries.map((e) => JSON.parse(Buffer.from(e.data).toString()).worker));
        expect(byWorker).toEqual(new Set(['a', 'b']));
        expect(hex(treeRoot(log.entries.map((e) => leafHash(e.data))))).toBe(hex(log.root));
      } finally {
        await log.storage.close();
      }
    } finally {
      await db.drop();
    }
  });
});

for (const dialect of DIALECTS) {
  describe(`crash on ${dialect}`, () => {
    it('kill -9 under load loses nothing acknowledged, and the tree verifies and grows on', async () => {
      const db = testDatabase(dialect);
      try {
        await (await db.open()).close();
        const worker = startWorker(db, { name: 'victim', concurrency: 32 });
        const started = Date.now();
        while (worker.acks.size < 400 && Date.now() - started < 20_000)
          await new Promise((r) => setTimeout(r, 5));
        worker.child.kill('SIGKILL');
        expect(await worker.exited).toBe(null);
        expect(worker.acks.size).toBeGreaterThanOrEqual(400);

        const log = await storedLog(db, 'acme');
        try {
          expect(log.entries.map((e) => e.index)).toEqual([...Array(log.size).keys()]);
          for (const [index, hash] of worker.acks) {
            expect(index).toBeLessThan(log.size);
            expect(hex(leafHash(log.entries[index]!.data))).toBe(hash);
          }
          expect(hex(treeRoot(log.entries.map((e) => leafHash(e.data))))).toBe(hex(log.root));
          const next = await log.ledger.append('acme', { event: 'after-crash' });
          expect(next.index).toBe(log.size);
          const entries: Uint8Array[] = [];
          for await (const e of log.ledger.entries('acme', 0, log.size + 1)) entries.push(e.data);
          expect(hex(treeRoot(entries.map(leafHash)))).toBe(
            hex(await log.ledger.rootAt('acme', log.size + 1)),
          );
        } finally {
          await log.ledger.close();
          await log.storage.close();
        }
      } finally {
        await db.drop();
      }
    });
  });
}
