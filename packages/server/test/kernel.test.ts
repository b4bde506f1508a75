import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessDenied, Kernel, UndeclaredEventError, type RequestContext } from '../src/kernel/kernel.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, rawSql, testDatabase, type TestDatabase } from './support/databases.js';

const ctx: RequestContext = {
  actor: {
    kind: 'token',
    login: 'alice',
    name: 'Alice',
    tokenId: 'tok_1',
    tokenName: 'ci',
    tokenKind: 'personal',
  },
  sourceIP: '203.0.113.7',
  userAgent: 'esc-sdk/0.12.4',
  requestId: 'req-1',
  declared: ['environment-updated', 'environment-open'],
};

for (const dialect of DIALECTS) {
  describe(`the kernel on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;
    let ledger: LedgerStore;
    let kernel: Kernel;

    const records = async () => {
      const size = await ledger.size('acme').catch(() => 0);
      const out = [];
      for await (const e of ledger.entries('acme', 0, size))
        out.push(JSON.parse(Buffer.from(e.data).toString()));
      return out;
    };
    const notes = async () =>
      (await sql<{ body: string }>`SELECT body FROM notes ORDER BY body`.execute(storage.db)).rows.map(
        (r) => r.body,
      );

    beforeEach(async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      await sql`CREATE TABLE notes (body text not null)`.execute(storage.db);
      ledger = new LedgerStore(storage);
      kernel = new Kernel(ledger, () => 1764000000123);
    });
    afterEach(async () => {
      await ledger.close();
      await storage.close();
      await db.drop();
    });

    it('commits the change and its record together, and answers with the result', async () => {
      const result = await kernel.perform(ctx, {
        org: 'acme',
        event: 'environment-updated',
        resource: { project: 'app', environment: 'prod' },
        authorize: async () => undefined,
        run: async (tx) => {
          await sql`INSERT INTO notes (body) VALUES ('changed')`.execute(tx);
          return {
            result: 42,
            description: 'Updated environment "app/prod" to revision 2',
            resource: { project: 'app', environment: 'prod', revision: 2 },
          };
        },
      });
      expect(result).toBe(42);
      expect(await notes()).toEqual(['changed']);
      expect(await records()).toEqual([
        {
          v: 1,
          time: 1764000000123,
          org: 'acme',
          event: 'environment-updated',
          description: 'Updated environment "app/prod" to revision 2',
          actor: ctx.actor,
          sourceIP: '203.0.113.7',
          userAgent: 'esc-sdk/0.12.4',
          requestId: 'req-1',
          resource: { project: 'app', environment: 'prod', revision: 2 },
          outcome: 'success',
        },
      ]);
    });

    it('records a refused attempt durably before refusing, and never runs the operation', async () => {
      let ran = false;
      const attempt = kernel.perform(ctx, {
        org: 'acme',
        event: 'environment-open',
        resource: { project: 'app', environment: 'prod' },
        authorize: async () => ({
          event: 'environment-unauthorized-open',
          description: 'alice may not open "app/prod"',
        }),
        run: async () => {
          ran = true;
          return { result: 'secret', description: 'x' };
        },
      });
      await expect(attempt).rejects.toBeInstanceOf(AccessDenied);
      expect(ran).toBe(false);
      const [record] = await records();
      expect(record).toMatchObject({
        event: 'environment-unauthorized-open',
        outcome: 'denied',
        resource: { project: 'app' },
      });
      expect(record.authFailure).toBeUndefined(); // Pulumi's catalog: unauthorized-open is not flagged as auth failure

      await expect(
        kernel.perform(ctx, {
          org: 'acme',
          event: 'environment-updated',
          authorize: async () => ({ event: 'auth-failure-environment', description: 'no write permission' }),
          run: async () => ({ result: 1, description: 'x' }),
        }),
      ).rejects.toBeInstanceOf(AccessDenied);
      expect((await records())[1]).toMatchObject({
        event: 'auth-failure-environment',
        authFailure: true,
        outcome: 'denied',
      });
    });

    it('leaves no record and no change when the operation fails', async () => {
      await expect(
        kernel.perform(ctx, {
          org: 'acme',
          event: 'environment-updated',
          authorize: async () => undefined,
          run: async (tx) => {
            await sql`INSERT INTO notes (body) VALUES ('half-written')`.execute(tx);
            throw new Error('conflict');
          },
        }),
      ).rejects.toThrow('conflict');
      expect(await notes()).toEqual([]);
      expect(await records()).toEqual([]);
    });

    it('refuses to record an event the route did not declare', async () => {
      await expect(
        kernel.perform(ctx, {
          org: 'acme',
          event: 'environment-deleted',
          authorize: async () => undefined,
          run: async (tx) => {
            await sql`INSERT INTO notes (body) VALUES ('deleted')`.execute(tx);
            return { result: 1, description: 'Deleted' };
          },
        }),
      ).rejects.toBeInstanceOf(UndeclaredEventError);
      expect(await notes()).toEqual([]);
    });

    it('fails closed: if the ledger cannot write, nothing happens and nothing prepared is revealed', async () => {
      await ledger.append('acme', { event: 'warm-up' });
      await rawSql(db, ['ALTER TABLE ledger_entries RENAME TO ledger_entries_gone']);
      const attempt = kernel.perform(ctx, {
        org: 'acme',
        event: 'environment-open',
        authorize: async () => undefined,
        prepare: async () => 'the plaintext secret',
        run: async (tx, secret) => {
          await sql`INSERT INTO notes (body) VALUES ('session')`.execute(tx);
          return { result: secret, description: 'Opened environment "app/prod"' };
        },
      });
      await expect(attempt).rejects.toMatchObject({ code: 'ledger-unavailable' });
      await rawSql(db, ['ALTER TABLE ledger_entries_gone RENAME TO ledger_entries']);
      expect(await notes()).toEqual([]);
    });
  });
}
