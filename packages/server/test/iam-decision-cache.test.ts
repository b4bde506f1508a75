import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecisionCache } from '../src/iam/decision-cache.js';
import { createIamService, IAM_READS, IAM_WRITES, type IamService } from '../src/iam/iam-service.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import type { Storage } from '../src/storage/storage.js';
import { testDatabase, type TestDatabase } from './support/databases.js';

const CHEAP = { N: 1024, r: 8, p: 1 };

describe('IAM decision cache (SQLite: this process is the only writer)', () => {
  let db: TestDatabase;
  let storage: Storage;
  let cache: DecisionCache;
  let iam: IamService;
  let token: string;

  beforeEach(async () => {
    db = testDatabase('sqlite');
    storage = await db.open();
    cache = new DecisionCache(storage.reader);
    iam = createIamService({ scrypt: CHEAP, cache });
    await iam.createOrganization(storage.db, { login: 'acme' });
    await iam.createUser(storage.db, { login: 'bob', name: 'Bob' });
    await iam.addMember(storage.db, 'acme', 'bob', 'member');
    await iam.createTeam(storage.db, 'acme', { name: 'devs' });
    await iam.addTeamMember(storage.db, 'acme', 'devs', 'bob');
    token = (await iam.createToken(storage.db, { kind: 'personal', user: 'bob', description: 't' })).token;
  });

  afterEach(async () => {
    await storage.close();
    await db.drop();
  });

  const authenticate = () => iam.authenticateToken(storage.reader, token, { writer: storage.db });
  const permission = async () =>
    (await iam.access(storage.reader, await authenticate(), 'acme', { project: 'app', env: 'prod' }))
      .permission;

  it('classifies every function of the service as a write or a read', () => {
    const service = Object.keys(createIamService()).sort();
    expect([...IAM_WRITES, ...IAM_READS].sort()).toEqual(service);
    expect(IAM_WRITES.filter((w) => (IAM_READS as readonly string[]).includes(w))).toEqual([]);
  });

  it('answers from memory: a change made behind the service’s back is not read again', async () => {
    expect(await permission()).toBe('read'); // the organization default
    await sql`UPDATE iam_organizations SET default_environment_permission = 'none'`.execute(storage.db);
    await sql`UPDATE iam_tokens SET revoked_at = 1`.execute(storage.db);
    expect(await permission()).toBe('read');
  });

  it('sees every change made through the service at once', async () => {
    expect(await permission()).toBe('read');
    await iam.grantTeamEnvironmentPermission(storage.db, 'acme', 'devs', {
      project: 'app',
      environment: 'prod',
      permission: 'open',
    });
    expect(await permission()).toBe('open');
    await iam.setMemberRole(storage.db, 'acme', 'bob', 'auditor');
    expect(await permission()).toBe('none');
    await iam.setMemberRole(storage.db, 'acme', 'bob', 'admin');
    expect(await permission()).toBe('admin');
    const id = (await iam.listTokens(storage.reader, { kind: 'personal', user: 'bob' }))[0]!.id;
    await iam.revokeToken(storage.db, id);
    await expect(authenticate()).rejects.toMatchObject({ code: 'token-revoked' });
  });

  it('forgets, at commit, what was read while a change inside a ledger transaction was not yet visible', async () => {
    const ledger = new LedgerStore(storage, { onCommit: () => cache.committed() });
    expect(await permission()).toBe('read');
    await ledger.commit('acme', async (tx) => {
      await iam.updateOrganizationSettings(tx, 'acme', { defaultEnvironmentPermission: 'none' });
      // Read (and cached) between the write and its commit: it still sees the old default.
      expect(await permission()).toBe('read');
      return { record: { event: 'organization-settings-changed' }, result: undefined };
    });
    expect(await permission()).toBe('none');
    await ledger.close();
  });

  it('drops a decision whose reading was overtaken by a change', () => {
    const generation = cache.begin();
    cache.changed();
    cache.storeDecision(generation, 'k', { role: 'admin', permission: 'admin' });
    expect(cache.decision('k')).toBeUndefined();
  });

  it('never caches inside a transaction, nor an unknown or revoked token', async () => {
    await storage.db.transaction().execute(async (tx) => {
      await iam.authenticateToken(tx, token);
    });
    await sql`UPDATE iam_tokens SET revoked_at = 1`.execute(storage.db);
    await expect(authenticate()).rejects.toMatchObject({ code: 'token-revoked' });
    await expect(authenticate()).rejects.toMatchObject({ code: 'token-revoked' });
  });
});
