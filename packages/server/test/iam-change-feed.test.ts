import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IamChangeFeed, iamChannel, notifyIamChange } from '../src/iam/change-feed.js';
import { DecisionCache } from '../src/iam/decision-cache.js';
import { createIamService, type IamService } from '../src/iam/iam-service.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import type { Storage } from '../src/storage/storage.js';
import { POSTGRES_AVAILABLE, POSTGRES_URL, testDatabase, type TestDatabase } from './support/databases.js';

const CHEAP = { N: 1024, r: 8, p: 1 };
/** Short heartbeats, so that the tests wait little. */
const HEARTBEAT_MS = 50;

/** Polls `check` until it holds (or throws after `ms`). */
async function until(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

/** One server instance's identity service, with its own pools, cache and feed, on a shared database. */
interface Instance {
  storage: Storage;
  cache: DecisionCache;
  feed: IamChangeFeed;
  iam: IamService;
}

describe.skipIf(!POSTGRES_AVAILABLE)(
  'IAM decision cache on PostgreSQL (instances share the database)',
  () => {
    let db: TestDatabase;
    let a: Instance;
    let b: Instance;
    let token: string;

    async function instance(): Promise<Instance> {
      const storage = await db.open();
      const cache = new DecisionCache(storage.reader);
      const channel = iamChannel(db.schema!);
      const feed = new IamChangeFeed({
        connectionString: POSTGRES_URL,
        sessionOptions: `-c search_path=${db.schema}`,
        channel,
        cache,
        heartbeatMs: HEARTBEAT_MS,
      });
      await feed.start();
      const iam = createIamService({ scrypt: CHEAP, cache, notify: (e) => notifyIamChange(e, channel) });
      return { storage, cache, feed, iam };
    }

    beforeEach(async () => {
      db = testDatabase('postgres');
      a = await instance();
      b = await instance();
      await a.iam.createOrganization(a.storage.db, { login: 'acme' });
      await a.iam.createUser(a.storage.db, { login: 'bob', name: 'Bob' });
      await a.iam.addMember(a.storage.db, 'acme', 'bob', 'member');
      token = (await a.iam.createToken(a.storage.db, { kind: 'personal', user: 'bob', description: 't' }))
        .token;
      // Let the notifications of the changes above arrive (a few ms), so that none clears a cache mid-test.
      await new Promise((r) => setTimeout(r, 4 * HEARTBEAT_MS));
      await until(() => a.cache.serving() && b.cache.serving());
    });

    afterEach(async () => {
      for (const i of [a, b]) {
        await i.feed.stop();
        await i.storage.close();
      }
      await db.drop();
    });

    const authenticate = (i: Instance) =>
      i.iam.authenticateToken(i.storage.reader, token, { writer: i.storage.db });
    const permission = async (i: Instance) =>
      (await i.iam.access(i.storage.reader, await authenticate(i), 'acme', { project: 'app', env: 'prod' }))
        .permission;

    it('answers from memory while its feed is alive: a change made behind every service’s back is not read again', async () => {
      expect(await permission(b)).toBe('read');
      await sql`UPDATE iam_organizations SET default_environment_permission = 'none'`.execute(a.storage.db);
      expect(await permission(b)).toBe('read');
    });

    it('sees a change another instance makes, outside or inside a transaction, as soon as it commits', async () => {
      expect(await permission(b)).toBe('read');
      await a.iam.setMemberRole(a.storage.db, 'acme', 'bob', 'auditor');
      // Far sooner than the cache's 30 s lifetime: the notification cleared it.
      expect(await until(async () => (await permission(b)) === 'none', 5_000)).toBeLessThan(5_000);

      await a.iam.setMemberRole(a.storage.db, 'acme', 'bob', 'member');
      await until(async () => (await permission(b)) === 'read', 5_000);
      const ledger = new LedgerStore(a.storage, { onCommit: () => a.cache.committed() });
      await ledger.commit('acme', async (tx) => {
        await a.iam.updateOrganizationSettings(tx, 'acme', { defaultEnvironmentPermission: 'open' });
        // Not committed yet: the other instance reads, and keeps, the state before.
        expect(await permission(b)).toBe('read');
        return { record: { event: 'organization-settings-changed' }, result: undefined };
      });
      await ledger.close();
      await until(async () => (await permission(b)) === 'open', 5_000);

      const id = (await a.iam.listTokens(a.storage.reader, { kind: 'personal', user: 'bob' }))[0]!.id;
      await a.iam.revokeToken(a.storage.db, id);
      await until(
        () =>
          authenticate(b).then(
            () => false,
            (error: { code?: string }) => error.code === 'token-revoked',
          ),
        5_000,
      );
    });

    it('reads every decision from the database while its feed is down, and answers from memory again once it is back', async () => {
      expect(await permission(b)).toBe('read');
      const pid = b.feed.backendPid!;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.end();
      await until(() => !b.cache.serving(), 5_000);
      // Behind every service's back, so no notification: only a cache that does not answer sees it.
      await sql`UPDATE iam_organizations SET default_environment_permission = 'none'`.execute(a.storage.db);
      expect(await permission(b)).toBe('none');
      // Back: a new connection, the cache cleared, then answering from memory again.
      await until(() => b.cache.serving() && b.feed.backendPid !== undefined && b.feed.backendPid !== pid);
      expect(await permission(b)).toBe('none');
      await sql`UPDATE iam_organizations SET default_environment_permission = 'read'`.execute(a.storage.db);
      expect(await permission(b)).toBe('none');
    });
  },
);
