import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrap } from '../src/iam/bootstrap.js';
import { createIamService } from '../src/iam/iam-service.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, POSTGRES_AVAILABLE, testDatabase, type TestDatabase } from './support/databases.js';

const CHEAP = { N: 1024, r: 8, p: 1 };
const iam = createIamService({ scrypt: CHEAP });

async function counts(storage: Storage) {
  const count = async (table: 'iam_organizations' | 'iam_users' | 'iam_members' | 'iam_tokens') =>
    (await storage.db.selectFrom(table).selectAll().execute()).length;
  return {
    orgs: await count('iam_organizations'),
    users: await count('iam_users'),
    members: await count('iam_members'),
    tokens: await count('iam_tokens'),
  };
}

for (const dialect of DIALECTS) {
  describe(`bootstrap on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;

    beforeEach(async () => {
      db = testDatabase(dialect);
      storage = await db.open();
    });

    afterEach(async () => {
      await storage.close();
      await db.drop();
    });

    it('creates the organization, an admin with a password, and a generated token, once', async () => {
      const result = await bootstrap(storage.db, { org: 'acme', scrypt: CHEAP });
      expect(result).toMatchObject({ created: true, org: 'acme', adminLogin: 'admin' });
      if (!result.created) throw new Error('unreachable');
      expect(result.token).toMatch(/^vgl_pat_/);
      const principal = await iam.authenticateToken(storage.db, result.token!);
      expect(principal).toMatchObject({
        kind: 'token',
        user: { login: 'admin' },
        token: { id: result.tokenId },
      });
      expect(await iam.orgRole(storage.db, principal, 'acme')).toBe('admin');
      expect((await iam.verifyPassword(storage.db, 'admin', result.password)).login).toBe('admin');

      expect(await bootstrap(storage.db, { org: 'acme', scrypt: CHEAP })).toEqual({ created: false });
      expect(await bootstrap(storage.db, { org: 'globex', token: 'x'.repeat(40), scrypt: CHEAP })).toEqual({
        created: false,
      });
      expect(await counts(storage)).toEqual({ orgs: 1, users: 1, members: 1, tokens: 1 });
    });

    it('uses the supplied token and does not echo it back', async () => {
      const supplied = 'automation-token-0123456789abcdef';
      const result = await bootstrap(storage.db, {
        org: 'initech',
        token: supplied,
        adminLogin: 'ops',
        scrypt: CHEAP,
      });
      expect(result).toMatchObject({ created: true, org: 'initech', adminLogin: 'ops' });
      expect(result).not.toHaveProperty('token');
      expect(JSON.stringify(result)).not.toContain(supplied);
      const principal = await iam.authenticateToken(storage.db, supplied);
      expect(await iam.orgRole(storage.db, principal, 'initech')).toBe('admin');
      expect(await iam.listTokens(storage.db, { kind: 'personal', user: 'ops' })).toEqual([
        expect.objectContaining({ description: 'bootstrap' }),
      ]);
    });

    it('creates nothing when validation fails (one transaction)', async () => {
      await expect(
        bootstrap(storage.db, { org: 'acme', token: 'short', scrypt: CHEAP }),
      ).rejects.toMatchObject({
        code: 'invalid-argument',
      });
      await expect(bootstrap(storage.db, { org: 'a' })).rejects.toMatchObject({ code: 'invalid-name' });
      expect(await counts(storage)).toEqual({ orgs: 0, users: 0, members: 0, tokens: 0 });
    });

    it('creates exactly once when started several times at once', async () => {
      const results = await Promise.all(
        [1, 2, 3].map(() => bootstrap(storage.db, { org: 'acme', scrypt: CHEAP })),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await counts(storage)).toEqual({ orgs: 1, users: 1, members: 1, tokens: 1 });
    });
  });
}

describe.skipIf(!POSTGRES_AVAILABLE)('bootstrap from two PostgreSQL connections at once', () => {
  it('ends with one organization and one admin', async () => {
    const db = testDatabase('postgres');
    try {
      await (await db.open()).close(); // migrate once
      const [a, b] = [await db.open(), await db.open()];
      try {
        for (let round = 0; round < 3; round++) {
          const results = await Promise.all([
            bootstrap(a.db, { org: 'acme', scrypt: CHEAP }),
            bootstrap(b.db, { org: 'globex', scrypt: CHEAP }),
            bootstrap(a.db, { org: 'acme', scrypt: CHEAP }),
            bootstrap(b.db, { org: 'acme', scrypt: CHEAP }),
          ]);
          expect(results.filter((r) => r.created)).toHaveLength(round === 0 ? 1 : 0);
        }
        expect(await counts(a)).toEqual({ orgs: 1, users: 1, members: 1, tokens: 1 });
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      await db.drop();
    }
  });
});
