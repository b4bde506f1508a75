// Organization administration over HTTP against a real server: organization and team tokens, members, teams and
// settings — each success and its record, each refusal recorded before its 403, bad input answered 4xx with
// nothing half-written.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './support/databases.js';
import {
  ADMIN_TOKEN,
  ORG,
  startIdentityServer,
  type AuditRow,
  type IdentityHarness,
  type Json,
} from './identity-harness.js';

const DOCS = readFileSync(new URL('../../../docs/identity-api.md', import.meta.url), 'utf8');
const BOB_PASSWORD = 'bob-password-correct-horse';
const CAROL_PASSWORD = 'carol-password-tea-kettle';

for (const dialect of DIALECTS) {
  describe(`identity API: organization administration on ${dialect}`, () => {
    let h: IdentityHarness;
    let bob: string; // a member's session

    /** Calls, then answers with the records the call appended to acme's log. */
    async function recorded(
      method: string,
      path: string,
      options: { token?: string; body?: unknown; raw?: string } = {},
    ): Promise<{ status: number; body: Json; recs: AuditRow[] }> {
      const from = (await h.records()).length;
      const answer = await h.call(method, path, options);
      return { status: answer.status, body: answer.body, recs: await h.since(from) };
    }

    /** A member's refused admin operation: 403 and exactly one `auth-failure-organization-role` record. */
    async function expectAdminRefusal(method: string, path: string, body?: unknown): Promise<void> {
      const {
        status,
        body: answer,
        recs,
      } = await recorded(method, path, {
        token: bob,
        ...(body !== undefined ? { body } : {}),
      });
      expect(status, `${method} ${path}`).toBe(403);
      expect(answer).toMatchObject({ code: 403, errorCode: 'access-denied' });
      expect(recs, `${method} ${path}`).toHaveLength(1);
      expect(recs[0]).toMatchObject({
        event: 'auth-failure-organization-role',
        outcome: 'denied',
        reqOrgAdmin: true,
        authFailure: true,
        actor: { kind: 'user', login: 'bob' },
      });
      expect(recs[0]!.description).toMatch(/^bob may not .* in organization "acme": role member$/);
    }

    beforeAll(async () => {
      h = await startIdentityServer(dialect);
      h.secrets.add(BOB_PASSWORD).add(CAROL_PASSWORD);
    });
    afterAll(async () => h.stop());

    // ---------------------------------------------------------------- members

    it('adds a member, creating the account: member-added, never the password', async () => {
      const { status, body, recs } = await recorded('POST', `/api/orgs/${ORG}/members/bob`, {
        token: ADMIN_TOKEN,
        body: { role: 'member', name: 'Bob B', email: 'bob@example.com', password: BOB_PASSWORD },
      });
      expect(status).toBe(200);
      expect(body).toMatchObject({
        role: 'member',
        user: { githubLogin: 'bob', name: 'Bob B', email: 'bob@example.com', avatarUrl: '' },
      });
      expect(recs).toHaveLength(1);
      expect(recs[0]).toMatchObject({
        event: 'member-added',
        outcome: 'success',
        reqOrgAdmin: true,
        actor: { kind: 'token', login: 'admin', tokenName: 'bootstrap', tokenKind: 'personal' },
        description: 'Added "bob" to organization "acme" as member (new account)',
        resource: { member: 'bob' },
      });
      const login = await h.call('POST', '/api/login', { body: { login: 'bob', password: BOB_PASSWORD } });
      bob = login.body.token;
      h.secrets.add(bob);
      const carol = await h.call('POST', `/api/orgs/${ORG}/members/carol`, {
        token: ADMIN_TOKEN,
        body: { role: 'member', password: CAROL_PASSWORD },
      });
      expect(carol.status).toBe(200);
    });

    it('lists members for any member of the organization', async () => {
      const listed = await h.call('GET', `/api/orgs/${ORG}/members`, { token: bob });
      expect(listed.status).toBe(200);
      expect(listed.body.members.map((m: Json) => [m.user.githubLogin, m.role])).toEqual([
        ['admin', 'admin'],
        ['bob', 'member'],
        ['carol', 'member'],
      ]);
    });

    it('refuses member changes that are malformed or name unknown users, writing nothing', async () => {
      const before = await h.allRecordText();
      const cases: Array<[string, string, unknown, number]> = [
        ['POST', 'bob', { role: 'member', password: 'another-password-123' }, 409], // exists: no reset
        ['POST', 'nobody', { role: 'member' }, 404], // no account and no password
        ['POST', 'bad..name!', { role: 'member', password: 'long-enough-password' }, 400],
        ['POST', 'dave', { role: 'emperor', password: 'long-enough-password' }, 400],
        ['POST', 'dave', { role: 'member', password: 'short' }, 400],
        ['POST', 'dave', { role: 'member', password: 'long-enough-password', email: 'not-an-email' }, 400],
        ['PATCH', 'nobody', { role: 'admin' }, 404],
        ['PATCH', 'bob', { role: 'owner' }, 400],
        ['DELETE', 'nobody', undefined, 404],
      ];
      for (const [method, login, body, status] of cases) {
        const answer = await h.call(method, `/api/orgs/${ORG}/members/${login}`, {
          token: ADMIN_TOKEN,
          ...(body !== undefined ? { body } : {}),
        });
        expect(answer.status, `${method} ${login} ${JSON.stringify(body)}`).toBe(status);
        expect(answer.body).toMatchObject({
          code: status,
          errorCode: expect.any(String),
          message: expect.any(String),
        });
      }
      // dave's failed creations left no account behind.
      await expect(h.server.iam.getUserByLogin(h.server.storage.db, 'dave')).rejects.toMatchObject({
        code: 'not-found',
      });
      expect(await h.allRecordText()).toBe(before);
    });

    it('refuses a member every admin operation: 403, each recorded as auth-failure-organization-role', async () => {
      await expectAdminRefusal('POST', `/api/orgs/${ORG}/members/zed`, {
        role: 'member',
        password: 'zed-password-123',
      });
      await expectAdminRefusal('PATCH', `/api/orgs/${ORG}/members/carol`, { role: 'admin' });
      await expectAdminRefusal('DELETE', `/api/orgs/${ORG}/members/carol`);
      await expectAdminRefusal('GET', `/api/orgs/${ORG}/tokens`);
      await expectAdminRefusal('POST', `/api/orgs/${ORG}/tokens`, { description: 'x' });
      await expectAdminRefusal('DELETE', `/api/orgs/${ORG}/tokens/some-id`);
      await expectAdminRefusal('POST', `/api/orgs/${ORG}/teams`, { name: 'rogue' });
      await expectAdminRefusal('PATCH', `/api/orgs/${ORG}/settings`, {
        defaultEnvironmentPermission: 'admin',
      });
      // Unchanged: carol is still a member, nobody named zed exists.
      const members = (await h.call('GET', `/api/orgs/${ORG}/members`, { token: ADMIN_TOKEN })).body.members;
      expect(members.map((m: Json) => m.user.githubLogin)).toEqual(['admin', 'bob', 'carol']);
    });

    it('refuses non-members even reads, recorded; unknown organizations are 404 and recorded nowhere', async () => {
      const stranger = await h.call('POST', `/api/orgs/${ORG}/members/stranger`, {
        token: ADMIN_TOKEN,
        body: { role: 'member', password: 'stranger-password-1' },
      });
      expect(stranger.status).toBe(200);
      h.secrets.add('stranger-password-1');
      const session = (
        await h.call('POST', '/api/login', { body: { login: 'stranger', password: 'stranger-password-1' } })
      ).body.token as string;
      h.secrets.add(session);
      await h.call('DELETE', `/api/orgs/${ORG}/members/stranger`, { token: ADMIN_TOKEN });
      const { status, recs } = await recorded('GET', `/api/orgs/${ORG}/members`, { token: session });
      expect(status).toBe(403);
      expect(recs).toHaveLength(1);
      expect(recs[0]).toMatchObject({
        event: 'auth-failure-organization-role',
        description: 'stranger may not list members in organization "acme": not a member',
      });
      expect(recs[0]!.reqOrgAdmin).toBeUndefined();
      const logsBefore = await h.server.ledger.logs();
      const unknown = await h.call('GET', '/api/orgs/initech/members', { token: ADMIN_TOKEN });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ code: 404, errorCode: 'not-found' });
      expect((await h.call('GET', '/api/orgs/x/members', { token: ADMIN_TOKEN })).status).toBe(400);
      expect(await h.server.ledger.logs()).toEqual(logsBefore);
    });

    it('changes roles (member-role-changed) and protects the last admin with 409', async () => {
      const promoted = await recorded('PATCH', `/api/orgs/${ORG}/members/carol`, {
        token: ADMIN_TOKEN,
        body: { role: 'admin' },
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toMatchObject({ role: 'admin', user: { githubLogin: 'carol' } });
      expect(promoted.recs).toHaveLength(1);
      expect(promoted.recs[0]).toMatchObject({
        event: 'member-role-changed',
        reqOrgAdmin: true,
        actor: { login: 'admin' },
        description: 'Changed the role of "carol" in organization "acme" from member to admin',
        resource: { member: 'carol' },
      });
      const demoted = await recorded('PATCH', `/api/orgs/${ORG}/members/carol`, {
        token: ADMIN_TOKEN,
        body: { role: 'auditor' },
      });
      expect(demoted.recs[0]!.description).toBe(
        'Changed the role of "carol" in organization "acme" from admin to auditor',
      );

      // admin is the only admin now.
      const lastDemote = await recorded('PATCH', `/api/orgs/${ORG}/members/admin`, {
        token: ADMIN_TOKEN,
        body: { role: 'member' },
      });
      expect(lastDemote.status).toBe(409);
      expect(lastDemote.body).toMatchObject({ code: 409, errorCode: 'conflict' });
      expect(lastDemote.recs).toHaveLength(0);
      const lastRemove = await recorded('DELETE', `/api/orgs/${ORG}/members/admin`, { token: ADMIN_TOKEN });
      expect(lastRemove.status).toBe(409);
      expect(lastRemove.recs).toHaveLength(0);
      const members = (await h.call('GET', `/api/orgs/${ORG}/members`, { token: ADMIN_TOKEN })).body.members;
      expect(members.find((m: Json) => m.user.githubLogin === 'admin').role).toBe('admin');
    });

    // ---------------------------------------------------------------- organization tokens

    it('creates, lists and deletes organization tokens; a deleted one stops working at once', async () => {
      const created = await recorded('POST', `/api/orgs/${ORG}/tokens`, {
        token: ADMIN_TOKEN,
        body: { name: 'deploy-bot', expires: 0 },
      });
      expect(created.status).toBe(200);
      const { id, tokenValue } = created.body as { id: string; tokenValue: string };
      h.secrets.add(tokenValue);
      expect(created.recs).toHaveLength(1);
      expect(created.recs[0]).toMatchObject({
        event: 'organization-token-created',
        reqOrgAdmin: true,
        actor: { login: 'admin' },
        description: `Created organization access token "deploy-bot" (${id}), never expires`,
        resource: { token: id },
      });

      // An organization token is an admin of its organization.
      const asToken = await h.call('GET', `/api/orgs/${ORG}/tokens`, { token: tokenValue });
      expect(asToken.status).toBe(200);
      expect(asToken.body.tokens).toEqual([
        expect.objectContaining({ id, description: 'deploy-bot', expires: 0, created: expect.any(String) }),
      ]);
      expect(asToken.text).not.toContain(tokenValue);

      const deleted = await recorded('DELETE', `/api/orgs/${ORG}/tokens/${id}`, { token: ADMIN_TOKEN });
      expect(deleted.status).toBe(204);
      expect(deleted.recs[0]).toMatchObject({
        event: 'organization-token-deleted',
        reqOrgAdmin: true,
        description: `Deleted organization access token "deploy-bot" (${id})`,
        resource: { token: id },
      });
      expect((await h.call('GET', `/api/orgs/${ORG}/members`, { token: tokenValue })).status).toBe(401);

      const again = await recorded('DELETE', `/api/orgs/${ORG}/tokens/${id}`, { token: ADMIN_TOKEN });
      expect(again.status).toBe(404);
      expect(again.recs).toHaveLength(0);
      // A personal token's id is not an organization token's.
      const adminTokenId = (await h.call('GET', '/api/user/tokens', { token: ADMIN_TOKEN })).body.tokens[0]
        .id;
      const wrongKind = await recorded('DELETE', `/api/orgs/${ORG}/tokens/${adminTokenId}`, {
        token: ADMIN_TOKEN,
      });
      expect(wrongKind.status).toBe(404);
      expect(wrongKind.recs).toHaveLength(0);
      expect((await h.call('GET', '/api/user', { token: ADMIN_TOKEN })).status).toBe(200);
    });

    // ---------------------------------------------------------------- teams and team tokens

    it('creates teams (team-created), on Vigil’s path and Pulumi’s /teams/pulumi; refuses bad names and duplicates', async () => {
      const created = await recorded('POST', `/api/orgs/${ORG}/teams`, {
        token: ADMIN_TOKEN,
        body: { name: 'devs', displayName: 'Developers', description: 'builders' },
      });
      expect(created.status).toBe(200);
      expect(created.body).toEqual({
        kind: 'pulumi',
        name: 'devs',
        displayName: 'Developers',
        description: 'builders',
      });
      expect(created.recs).toHaveLength(1);
      expect(created.recs[0]).toMatchObject({
        event: 'team-created',
        reqOrgAdmin: true,
        description: 'Created team "devs" in organization "acme"',
        resource: { team: 'devs' },
      });
      const pulumi = await recorded('POST', `/api/orgs/${ORG}/teams/pulumi`, {
        token: ADMIN_TOKEN,
        body: { name: 'ops' },
      });
      expect(pulumi.status).toBe(200);
      expect(pulumi.recs[0]).toMatchObject({ event: 'team-created', resource: { team: 'ops' } });

      const before = await h.allRecordText();
      expect(
        (await h.call('POST', `/api/orgs/${ORG}/teams`, { token: ADMIN_TOKEN, body: { name: 'DEVS' } }))
          .status,
      ).toBe(409);
      expect(
        (await h.call('POST', `/api/orgs/${ORG}/teams`, { token: ADMIN_TOKEN, body: { name: '-bad' } }))
          .status,
      ).toBe(400);
      expect((await h.call('POST', `/api/orgs/${ORG}/teams`, { token: ADMIN_TOKEN, body: {} })).status).toBe(
        400,
      );
      expect(
        (
          await h.call('POST', `/api/orgs/${ORG}/teams`, {
            token: ADMIN_TOKEN,
            raw: '{"name": "x"',
            contentType: 'application/json',
          })
        ).status,
      ).toBe(400);
      expect(await h.allRecordText()).toBe(before);
      const teams = await h.call('GET', `/api/orgs/${ORG}/teams`, { token: bob });
      expect(teams.body.teams.map((t: Json) => t.name)).toEqual(['devs', 'ops']);
    });

    it('updates a team in one team-updated record that lists exactly what changed', async () => {
      const patch = await recorded('PATCH', `/api/orgs/${ORG}/teams/devs`, {
        token: ADMIN_TOKEN,
        body: {
          displayName: 'Developers',
          description: 'the builders',
          addMembers: ['bob', 'Carol'],
          environmentPermissions: [
            { project: 'app', environment: '*', permission: 'read' },
            { project: 'app', environment: 'prod', permission: 'open' },
            { project: 'app', environment: 'dev', permission: 'none' },
          ],
        },
      });
      expect(patch.status).toBe(200);
      expect(patch.body).toMatchObject({
        name: 'devs',
        description: 'the builders',
        members: [{ githubLogin: 'bob' }, { githubLogin: 'carol' }],
        environmentPermissions: [
          { project: 'app', environment: '*', permission: 'read' },
          { project: 'app', environment: 'prod', permission: 'open' },
        ],
      });
      expect(patch.recs).toHaveLength(1);
      expect(patch.recs[0]).toMatchObject({
        event: 'team-updated',
        reqOrgAdmin: true,
        resource: { team: 'devs' },
        description:
          'Updated team "devs" in organization "acme": description "builders" → "the builders"; added "bob", "carol"; granted read on "app/*"; granted open on "app/prod"',
      });

      const second = await recorded('PATCH', `/api/orgs/${ORG}/teams/devs`, {
        token: ADMIN_TOKEN,
        body: {
          removeMembers: ['carol'],
          environmentPermissions: [
            { project: 'app', environment: 'prod', permission: 'write' },
            { project: 'app', environment: '*', permission: 'none' },
          ],
        },
      });
      expect(second.status).toBe(200);
      expect(second.recs[0]!.description).toBe(
        'Updated team "devs" in organization "acme": removed "carol"; "app/prod" open → write; revoked read on "app/*"',
      );
      const team = await h.call('GET', `/api/orgs/${ORG}/teams/devs`, { token: bob });
      expect(team.status).toBe(200);
      expect(team.body.members.map((m: Json) => m.githubLogin)).toEqual(['bob']);
      expect(team.body.environmentPermissions).toEqual([
        { project: 'app', environment: 'prod', permission: 'write' },
      ]);
    });

    it('refuses a team update with any bad part as a whole: 4xx and nothing half-written', async () => {
      const before = await h.allRecordText();
      const teamBefore = (await h.call('GET', `/api/orgs/${ORG}/teams/devs`, { token: ADMIN_TOKEN })).body;
      const bad: Array<[unknown, number]> = [
        [{ displayName: 'New', addMembers: ['carol', 'nobody'] }, 404], // unknown user after a valid one
        [{ displayName: 'New', addMembers: ['bob'] }, 409], // already in the team
        [{ addMembers: ['stranger'] }, 400], // not a member of the organization
        [
          {
            displayName: 'New',
            environmentPermissions: [{ project: 'app', environment: 'x', permission: 'root' }],
          },
          400,
        ],
        [{ environmentPermissions: [{ project: '..', environment: 'x', permission: 'read' }] }, 400],
        [{ addMembers: ['carol'], removeMembers: ['carol'] }, 400],
        [{ addMembers: 'carol' }, 400],
        [{}, 400],
      ];
      for (const [body, status] of bad) {
        const answer = await h.call('PATCH', `/api/orgs/${ORG}/teams/devs`, { token: ADMIN_TOKEN, body });
        expect(answer.status, JSON.stringify(body)).toBe(status);
        expect(answer.body).toMatchObject({ code: status, errorCode: expect.any(String) });
      }
      expect(
        (
          await h.call('PATCH', `/api/orgs/${ORG}/teams/nope`, {
            token: ADMIN_TOKEN,
            body: { displayName: 'x' },
          })
        ).status,
      ).toBe(404);
      expect((await h.call('GET', `/api/orgs/${ORG}/teams/devs`, { token: ADMIN_TOKEN })).body).toEqual(
        teamBefore,
      );
      expect(await h.allRecordText()).toBe(before);
    });

    it('creates and deletes team tokens; refuses members; deleting the team revokes its tokens', async () => {
      await expectAdminRefusal('POST', `/api/orgs/${ORG}/teams/devs/tokens`, { description: 'ci' });
      await expectAdminRefusal('GET', `/api/orgs/${ORG}/teams/devs/tokens`);
      await expectAdminRefusal('PATCH', `/api/orgs/${ORG}/teams/devs`, { displayName: 'Mine' });
      await expectAdminRefusal('DELETE', `/api/orgs/${ORG}/teams/devs`);

      const created = await recorded('POST', `/api/orgs/${ORG}/teams/devs/tokens`, {
        token: ADMIN_TOKEN,
        body: { description: 'ci' },
      });
      expect(created.status).toBe(200);
      const { id, tokenValue } = created.body as { id: string; tokenValue: string };
      h.secrets.add(tokenValue);
      expect(created.recs[0]).toMatchObject({
        event: 'team-token-created',
        reqOrgAdmin: true,
        description: `Created access token of team "devs" "ci" (${id}), never expires`,
        resource: { team: 'devs', token: id },
      });
      const second = await h.call('POST', `/api/orgs/${ORG}/teams/devs/tokens`, {
        token: ADMIN_TOKEN,
        body: { description: 'cd' },
      });
      h.secrets.add(second.body.tokenValue);
      const listed = await h.call('GET', `/api/orgs/${ORG}/teams/devs/tokens`, { token: ADMIN_TOKEN });
      expect(listed.body.tokens.map((t: Json) => t.description)).toEqual(['ci', 'cd']);
      expect((await h.call('GET', `/api/orgs/${ORG}/teams/nope/tokens`, { token: ADMIN_TOKEN })).status).toBe(
        404,
      );
      expect(
        (await h.call('POST', `/api/orgs/${ORG}/teams/nope/tokens`, { token: ADMIN_TOKEN, body: {} })).status,
      ).toBe(404);

      // A team token is a member: it can list teams but not administer.
      expect((await h.call('GET', `/api/orgs/${ORG}/teams`, { token: tokenValue })).status).toBe(200);

      const deleted = await recorded('DELETE', `/api/orgs/${ORG}/teams/devs/tokens/${id}`, {
        token: ADMIN_TOKEN,
      });
      expect(deleted.status).toBe(204);
      expect(deleted.recs[0]).toMatchObject({
        event: 'team-token-deleted',
        description: `Deleted access token of team "devs" "ci" (${id})`,
        resource: { team: 'devs', token: id },
      });
      expect((await h.call('GET', `/api/orgs/${ORG}/teams`, { token: tokenValue })).status).toBe(401);
      // Through another team's path: not found.
      expect(
        (
          await h.call('DELETE', `/api/orgs/${ORG}/teams/ops/tokens/${second.body.id}`, {
            token: ADMIN_TOKEN,
          })
        ).status,
      ).toBe(404);

      const gone = await recorded('DELETE', `/api/orgs/${ORG}/teams/devs`, { token: ADMIN_TOKEN });
      expect(gone.status).toBe(204);
      expect(gone.recs).toHaveLength(1);
      expect(gone.recs[0]).toMatchObject({
        event: 'team-deleted',
        reqOrgAdmin: true,
        description:
          'Deleted team "devs" from organization "acme" with its members, grants and 1 live access token',
        resource: { team: 'devs' },
      });
      expect((await h.call('GET', `/api/orgs/${ORG}/teams`, { token: second.body.tokenValue })).status).toBe(
        401,
      );
      expect((await h.call('GET', `/api/orgs/${ORG}/teams/devs`, { token: ADMIN_TOKEN })).status).toBe(404);
    });

    // ---------------------------------------------------------------- settings

    it('reads and changes organization settings (organization-settings-changed)', async () => {
      const read = await h.call('GET', `/api/orgs/${ORG}/settings`, { token: bob });
      expect(read.body).toEqual({ defaultEnvironmentPermission: 'read' });
      const changed = await recorded('PATCH', `/api/orgs/${ORG}/settings`, {
        token: ADMIN_TOKEN,
        body: { defaultEnvironmentPermission: 'open' },
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toEqual({ defaultEnvironmentPermission: 'open' });
      expect(changed.recs[0]).toMatchObject({
        event: 'organization-settings-changed',
        reqOrgAdmin: true,
        description: 'Changed the default environment permission of organization "acme" from read to open',
      });
      const bad = await recorded('PATCH', `/api/orgs/${ORG}/settings`, {
        token: ADMIN_TOKEN,
        body: { defaultEnvironmentPermission: 'everything' },
      });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({
        code: 400,
        errorCode: 'invalid-argument',
        param: 'defaultEnvironmentPermission',
      });
      expect(bad.recs).toHaveLength(0);
    });

    // ---------------------------------------------------------------- members, last

    it('removes a member (member-removed); their sessions then reach nothing in the organization', async () => {
      const removed = await recorded('DELETE', `/api/orgs/${ORG}/members/bob`, { token: ADMIN_TOKEN });
      expect(removed.status).toBe(204);
      expect(removed.recs).toHaveLength(1);
      expect(removed.recs[0]).toMatchObject({
        event: 'member-removed',
        reqOrgAdmin: true,
        description: 'Removed "bob" (member) from organization "acme"',
        resource: { member: 'bob' },
      });
      expect((await h.call('GET', `/api/orgs/${ORG}/members`, { token: bob })).status).toBe(403);
    });

    it('declares an audit action or exemption on every identity route, as docs/identity-api.md lists them', () => {
      // The identity API's paths (other routes share /api/orgs/{org}, e.g. the audit log's).
      const identity = h.server.app.routes.filter((r) =>
        /^\/api\/(login|logout|user(\/|$)|orgs\/:org\/(tokens|teams|members|settings)(\/|$))/.test(r.url),
      );
      expect(identity.length).toBe(25);
      const documented = new Map<string, string>();
      for (const [, method, path, audit] of DOCS.matchAll(
        /^\| (GET|POST|PATCH|DELETE) \| `([^`]+)` \| [^|]+ \| ([^|]+) \|$/gm,
      ))
        documented.set(`${method} ${path}`, audit!.trim());
      const registered = new Map<string, string>();
      for (const route of identity) {
        const audit = route.audit;
        const declared =
          'action' in audit
            ? [audit.action]
                .flat()
                .map((e) => `\`${e}\``)
                .join(', ')
            : 'exempt';
        registered.set(`${route.method} ${route.url.replace(/:(\w+)/g, '{$1}')}`, declared);
      }
      expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(registered));
    });

    it('never writes a token value or password into a record or a log line', async () => {
      const records = await h.allRecordText();
      const logs = h.logs.join('');
      expect(h.logs.length).toBeGreaterThan(20);
      for (const secret of h.secrets) {
        expect(records.includes(secret), 'a secret in the audit records').toBe(false);
        expect(logs.includes(secret), 'a secret in the server log').toBe(false);
      }
    });
  });
}
