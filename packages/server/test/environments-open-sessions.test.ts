import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecretBoxError, type CreateOpenSession, type EnvironmentStore } from '../src/environments/index.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, rawSql, type TestDatabase } from './support/databases.js';
import { codeOf, openEnvironmentStore } from './support/environments.js';

const SECRET = "shh! don't tell anyone 7f3a9c";
const HOUR = 60 * 60 * 1000;

for (const dialect of DIALECTS) {
  describe(`open sessions on ${dialect}`, () => {
    let db: TestDatabase;
    let close: () => Promise<void>;
    let storage: Storage;
    let store: EnvironmentStore;
    let clock: number;
    let session: CreateOpenSession;

    beforeAll(async () => {
      ({ db, storage, store, close } = await openEnvironmentStore(dialect, () => clock));
    });
    afterAll(() => close());
    beforeEach(() => {
      clock = 1_700_000_000_000;
      session = {
        org: 'acme',
        project: 'app',
        env: 'dev',
        revision: 3,
        values: { pulumiConfig: { foo: 'bar' }, my_secret: SECRET, list: [1, null, true] },
        expiresAt: clock + HOUR,
        openedBy: 'alice',
      };
    });

    it('returns the values until the session expires, then reports it expired until purged', async () => {
      const { id, expiresAt } = await store.createOpenSession(storage.db, session);
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(expiresAt).toBe(clock + HOUR);
      const opened = await store.getOpenSession(storage.reader, id);
      expect(opened).toEqual({
        org: 'acme',
        project: 'app',
        env: 'dev',
        revision: 3,
        values: session.values,
        openedBy: 'alice',
        created: clock,
        expiresAt: clock + HOUR,
      });
      clock += HOUR - 1;
      expect((await store.getOpenSession(storage.db, id)).revision).toBe(3);
      clock += 1;
      expect(await codeOf(store.getOpenSession(storage.db, id))).toBe('expired');
      expect(await store.purgeExpiredOpenSessions(storage.db)).toBeGreaterThanOrEqual(1);
      expect(await codeOf(store.getOpenSession(storage.db, id))).toBe('not-found');
    });

    it('purges only expired sessions', async () => {
      const short = await store.createOpenSession(storage.db, { ...session, expiresAt: clock + 1000 });
      const long = await store.createOpenSession(storage.db, { ...session, expiresAt: clock + HOUR });
      clock += 2000;
      await store.purgeExpiredOpenSessions(storage.db);
      expect(await codeOf(store.getOpenSession(storage.db, short.id))).toBe('not-found');
      expect((await store.getOpenSession(storage.db, long.id)).values).toEqual(session.values);
    });

    it('gives every session its own id, and refuses unknown, malformed or foreign ids', async () => {
      const a = await store.createOpenSession(storage.db, session);
      const b = await store.createOpenSession(storage.db, session);
      expect(a.id).not.toBe(b.id);
      for (const bad of [
        '',
        'x',
        `${a.id}x`,
        a.id.replace(/.$/, a.id.endsWith('A') ? 'B' : 'A'),
        '../../etc',
      ])
        expect(await codeOf(store.getOpenSession(storage.db, bad))).toBe('not-found');
      const scope = { org: 'acme', project: 'app', name: 'dev' };
      expect((await store.getOpenSession(storage.db, a.id, scope)).env).toBe('dev');
      expect(await codeOf(store.getOpenSession(storage.db, a.id, { ...scope, name: 'prod' }))).toBe(
        'not-found',
      );
      expect(await codeOf(store.getOpenSession(storage.db, a.id, { ...scope, org: 'globex' }))).toBe(
        'not-found',
      );
    });

    it('never stores the plaintext or the session id', async () => {
      const { id } = await store.createOpenSession(storage.db, session);
      const rows = await storage.db.selectFrom('environment_open_sessions').selectAll().execute();
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        const raw = Buffer.concat(
          Object.values(row).map((v) => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(String(v)))),
        );
        for (const needle of [SECRET, 'my_secret', 'pulumiConfig', id]) {
          expect(raw.includes(Buffer.from(needle))).toBe(false);
          expect(raw.toString('latin1')).not.toContain(Buffer.from(needle).toString('base64'));
          expect(raw.toString('latin1')).not.toContain(Buffer.from(needle).toString('hex'));
        }
      }
    });

    it('refuses sealed values that were tampered with or moved to another session row', async () => {
      const a = await store.createOpenSession(storage.db, session);
      const b = await store.createOpenSession(storage.db, { ...session, values: { other: 1 } });
      const hash = (id: string) =>
        import('node:crypto').then((c) => c.createHash('sha256').update(id).digest('hex'));
      // Move b's sealed values into a's row: the additional data binds them to b's id.
      await rawSql(db, [
        `UPDATE environment_open_sessions SET sealed = (SELECT sealed FROM environment_open_sessions WHERE id_hash = '${await hash(b.id)}') WHERE id_hash = '${await hash(a.id)}'`,
      ]);
      await expect(store.getOpenSession(storage.db, a.id)).rejects.toBeInstanceOf(SecretBoxError);
      // Re-scope b to another environment: refused as well.
      await rawSql(db, [
        `UPDATE environment_open_sessions SET env = 'prod' WHERE id_hash = '${await hash(b.id)}'`,
      ]);
      await expect(store.getOpenSession(storage.db, b.id)).rejects.toMatchObject({
        code: 'authentication-failed',
      });
    });

    it('refuses values that are not JSON', async () => {
      expect(await codeOf(store.createOpenSession(storage.db, { ...session, values: undefined }))).toBe(
        'invalid-argument',
      );
      expect(await codeOf(store.createOpenSession(storage.db, { ...session, org: 'x' }))).toBe(
        'invalid-name',
      );
    });
  });
}
