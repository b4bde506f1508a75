// Sign-in, sign-out, the caller's identity and personal tokens, against a real server: every success and refusal
// with its audit records, in every organization of the user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_FAILURE_LIMIT } from '../src/iam/login-rate-limiter.js';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, ORG, startIdentityServer, type IdentityHarness } from './identity-harness.js';

const OTHER_ORG = 'globex';
const BOB_PASSWORD = 'bob-password-correct-horse';
const ERIN_PASSWORD = 'erin-password-battery-staple';

for (const dialect of DIALECTS) {
  describe(`identity API: sign-in and personal tokens on ${dialect}`, () => {
    let h: IdentityHarness;
    let bobSession: string;

    beforeAll(async () => {
      h = await startIdentityServer(dialect);
      h.secrets.add(BOB_PASSWORD).add(ERIN_PASSWORD);
      for (const [login, password] of [
        ['bob', BOB_PASSWORD],
        ['erin', ERIN_PASSWORD],
      ] as const) {
        const added = await h.call('POST', `/api/orgs/${ORG}/members/${login}`, {
          token: ADMIN_TOKEN,
          body: { role: 'member', password, name: login.toUpperCase() },
        });
        expect(added.status).toBe(200);
      }
      // A second organization (no API creates organizations yet): bob is a member of both.
      const db = h.server.storage.db;
      await h.server.iam.createOrganization(db, { login: OTHER_ORG });
      await h.server.iam.addMember(db, OTHER_ORG, 'bob', 'member');
    });
    afterAll(async () => h.stop());

    it('signs in with a password: a session token, recorded as user-login in every organization of the user', async () => {
      const [acme, globex] = [(await h.records(ORG)).length, (await h.records(OTHER_ORG)).length];
      const answer = await h.call('POST', '/api/login', { body: { login: 'Bob', password: BOB_PASSWORD } });
      expect(answer.status).toBe(200);
      expect(answer.body.token).toMatch(/^vgl_ses_/);
      expect(answer.body.expiresAt).toBeGreaterThan(Date.now() / 1000 + 3600);
      bobSession = answer.body.token;
      h.secrets.add(bobSession);

      for (const [org, from] of [
        [ORG, acme],
        [OTHER_ORG, globex],
      ] as const) {
        const recs = await h.since(from, org);
        expect(recs).toHaveLength(1);
        expect(recs[0]).toMatchObject({
          event: 'user-login',
          outcome: 'success',
          actor: { kind: 'user', login: 'bob', name: 'BOB' },
          resource: { member: 'bob' },
        });
        expect(recs[0]!.description).toMatch(
          /^Signed in as "bob" with a password \(session [0-9a-f-]+, until /,
        );
        expect(recs[0]!.reqOrgAdmin).toBeUndefined();
      }
    });

    it("GET /api/user answers the caller's identity in Pulumi's shape; the default organization is the first joined", async () => {
      const user = await h.call('GET', '/api/user', { token: bobSession });
      expect(user.status).toBe(200);
      expect(user.body).toEqual({
        githubLogin: 'bob',
        name: 'BOB',
        email: '',
        avatarUrl: '',
        organizations: [
          { githubLogin: ORG, name: ORG },
          { githubLogin: OTHER_ORG, name: OTHER_ORG },
        ],
      });
      const def = await h.call('GET', '/api/user/organizations/default', { token: bobSession });
      expect(def.status).toBe(200);
      expect(def.body).toEqual({ gitHubLogin: ORG });
      expect((await h.call('GET', '/api/user')).status).toBe(401);
    });

    it('refuses a wrong password with 401, recorded as user-login-failed in every organization of the user', async () => {
      const [acme, globex] = [(await h.records(ORG)).length, (await h.records(OTHER_ORG)).length];
      const wrong = await h.call('POST', '/api/login', {
        body: { login: 'bob', password: 'not-bobs-password' },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual({
        code: 401,
        message: 'wrong login or password',
        errorCode: 'unauthenticated',
      });
      for (const [org, from] of [
        [ORG, acme],
        [OTHER_ORG, globex],
      ] as const) {
        const recs = await h.since(from, org);
        expect(recs).toHaveLength(1);
        expect(recs[0]).toMatchObject({
          event: 'user-login-failed',
          outcome: 'denied',
          actor: { kind: 'user', login: 'bob' },
          description: 'Sign-in as "bob" failed: wrong password',
          resource: { member: 'bob' },
        });
      }
    });

    it('answers an unknown login exactly like a wrong password, and records nothing (there is no organization)', async () => {
      const before = await h.allRecordText();
      const unknown = await h.call('POST', '/api/login', {
        body: { login: 'mallory', password: 'whatever-it-is' },
      });
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual({
        code: 401,
        message: 'wrong login or password',
        errorCode: 'unauthenticated',
      });
      expect(await h.allRecordText()).toBe(before);
    });

    it('refuses malformed sign-in bodies with 400 without echoing them, and records nothing', async () => {
      const before = await h.allRecordText();
      const broken = await h.call('POST', '/api/login', {
        raw: `{"login":"bob","password":"${BOB_PASSWORD}"`,
      });
      expect(broken.status).toBe(400);
      expect(broken.body).toEqual({
        code: 400,
        message: 'the body is not valid JSON',
        errorCode: 'invalid-argument',
      });
      expect(broken.text).not.toContain(BOB_PASSWORD);
      const missing = await h.call('POST', '/api/login', { body: { login: 'bob' } });
      expect(missing.status).toBe(400);
      expect(missing.body).toMatchObject({ errorCode: 'invalid-argument', param: 'password' });
      const array = await h.call('POST', '/api/login', { body: ['bob', BOB_PASSWORD] });
      expect(array.status).toBe(400);
      expect(await h.allRecordText()).toBe(before);
    });

    it('rate-limits failed sign-ins per account: 429 with Retry-After, recorded as user-login-failed (rate-limited)', async () => {
      for (let i = 0; i < ACCOUNT_FAILURE_LIMIT; i++) {
        const wrong = await h.call('POST', '/api/login', {
          body: { login: 'erin', password: `wrong-${i}-xxxxxx` },
        });
        expect(wrong.status).toBe(401);
      }
      const from = (await h.records(ORG)).length;
      // Even the right password is refused now, before it is checked.
      const limited = await h.call('POST', '/api/login', {
        body: { login: 'erin', password: ERIN_PASSWORD },
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.body).toMatchObject({ code: 429, errorCode: 'rate-limited' });
      const recs = await h.since(from);
      expect(recs).toHaveLength(1);
      expect(recs[0]).toMatchObject({
        event: 'user-login-failed',
        outcome: 'denied',
        actor: { login: 'erin' },
      });
      expect(recs[0]!.description).toMatch(
        /^Sign-in as "erin" failed: rate-limited \(too many failed sign-ins for this account; retry in \d+ s\)$/,
      );
      // Another account from the same address is not affected.
      expect(
        (await h.call('POST', '/api/login', { body: { login: 'bob', password: BOB_PASSWORD } })).status,
      ).toBe(200);
    });

    it('creates a personal token ({id, tokenValue}), recorded in every organization; lists it without its text', async () => {
      const [acme, globex] = [(await h.records(ORG)).length, (await h.records(OTHER_ORG)).length];
      const expires = Math.floor(Date.now() / 1000) + 3600;
      const created = await h.call('POST', '/api/user/tokens', {
        token: bobSession,
        body: { description: 'laptop', expires },
      });
      expect(created.status).toBe(200);
      expect(Object.keys(created.body).sort()).toEqual(['id', 'tokenValue']);
      const { id, tokenValue } = created.body as { id: string; tokenValue: string };
      h.secrets.add(tokenValue);
      expect(tokenValue).toMatch(/^vgl_pat_/);
      for (const [org, from] of [
        [ORG, acme],
        [OTHER_ORG, globex],
      ] as const) {
        const recs = await h.since(from, org);
        expect(recs).toHaveLength(1);
        expect(recs[0]).toMatchObject({
          event: 'personal-token-created',
          outcome: 'success',
          actor: { kind: 'user', login: 'bob' },
          resource: { member: 'bob', token: id },
        });
        expect(recs[0]!.description).toMatch(
          new RegExp(`^Created personal access token "laptop" \\(${id}\\) of "bob", expires \\d{4}-`),
        );
      }

      const listed = await h.call('GET', '/api/user/tokens', { token: tokenValue });
      expect(listed.status).toBe(200);
      const mine = (listed.body.tokens as Array<Record<string, unknown>>).find((t) => t.id === id);
      expect(mine).toMatchObject({ id, description: 'laptop', expires, lastUsed: expect.any(Number) });
      expect(listed.text).not.toContain(tokenValue);

      // A personal token acts as its user.
      expect((await h.call('GET', '/api/user', { token: tokenValue })).body.githubLogin).toBe('bob');

      // Revoked: 204, recorded in both organizations, and it stops working at once.
      const [acme2, globex2] = [(await h.records(ORG)).length, (await h.records(OTHER_ORG)).length];
      const deleted = await h.call('DELETE', `/api/user/tokens/${id}`, { token: bobSession });
      expect(deleted.status).toBe(204);
      for (const [org, from] of [
        [ORG, acme2],
        [OTHER_ORG, globex2],
      ] as const) {
        const recs = await h.since(from, org);
        expect(recs).toHaveLength(1);
        expect(recs[0]).toMatchObject({
          event: 'personal-token-deleted',
          actor: { login: 'bob' },
          description: `Deleted personal access token "laptop" (${id}) of "bob"`,
          resource: { member: 'bob', token: id },
        });
      }
      expect((await h.call('GET', '/api/user', { token: tokenValue })).status).toBe(401);
      expect((await h.call('DELETE', `/api/user/tokens/${id}`, { token: bobSession })).status).toBe(404);
    });

    it("refuses bad token requests and other users' tokens with 4xx, writing nothing", async () => {
      const before = await h.allRecordText();
      const tokensBefore = (await h.call('GET', '/api/user/tokens', { token: bobSession })).body.tokens;
      const past = await h.call('POST', '/api/user/tokens', {
        token: bobSession,
        body: { description: 'old', expires: 1000 },
      });
      expect(past.status).toBe(400);
      expect(past.body).toMatchObject({ code: 400, errorCode: 'invalid-argument', param: 'expires' });
      const notString = await h.call('POST', '/api/user/tokens', {
        token: bobSession,
        body: { description: 7 },
      });
      expect(notString.status).toBe(400);
      const long = await h.call('POST', '/api/user/tokens', {
        token: bobSession,
        body: { description: 'x'.repeat(5000) },
      });
      expect(long.status).toBe(400);
      // The admin's bootstrap token is not bob's: not found, as if it did not exist.
      const adminTokens = await h.call('GET', '/api/user/tokens', { token: ADMIN_TOKEN });
      const adminTokenId = adminTokens.body.tokens[0].id as string;
      const foreign = await h.call('DELETE', `/api/user/tokens/${adminTokenId}`, { token: bobSession });
      expect(foreign.status).toBe(404);
      expect(foreign.body).toEqual({ code: 404, message: 'no such token', errorCode: 'not-found' });
      expect((await h.call('DELETE', '/api/user/tokens/no-such-id', { token: bobSession })).status).toBe(404);
      expect((await h.call('GET', '/api/user', { token: ADMIN_TOKEN })).status).toBe(200);
      expect((await h.call('GET', '/api/user/tokens', { token: bobSession })).body.tokens).toEqual(
        tokensBefore,
      );
      expect(await h.allRecordText()).toBe(before);
    });

    it('signs out: the session stops working at once; signing out a personal token is refused', async () => {
      const session = (await h.call('POST', '/api/login', { body: { login: 'bob', password: BOB_PASSWORD } }))
        .body.token as string;
      h.secrets.add(session);
      const from = (await h.records(ORG)).length;
      expect((await h.call('POST', '/api/logout', { token: session })).status).toBe(204);
      expect(await h.since(from)).toHaveLength(0); // exempt: see docs/identity-api.md
      expect((await h.call('GET', '/api/user', { token: session })).status).toBe(401);
      const pat = await h.call('POST', '/api/logout', { token: ADMIN_TOKEN });
      expect(pat.status).toBe(400);
      expect(pat.body.errorCode).toBe('invalid-argument');
      expect((await h.call('GET', '/api/user', { token: ADMIN_TOKEN })).status).toBe(200);
    });

    it('refuses organization tokens on /api/user endpoints (they have no user) with 403', async () => {
      const created = await h.call('POST', `/api/orgs/${ORG}/tokens`, {
        token: ADMIN_TOKEN,
        body: { description: 'robot' },
      });
      const orgToken = created.body.tokenValue as string;
      h.secrets.add(orgToken);
      const user = await h.call('GET', '/api/user', { token: orgToken });
      expect(user.status).toBe(403);
      expect(user.body.errorCode).toBe('forbidden');
      expect((await h.call('POST', '/api/user/tokens', { token: orgToken, body: {} })).status).toBe(403);
    });

    it('refuses sign-in to a user of no organization (nothing could record it), after checking the password', async () => {
      const password = 'frank-password-sunny-day';
      h.secrets.add(password);
      const add = { token: ADMIN_TOKEN, body: { role: 'member', password } };
      expect((await h.call('POST', `/api/orgs/${ORG}/members/frank`, add)).status).toBe(200);
      expect((await h.call('DELETE', `/api/orgs/${ORG}/members/frank`, { token: ADMIN_TOKEN })).status).toBe(
        204,
      );
      h.server.app.fastify.log.info('frank removed'); // a line of our own: proves the capture works
      const before = await h.allRecordText();
      const answer = await h.call('POST', '/api/login', { body: { login: 'frank', password } });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ code: 403, errorCode: 'forbidden' });
      const wrong = await h.call('POST', '/api/login', {
        body: { login: 'frank', password: 'wrong-password-x' },
      });
      expect(wrong.status).toBe(401);
      expect(await h.allRecordText()).toBe(before);
    });

    it('never writes a token value or password into a record or a log line', async () => {
      const records = await h.allRecordText();
      const logs = h.logs.join('');
      expect(h.logs.length).toBeGreaterThan(20);
      expect(logs).toContain('frank removed');
      for (const secret of h.secrets) {
        expect(records.includes(secret), 'a secret in the audit records').toBe(false);
        expect(logs.includes(secret), 'a secret in the server log').toBe(false);
      }
    });
  });
}
