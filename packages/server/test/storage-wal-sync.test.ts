import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import { openStorage, type Storage } from '../src/storage/storage.js';
import { WRITER_AUTOCHECKPOINT_PAGES } from '../src/storage/checkpointer.js';
import { WalSync } from '../src/storage/wal-sync.js';

// SQLite's writer runs synchronous=NORMAL; WalSync makes commits durable off the event loop (docs/ledger.md,
// "Durability on SQLite"). These tests pin what the rest of the code relies on.
describe('WalSync', () => {
  let dir: string;
  let storage: Storage;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-walsync-'));
    storage = await openStorage({ dataDir: dir });
  });

  afterEach(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the writer in WAL mode with synchronous=NORMAL', () => {
    expect(storage.sqlite!.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(storage.sqlite!.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
  });

  it('makes every Kysely commit and autocommitted write durable before it resolves, and no read', async () => {
    const sync = storage.walSync!;
    const before = sync.count();
    await storage.db.selectFrom('ledger_logs').selectAll().execute();
    expect(sync.count()).toBe(before);
    await storage.db.insertInto('ledger_logs').values({ org: 'a', created_at: 1 }).execute();
    expect(sync.count()).toBe(before + 1);
    await storage.db.transaction().execute(async (tx) => {
      await tx.insertInto('ledger_logs').values({ org: 'b', created_at: 1 }).execute();
      await tx.insertInto('ledger_logs').values({ org: 'c', created_at: 1 }).execute();
      expect(sync.count()).toBe(before + 1); // nothing is committed inside the transaction
    });
    expect(sync.count()).toBe(before + 2);
  });

  it('coalesces concurrent callers: one sync in flight, one more for everyone who arrived during it', async () => {
    const sync = storage.walSync!;
    await storage.db.insertInto('ledger_logs').values({ org: 'a', created_at: 1 }).execute();
    const before = sync.count();
    const first = sync.durable();
    const during = Array.from({ length: 50 }, () => sync.durable());
    // Everyone who arrived while the first sync ran shares one sync that starts after it.
    expect(new Set(during).size).toBe(1);
    await Promise.all([first, ...during]);
    expect(sync.count()).toBe(before + 2);
  });

  it('answers a group of appends after their sync, and a lone append after an inline one', async () => {
    const ledger = new LedgerStore(storage);
    const sync = storage.walSync!;
    await ledger.append('acme', { event: 'x', n: -1 }); // creates the log (a Kysely write)
    const lone = sync.count();
    await ledger.append('acme', { event: 'x', n: 0 });
    expect(sync.count()).toBe(lone + 1);
    const before = sync.count();
    const appended = await Promise.all(
      Array.from({ length: 300 }, (_, n) => ledger.append('acme', { event: 'x', n })),
    );
    expect(appended.map((s) => s.index)).toEqual(Array.from({ length: 300 }, (_, n) => n + 2));
    // Far fewer syncs than appends: batches share them.
    expect(sync.count() - before).toBeGreaterThan(0);
    expect(sync.count() - before).toBeLessThan(30);
    await ledger.close();
  });

  it('lets a ledger transaction take charge of its sync, and leaves no deferral behind', async () => {
    const ledger = new LedgerStore(storage);
    const sync = storage.walSync!;
    await ledger.append('acme', { event: 'x', n: -1 });
    let before = sync.count();
    await ledger.commit('acme', async (tx) => {
      await tx.insertInto('ledger_logs').values({ org: 'other', created_at: 1 }).execute();
      return { record: { event: 'x', n: 0 }, result: undefined };
    });
    expect(sync.count()).toBe(before + 1); // one sync: the ledger's, not the driver's too
    // A failing unit rolls its transaction back; the next plain write still waits for its own sync.
    await expect(
      ledger.commit('acme', async () => {
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    before = sync.count();
    await storage.db.insertInto('ledger_logs').values({ org: 'later', created_at: 1 }).execute();
    expect(sync.count()).toBe(before + 1);
    await ledger.close();
  });

  it('fails closed and for good when the log cannot be synced', async () => {
    // fdatasync(2) on a character device fails with EINVAL: a real failed sync, no stub.
    const broken = new WalSync('/dev/null');
    await expect(broken.durable()).rejects.toThrow('cannot sync the SQLite write-ahead log /dev/null');
    // Not retried: after a failed fsync nothing written since can be called durable.
    await expect(broken.durable()).rejects.toThrow('cannot sync');
    expect(() => broken.durableNow()).toThrow('cannot sync');
    await broken.close();
  });

  it('acknowledges no append whose sync failed, alone or in a group', async () => {
    await new LedgerStore(storage).append('acme', { event: 'x', n: -1 }); // the log exists
    const broken = new WalSync('/dev/null');
    const ledger = new LedgerStore({ ...storage, walSync: broken });
    await expect(ledger.append('acme', { event: 'x', n: 0 })).rejects.toMatchObject({
      code: 'ledger-unavailable',
    });
    const group = await Promise.allSettled(
      Array.from({ length: 20 }, (_, n) => ledger.append('acme', { event: 'x', n })),
    );
    expect(group.every((r) => r.status === 'rejected')).toBe(true);
    await ledger.close();
    await broken.close();
  });

  it('checkpoints on its own thread: the writer never does, yet the log reaches the database file', async () => {
    expect(storage.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(WRITER_AUTOCHECKPOINT_PAGES);
    const file = join(dir, 'vigil.db');
    const before = statSync(file).size;
    // ~4 MB through the log: without a checkpoint the database file would not grow at all.
    const ledger = new LedgerStore(storage);
    const blob = 'x'.repeat(4000);
    for (let n = 0; n < 1000; n += 100)
      await Promise.all(Array.from({ length: 100 }, (_, k) => ledger.append('acme', { n: n + k, blob })));
    await ledger.close();
    const deadline = Date.now() + 10_000;
    while (statSync(file).size < before + 2_000_000 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    expect(statSync(file).size).toBeGreaterThan(before + 2_000_000);
  });

  it('refuses a second server on the same SQLite database until the first has closed it', async () => {
    await expect(openStorage({ dataDir: dir })).rejects.toThrow(/in use by another Vigil server/);
    await storage.close();
    storage = await openStorage({ dataDir: dir });
    expect(storage.sqlite!.open).toBe(true);
  });

  it('closes in a process that has nothing else to do (the checkpointer thread holds it open while it stops)', async () => {
    // Once, close() waited for the unreferenced checkpointer thread to exit, and a script whose last work was
    // closing its storage ended there, with the close still pending (exit code 13 under a top-level await).
    const script = `
      import { openStorage } from ${JSON.stringify(join(import.meta.dirname, '../src/storage/storage.ts'))};
      const storage = await openStorage({ dataDir: process.env.DIR });
      await storage.close();
      console.log('closed');`;
    const child = spawnSync(
      process.execPath,
      ['--conditions=vigil-source', '--import', 'tsx', '--input-type=module', '-e', script],
      { env: { ...process.env, DIR: join(dir, 'child') }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('closed');
    expect(child.status).toBe(0);
  });

  it('treats a log that does not exist yet as nothing to sync', async () => {
    const fresh = new WalSync(join(dir, 'never-written.db-wal'));
    await expect(fresh.durable()).resolves.toBeUndefined();
    expect(() => fresh.durableNow()).not.toThrow();
    await fresh.close();
  });
});
