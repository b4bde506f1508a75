import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IamError, type IamErrorCode } from '../src/iam/errors.js';
import { createIamService, LAST_USED_RESOLUTION_MS, type IamService } from '../src/iam/iam-service.js';
import { hashPassword } from '../src/iam/passwords.js';
import { tokenHash } from '../src/iam/token-text.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';

/** Cheap scrypt for speed; the cost is read back from each stored hash, so verification is the same code. */
const CHEAP = { N: 1024, r: 8, p: 1 };
const T0 = 1_700_000_000_000;
const PASSWORD = 'correct horse battery';

async function rejects(promise: Promise<unknown>, code: IamErrorCode): Promise<IamError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected IamError ${code}`).toBeInstanceOf(IamError);
  expect((error as IamError).code).toBe(code);
  return error as IamError;
}

const IAM_TABLES = [
  'iam_organizations',
  'iam_users',
  'iam_members',
  'iam_teams',
  'iam_team_members',
  'iam_team_grants',
  'iam_tokens',
] as const;

/** Every IAM row as text, byte columns both as hex and as UTF-8: what a database dump would reveal. */
async function dumpIamTables(storage: Storage): Promise<string> {
  const parts: string[] = [];
  for (const table of IAM_TABLES) {
    const rows = await storage.db.selectFrom(table).selectAll().execute();
    for (const row of rows)
      for (const value of Object.values(row))
        parts.push(
          value instanceof Uint8Array
            ? `${Buffer.from(value).toString('hex')} ${Buffer.from(value)}`
            : String(value),
        );
  }
  return parts.join('\n');
}

for (const dialect of DIALECTS) {
  describe(`iam on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;
    let iam: IamService;
    let clock: number;

    beforeEach(async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      clock = T0;
      iam = createIamService({ now: () => clock, scrypt: CHEAP });
    });

    afterEach(async () => {
      await storage.close();
      await db.drop();
    });

    describe('organizations and users', () => {
      it('creates an organization with the read default and finds it case-insensitively', async () => {
        const org = await iam.createOrganization(storage.db, { login: 'Acme-Corp' });
        expect(org).toMatchObject({
          login: 'Acme-Corp',
          name: 'Acme-Corp',
          defaultEnvironmentPermission: 'read',
        });
        expect(org.createdAt).toBe(T0);
        expect((await iam.getOrganization(storage.db, 'acme-corp')).id).toBe(org.id);
        await rejects(iam.createOrganization(storage.db, { login: 'ACME-CORP' }), 'already-exists');
        await rejects(iam.getOrganization(storage.db, 'globex'), 'not-found');
        await rejects(iam.createOrganization(storage.db, { login: 'a!' }), 'invalid-name');
      });

      it('updates the default environment permission and refuses unknown ones', async () => {
        await iam.createOrganization(storage.db, { login: 'acme' });
        clock += 5;
        const org = await iam.updateOrganizationSettings(storage.db, 'acme', {
          defaultEnvironmentPermission: 'none',
        });
        expect(org).toMatchObject({ defaultEnvironmentPermission: 'none', updatedAt: T0 + 5 });
        await rejects(
          iam.updateOrganizationSettings(storage.db, 'acme', {
            defaultEnvironmentPermission: 'root' as never,
          }),
          'invalid-argument',
        );
      });

      it('creates users, refuses duplicates whatever their case, and validates input', async () => {
        const user = await iam.createUser(storage.db, {
          login: 'alice',
          name: 'Alice Liddell',
          email: 'alice@example.com',
          avatarUrl: 'https://example.com/a.png',
        });
        expect(user).toMatchObject({
          login: 'alice',
          name: 'Alice Liddell',
          email: 'alice@example.com',
          hasPassword: false,
        });
        expect((await iam.getUserByLogin(storage.db, 'ALICE')).id).toBe(user.id);
        await rejects(iam.createUser(storage.db, { login: 'Alice' }), 'already-exists');
        await rejects(
          iam.createUser(storage.db, { login: 'bob', email: 'not-an-address' }),
          'invalid-argument',
        );
        await rejects(
          iam.createUser(storage.db, { login: 'bob', avatarUrl: 'javascript:alert(1)' }),
          'invalid-argument',
        );
        await rejects(iam.createUser(storage.db, { login: 'bob', password: 'short' }), 'invalid-password');
        await rejects(iam.createUser(storage.db, { login: 'bob-' }), 'invalid-name');
      });
    });

    describe('passwords', () => {
      it('verifies the right password and stores only a scrypt hash', async () => {
        await iam.createUser(storage.db, { login: 'alice', password: PASSWORD });
        const user = await iam.verifyPassword(storage.db, 'Alice', PASSWORD);
        expect(user).toMatchObject({ login: 'alice', hasPassword: true });
        const row = await storage.db
          .selectFrom('iam_users')
          .select('password_hash')
          .executeTakeFirstOrThrow();
        expect(row.password_hash).toMatch(/^scrypt\$1024\$8\$1\$/);
        expect(await dumpIamTables(storage)).not.toContain(PASSWORD);
      });

      it('answers invalid-credentials alike for a wrong password, an unknown user and a user without a password', async () => {
        await iam.createUser(storage.db, { login: 'alice', password: PASSWORD });
        await iam.createUser(storage.db, { login: 'sso-only' });
        const errors = [
          await rejects(iam.verifyPassword(storage.db, 'alice', 'wrong password!!'), 'invalid-credentials'),
          await rejects(iam.verifyPassword(storage.db, 'nobody', PASSWORD), 'invalid-credentials'),
          await rejects(iam.verifyPassword(storage.db, 'sso-only', PASSWORD), 'invalid-credentials'),
          await rejects(iam.verifyPassword(storage.db, '!!bad login!!', PASSWORD), 'invalid-credentials'),
        ];
        expect(new Set(errors.map((e) => e.message)).size).toBe(1);
        for (const e of errors) expect(e.message).not.toContain(PASSWORD);
      });

      it('accepts older hashes of another cost (the cost travels with the hash)', async () => {
        await iam.createUser(storage.db, { login: 'alice' });
        const old = await hashPassword(PASSWORD, { N: 2048, r: 4, p: 1 });
        await storage.db.updateTable('iam_users').set({ password_hash: old }).execute();
        expect((await iam.verifyPassword(storage.db, 'alice', PASSWORD)).login).toBe('alice');
      });

      it('setPassword replaces the password and ends the user’s sessions', async () => {
        const alice = await iam.createUser(storage.db, { login: 'alice', password: PASSWORD });
        const session = await iam.createSession(storage.db, alice.id, 60_000);
        await iam.setPassword(storage.db, 'alice', 'a brand new password');
        await rejects(iam.verifyPassword(storage.db, 'alice', PASSWORD), 'invalid-credentials');
        await iam.verifyPassword(storage.db, 'alice', 'a brand new password');
        await rejects(iam.authenticateToken(storage.db, session.token), 'token-revoked');
        await rejects(iam.setPassword(storage.db, 'alice', 'short'), 'invalid-password');
        await rejects(iam.setPassword(storage.db, 'nobody', 'long enough password'), 'not-found');
      });
    });

    describe('members', () => {
      beforeEach(async () => {
        await iam.createOrganization(storage.db, { login: 'acme' });
        for (const login of ['alice', 'bob', 'carol']) await iam.createUser(storage.db, { login });
        await iam.addMember(storage.db, 'acme', 'alice', 'admin');
        await iam.addMember(storage.db, 'acme', 'bob');
      });

      it('adds members with roles and lists them by login', async () => {
        await iam.addMember(storage.db, 'acme', 'carol', 'auditor');
        const members = await iam.listMembers(storage.db, 'acme');
        expect(members.map((m) => [m.user.login, m.role])).toEqual([
          ['alice', 'admin'],
          ['bob', 'member'],
          ['carol', 'auditor'],
        ]);
        await rejects(iam.addMember(storage.db, 'acme', 'bob'), 'already-exists');
        await rejects(iam.addMember(storage.db, 'acme', 'dave'), 'not-found');
        await rejects(iam.addMember(storage.db, 'acme', 'carol', 'owner' as never), 'invalid-argument');
      });

      it('changes roles and reports the previous one', async () => {
        expect(await iam.setMemberRole(storage.db, 'acme', 'bob', 'admin')).toEqual({
          role: 'admin',
          previousRole: 'member',
        });
        expect(await iam.setMemberRole(storage.db, 'acme', 'alice', 'auditor')).toEqual({
          role: 'auditor',
          previousRole: 'admin',
        });
        await rejects(iam.setMemberRole(storage.db, 'acme', 'carol', 'member'), 'not-found');
      });

      it('refuses to demote or remove the last admin', async () => {
        await rejects(iam.setMemberRole(storage.db, 'acme', 'alice', 'member'), 'last-admin');
        await rejects(iam.removeMember(storage.db, 'acme', 'alice'), 'last-admin');
        expect(await iam.setMemberRole(storage.db, 'acme', 'alice', 'admin')).toEqual({
          role: 'admin',
          previousRole: 'admin',
        });
        await iam.setMemberRole(storage.db, 'acme', 'bob', 'admin');
        await iam.removeMember(storage.db, 'acme', 'alice');
        await rejects(iam.setMemberRole(storage.db, 'acme', 'bob', 'member'), 'last-admin');
        expect((await iam.listMembers(storage.db, 'acme')).map((m) => m.user.login)).toEqual(['bob']);
      });

      it('lets only one of two concurrent demotions of the last two admins succeed', async () => {
        await iam.setMemberRole(storage.db, 'acme', 'bob', 'admin');
        // PostgreSQL: a second pool, as a second server process would have, and the first demotion's transaction
        // held open while the second runs. SQLite: one writer connection per process (two in one process would
        // block each other's event loop), so both race on it.
        const second = dialect === 'postgres' ? await db.open() : storage;
        try {
          let demoted!: () => void;
          const firstDemoted = new Promise<void>((resolve) => (demoted = resolve));
          let release!: () => void;
          const held = new Promise<void>((resolve) => (release = resolve));
          const first = storage.db.transaction().execute(async (tx) => {
            const result = await iam.setMemberRole(tx, 'acme', 'alice', 'member');
            demoted();
            if (dialect === 'postgres') await held;
            return result;
          });
          await firstDemoted;
          const other = iam.setMemberRole(second.db, 'acme', 'bob', 'member');
          setTimeout(release, 300);
          const results = await Promise.allSettled([first, other]);
          expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
          expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'last-admin' });
          const admins = (await iam.listMembers(storage.db, 'acme')).filter((m) => m.role === 'admin');
          expect(admins.map((m) => m.user.login)).toEqual(['bob']);
        } finally {
          if (second !== storage) await second.close();
        }
      });

      it('removing a member also removes them from the organization’s teams', async () => {
        await iam.createTeam(storage.db, 'acme', { name: 'dev' });
        await iam.addTeamMember(storage.db, 'acme', 'dev', 'bob');
        expect(await iam.removeMember(storage.db, 'acme', 'bob')).toEqual({ role: 'member' });
        expect((await iam.getTeam(storage.db, 'acme', 'dev')).members).toEqual([]);
        await rejects(iam.removeMember(storage.db, 'acme', 'bob'), 'not-found');
      });

      it('joins the caller’s transaction: a rollback undoes the change', async () => {
        await storage.db
          .transaction()
          .execute(async (tx) => {
            await iam.setMemberRole(tx, 'acme', 'bob', 'admin');
            await iam.removeMember(tx, 'acme', 'alice');
            throw new Error('the audit record could not be written');
          })
          .catch(() => {});
        expect((await iam.listMembers(storage.db, 'acme')).map((m) => [m.user.login, m.role])).toEqual([
          ['alice', 'admin'],
          ['bob', 'member'],
        ]);
      });
    });

    describe('teams', () => {
      beforeEach(async () => {
        await iam.createOrganization(storage.db, { login: 'acme' });
        await iam.createUser(storage.db, { login: 'bob' });
        await iam.createUser(storage.db, { login: 'outsider' });
        await iam.addMember(storage.db, 'acme', 'bob');
      });

      it('creates, updates, lists and deletes teams', async () => {
        const team = await iam.createTeam(storage.db, 'acme', {
          name: 'platform.sre',
          description: 'on call',
        });
        expect(team).toMatchObject({
          org: 'acme',
          name: 'platform.sre',
          displayName: 'platform.sre',
          description: 'on call',
        });
        await rejects(iam.createTeam(storage.db, 'acme', { name: 'PLATFORM.SRE' }), 'already-exists');
        await rejects(iam.createTeam(storage.db, 'acme', { name: '.bad' }), 'invalid-name');
        clock += 1;
        const updated = await iam.updateTeam(storage.db, 'acme', 'platform.sre', { displayName: 'SRE' });
        expect(updated).toMatchObject({ displayName: 'SRE', description: 'on call', updatedAt: T0 + 1 });
        await iam.createTeam(storage.db, 'acme', { name: 'dev' });
        expect((await iam.listTeams(storage.db, 'acme')).map((t) => t.name)).toEqual(['dev', 'platform.sre']);
        await iam.deleteTeam(storage.db, 'acme', 'dev');
        await rejects(iam.deleteTeam(storage.db, 'acme', 'dev'), 'not-found');
        expect((await iam.listTeams(storage.db, 'acme')).map((t) => t.name)).toEqual(['platform.sre']);
      });

      it('adds only organization members, once, and removes them', async () => {
        await iam.createTeam(storage.db, 'acme', { name: 'dev' });
        await iam.addTeamMember(storage.db, 'acme', 'dev', 'bob');
        await rejects(iam.addTeamMember(storage.db, 'acme', 'dev', 'bob'), 'already-exists');
        await rejects(iam.addTeamMember(storage.db, 'acme', 'dev', 'outsider'), 'not-a-member');
        expect((await iam.getTeam(storage.db, 'acme', 'dev')).members.map((u) => u.login)).toEqual(['bob']);
        await iam.removeTeamMember(storage.db, 'acme', 'dev', 'bob');
        await rejects(iam.removeTeamMember(storage.db, 'acme', 'dev', 'bob'), 'not-found');
      });

      it('grants, replaces and revokes environment permissions, with * for a whole project', async () => {
        await iam.createTeam(storage.db, 'acme', { name: 'dev' });
        const grant = (
          project: string,
          environment: string,
          permission: 'read' | 'open' | 'write' | 'admin',
        ) =>
          iam.grantTeamEnvironmentPermission(storage.db, 'acme', 'dev', { project, environment, permission });
        expect(await grant('app', 'prod', 'read')).toEqual({ previous: undefined });
        expect(await grant('app', 'prod', 'open')).toEqual({ previous: 'read' });
        await grant('app', '*', 'write');
        expect((await iam.getTeam(storage.db, 'acme', 'dev')).grants).toEqual([
          { project: 'app', environment: '*', permission: 'write' },
          { project: 'app', environment: 'prod', permission: 'open' },
        ]);
        expect(
          await iam.revokeTeamEnvironmentPermission(storage.db, 'acme', 'dev', {
            project: 'app',
            environment: 'prod',
          }),
        ).toEqual({ previous: 'open' });
        await rejects(
          iam.revokeTeamEnvironmentPermission(storage.db, 'acme', 'dev', {
            project: 'app',
            environment: 'prod',
          }),
          'not-found',
        );
        await rejects(grant('*', 'prod', 'read'), 'invalid-name');
        await rejects(grant('app', 'a/b', 'read'), 'invalid-name');
        await rejects(
          iam.grantTeamEnvironmentPermission(storage.db, 'acme', 'dev', {
            project: 'app',
            environment: 'x',
            permission: 'none',
          }),
          'invalid-argument',
        );
      });

      it('deleting a team removes its members, grants and tokens', async () => {
        await iam.createTeam(storage.db, 'acme', { name: 'dev' });
        await iam.addTeamMember(storage.db, 'acme', 'dev', 'bob');
        await iam.grantTeamEnvironmentPermission(storage.db, 'acme', 'dev', {
          project: 'app',
          environment: '*',
          permission: 'open',
        });
        const { token } = await iam.createToken(storage.db, {
          kind: 'team',
          org: 'acme',
          team: 'dev',
          description: 'ci',
        });
        await iam.deleteTeam(storage.db, 'acme', 'dev');
        await rejects(iam.authenticateToken(storage.db, token), 'token-unknown');
        for (const table of ['iam_team_members', 'iam_team_grants', 'iam_tokens'] as const)
          expect(await storage.db.selectFrom(table).selectAll().execute()).toEqual([]);
      });
    });

    describe('tokens', () => {
      let alice: { id: number };
      beforeEach(async () => {
        await iam.createOrganization(storage.db, { login: 'acme' });
        alice = await iam.createUser(storage.db, {
          login: 'alice',
          name: 'Alice',
          email: 'alice@example.com',
        });
        await iam.addMember(storage.db, 'acme', 'alice', 'admin');
        await iam.createTeam(storage.db, 'acme', { name: 'dev' });
      });

      it('returns the text once and stores only its SHA-256', async () => {
        const created = [
          await iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'laptop' }),
          await iam.createToken(storage.db, { kind: 'organization', org: 'acme', description: 'deploys' }),
          await iam.createToken(storage.db, { kind: 'team', org: 'acme', team: 'dev', description: 'ci' }),
          await iam.createSession(storage.db, alice.id, 60_000),
        ];
        const dump = await dumpIamTables(storage);
        for (const { id, token } of created) {
          expect(dump).not.toContain(token);
          expect(dump).not.toContain(token.slice(-43)); // the random part, prefix aside
          const row = await storage.db
            .selectFrom('iam_tokens')
            .select('hash')
            .where('id', '=', id)
            .executeTakeFirstOrThrow();
          expect(Buffer.from(row.hash).equals(tokenHash(token))).toBe(true);
        }
        const listed = JSON.stringify([
          await iam.listTokens(storage.db, { kind: 'personal', user: 'alice' }),
          await iam.listTokens(storage.db, { kind: 'organization', org: 'acme' }),
          await iam.listTokens(storage.db, { kind: 'team', org: 'acme', team: 'dev' }),
          await iam.listTokens(storage.db, { kind: 'session', user: 'alice' }),
          await iam.getToken(storage.db, created[0]!.id),
        ]);
        for (const { token } of created) expect(listed).not.toContain(token);
        expect(listed).not.toMatch(/hash/i);
      });

      it('authenticates each kind as its principal', async () => {
        const personal = await iam.createToken(storage.db, {
          kind: 'personal',
          user: 'alice',
          description: 'laptop',
        });
        const org = await iam.createToken(storage.db, {
          kind: 'organization',
          org: 'acme',
          description: 'deploys',
        });
        const team = await iam.createToken(storage.db, {
          kind: 'team',
          org: 'acme',
          team: 'dev',
          description: 'ci',
        });
        const session = await iam.createSession(storage.db, alice.id);
        const user = {
          id: alice.id,
          login: 'alice',
          name: 'Alice',
          email: 'alice@example.com',
          avatarUrl: null,
        };
        expect(await iam.authenticateToken(storage.db, personal.token)).toEqual({
          kind: 'token',
          user,
          token: { id: personal.id, name: 'laptop', kind: 'personal' },
        });
        const acme = await iam.getOrganization(storage.db, 'acme');
        expect(await iam.authenticateToken(storage.db, org.token)).toEqual({
          kind: 'token',
          token: { id: org.id, name: 'deploys', kind: 'organization' },
          org: { id: acme.id, login: 'acme' },
        });
        const dev = await iam.getTeam(storage.db, 'acme', 'dev');
        expect(await iam.authenticateToken(storage.db, team.token)).toEqual({
          kind: 'token',
          token: { id: team.id, name: 'ci', kind: 'team' },
          org: { id: acme.id, login: 'acme' },
          team: { id: dev.id, name: 'dev' },
        });
        expect(await iam.authenticateToken(storage.db, session.token)).toEqual({
          kind: 'user',
          user,
          token: { id: session.id, name: 'session', kind: 'session' },
        });
      });

      it('refuses unknown, malformed, revoked and expired tokens with distinct codes', async () => {
        const { id, token } = await iam.createToken(storage.db, {
          kind: 'personal',
          user: 'alice',
          description: 'x',
        });
        await rejects(iam.authenticateToken(storage.db, token + 'x'), 'token-unknown');
        await rejects(iam.authenticateToken(storage.db, 'x'.repeat(10_000)), 'token-unknown');
        await rejects(iam.authenticateToken(storage.db, 'has space'), 'token-unknown');
        const revoked = await iam.revokeToken(storage.db, id);
        expect(revoked).toMatchObject({ id, kind: 'personal', user: 'alice', revokedAt: T0 });
        const error = await rejects(iam.authenticateToken(storage.db, token), 'token-revoked');
        expect(error.message).not.toContain(token);
        await rejects(iam.revokeToken(storage.db, id), 'token-revoked');
        await rejects(iam.revokeToken(storage.db, 'no-such-id'), 'not-found');

        const expiring = await iam.createToken(storage.db, {
          kind: 'organization',
          org: 'acme',
          description: 'temporary',
          expiresAt: T0 + 1000,
        });
        clock = T0 + 999;
        await iam.authenticateToken(storage.db, expiring.token);
        clock = T0 + 1000;
        await rejects(iam.authenticateToken(storage.db, expiring.token), 'token-expired');

        const session = await iam.createSession(storage.db, alice.id, 5000);
        expect(session.expiresAt).toBe(clock + 5000);
        clock += 5000;
        await rejects(iam.authenticateToken(storage.db, session.token), 'token-expired');
      });

      it('records last use at most once a minute', async () => {
        const { id, token } = await iam.createToken(storage.db, {
          kind: 'personal',
          user: 'alice',
          description: 'x',
        });
        const lastUsed = async () => (await iam.getToken(storage.db, id)).lastUsedAt;
        expect(await lastUsed()).toBeNull();
        await iam.authenticateToken(storage.db, token);
        expect(await lastUsed()).toBe(T0);
        clock = T0 + LAST_USED_RESOLUTION_MS - 1;
        await iam.authenticateToken(storage.db, token);
        expect(await lastUsed()).toBe(T0);
        clock = T0 + LAST_USED_RESOLUTION_MS;
        await iam.authenticateToken(storage.db, token);
        expect(await lastUsed()).toBe(T0 + LAST_USED_RESOLUTION_MS);
      });

      it('lists tokens per owner, hiding revoked ones unless asked', async () => {
        const a = await iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'a' });
        clock += 1;
        const b = await iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'b' });
        await iam.createToken(storage.db, { kind: 'organization', org: 'acme', description: 'org' });
        await iam.createSession(storage.db, alice.id);
        await iam.revokeToken(storage.db, a.id);
        expect(
          (await iam.listTokens(storage.db, { kind: 'personal', user: 'alice' })).map((t) => t.id),
        ).toEqual([b.id]);
        const all = await iam.listTokens(storage.db, {
          kind: 'personal',
          user: 'alice',
          includeRevoked: true,
        });
        expect(all.map((t) => [t.description, t.revokedAt])).toEqual([
          ['a', T0 + 1],
          ['b', null],
        ]);
        expect(await iam.listTokens(storage.db, { kind: 'organization', org: 'acme' })).toEqual([
          expect.objectContaining({ kind: 'organization', org: 'acme', description: 'org', expiresAt: null }),
        ]);
      });

      it('validates token requests', async () => {
        await rejects(
          iam.createToken(storage.db, { kind: 'personal', user: 'nobody', description: 'x' }),
          'not-found',
        );
        await rejects(
          iam.createToken(storage.db, { kind: 'team', org: 'acme', team: 'ops', description: 'x' }),
          'not-found',
        );
        await rejects(
          iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'x'.repeat(1025) }),
          'invalid-argument',
        );
        await rejects(
          iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'x', expiresAt: 1.5 }),
          'invalid-argument',
        );
        await rejects(
          iam.createToken(storage.db, { kind: 'session', user: 'alice' } as never),
          'invalid-argument',
        );
        await rejects(
          iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'x' }, 'too-short'),
          'invalid-argument',
        );
        await rejects(iam.createSession(storage.db, alice.id, 0), 'invalid-argument');
        await rejects(iam.createSession(storage.db, 999_999, 1000), 'not-found');
      });

      it('deletes ended sessions and keeps the live ones', async () => {
        const live = await iam.createSession(storage.db, alice.id, 10_000);
        await iam.createSession(storage.db, alice.id, 1000);
        const ended = await iam.createSession(storage.db, alice.id, 10_000);
        await iam.revokeToken(storage.db, ended.id);
        await iam.createToken(storage.db, { kind: 'personal', user: 'alice', description: 'kept' });
        clock += 1000;
        expect(await iam.deleteEndedSessions(storage.db)).toBe(2);
        expect(
          (await iam.listTokens(storage.db, { kind: 'session', user: 'alice' })).map((t) => t.id),
        ).toEqual([live.id]);
        expect(await iam.listTokens(storage.db, { kind: 'personal', user: 'alice' })).toHaveLength(1);
      });
    });
  });
}
