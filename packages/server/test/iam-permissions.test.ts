import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIamService, type IamService } from '../src/iam/iam-service.js';
import {
  ENVIRONMENT_PERMISSIONS,
  maxPermission,
  type EnvironmentPermission,
  type OrgRole,
} from '../src/iam/permissions.js';
import { userPrincipal, type Principal } from '../src/iam/principal.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';

type Grant = readonly [team: string, project: string, environment: string, permission: EnvironmentPermission];

/** Team grants in `acme`. */
const GRANTS: readonly Grant[] = [
  ['dev', 'app', 'dev', 'open'],
  ['dev', 'app', 'prod', 'read'],
  ['ops', 'app', '*', 'write'],
  ['ops', 'infra', 'net', 'admin'],
  ['empty', 'app', 'none-such', 'read'],
];

/** Users of `acme` (and one outsider) with their role and teams. */
const USERS: Readonly<Record<string, { role?: OrgRole; teams: readonly string[] }>> = {
  root: { role: 'admin', teams: [] },
  plain: { role: 'member', teams: [] },
  dana: { role: 'member', teams: ['dev'] },
  dora: { role: 'member', teams: ['dev', 'ops'] },
  audrey: { role: 'auditor', teams: ['ops'] },
  outsider: { teams: [] },
};

const TARGETS = [
  ['app', 'dev'],
  ['app', 'prod'],
  ['app', 'staging'],
  ['infra', 'net'],
  ['web', 'site'],
] as const;

/** How each principal is obtained, and what the naive model says it is. */
type Subject =
  | { name: string; kind: 'password' | 'session' | 'personal'; user: string }
  | { name: string; kind: 'organization'; org: string }
  | { name: string; kind: 'team'; org: string; team: string };

const SUBJECTS: readonly Subject[] = [
  ...Object.keys(USERS).map((user) => ({ name: `${user} (password)`, kind: 'password' as const, user })),
  { name: 'dana (session)', kind: 'session', user: 'dana' },
  { name: 'dora (personal token)', kind: 'personal', user: 'dora' },
  { name: 'root (personal token)', kind: 'personal', user: 'root' },
  { name: 'audrey (personal token)', kind: 'personal', user: 'audrey' },
  { name: 'acme organization token', kind: 'organization', org: 'acme' },
  { name: 'globex organization token', kind: 'organization', org: 'globex' },
  { name: 'dev team token', kind: 'team', org: 'acme', team: 'dev' },
  { name: 'ops team token', kind: 'team', org: 'acme', team: 'ops' },
  { name: 'empty team token', kind: 'team', org: 'acme', team: 'empty' },
];

/** The rules, spelled out naively: the cross-check for the SQL resolution. */
function expectedRole(subject: Subject): OrgRole | undefined {
  if (subject.kind === 'organization') return subject.org === 'acme' ? 'admin' : undefined;
  if (subject.kind === 'team') return 'member';
  return USERS[subject.user]!.role;
}

function expectedPermission(
  subject: Subject,
  orgDefault: EnvironmentPermission,
  [project, env]: readonly [string, string],
): EnvironmentPermission {
  const grantsOf = (teams: readonly string[]) =>
    GRANTS.filter(([t, p, e]) => teams.includes(t) && p === project && (e === env || e === '*')).map(
      (g) => g[3],
    );
  const role = expectedRole(subject);
  if (role === 'admin') return 'admin';
  if (role !== 'member') return 'none';
  if (subject.kind === 'team') return maxPermission(...grantsOf([subject.team]));
  if (subject.kind === 'organization') throw new Error('unreachable');
  return maxPermission(orgDefault, ...grantsOf(USERS[subject.user]!.teams));
}

for (const dialect of DIALECTS) {
  describe(`permission resolution on ${dialect}`, () => {
    let db: TestDatabase;
    let storage: Storage;
    let iam: IamService;
    const principals = new Map<string, Principal>();

    beforeAll(async () => {
      db = testDatabase(dialect);
      storage = await db.open();
      iam = createIamService({ scrypt: { N: 1024, r: 8, p: 1 } });
      const d = storage.db;
      await iam.createOrganization(d, { login: 'acme' });
      await iam.createOrganization(d, { login: 'globex' });
      for (const team of ['dev', 'ops', 'empty']) await iam.createTeam(d, 'acme', { name: team });
      for (const [login, { role, teams }] of Object.entries(USERS)) {
        await iam.createUser(d, { login, password: 'a long enough password' });
        if (role) await iam.addMember(d, 'acme', login, role);
        for (const team of teams) await iam.addTeamMember(d, 'acme', team, login);
      }
      // Membership elsewhere grants nothing in acme.
      await iam.addMember(d, 'globex', 'outsider', 'admin');
      for (const [team, project, environment, permission] of GRANTS)
        await iam.grantTeamEnvironmentPermission(d, 'acme', team, { project, environment, permission });
      for (const s of SUBJECTS) {
        let principal: Principal;
        if (s.kind === 'password') {
          principal = userPrincipal(await iam.verifyPassword(d, s.user, 'a long enough password'));
        } else if (s.kind === 'session') {
          const user = await iam.getUserByLogin(d, s.user);
          principal = await iam.authenticateToken(d, (await iam.createSession(d, user.id)).token);
        } else {
          const request =
            'user' in s
              ? { kind: 'personal' as const, user: s.user, description: s.name }
              : 'team' in s
                ? { kind: s.kind, org: s.org, team: s.team, description: s.name }
                : { kind: s.kind, org: s.org, description: s.name };
          principal = await iam.authenticateToken(d, (await iam.createToken(d, request)).token);
        }
        principals.set(s.name, principal);
      }
    });

    afterAll(async () => {
      await storage.close();
      await db.drop();
    });

    it.each(SUBJECTS.map((s) => [s.name, s] as const))('organization role of %s', async (_, subject) => {
      expect(await iam.orgRole(storage.db, principals.get(subject.name)!, 'acme')).toBe(
        expectedRole(subject),
      );
    });

    for (const orgDefault of ENVIRONMENT_PERMISSIONS) {
      it(`every principal × environment agrees with the naive rules when the default is ${orgDefault}`, async () => {
        await iam.updateOrganizationSettings(storage.db, 'acme', {
          defaultEnvironmentPermission: orgDefault,
        });
        const actual: string[] = [];
        const expected: string[] = [];
        for (const s of SUBJECTS) {
          for (const target of TARGETS) {
            const p = await iam.environmentPermission(
              storage.db,
              principals.get(s.name)!,
              'acme',
              target[0],
              target[1],
            );
            actual.push(`${s.name} ${target.join('/')}: ${p}`);
            expected.push(`${s.name} ${target.join('/')}: ${expectedPermission(s, orgDefault, target)}`);
          }
        }
        expect(actual).toEqual(expected);
      });
    }

    // Spot checks that pin the decisions themselves, not just agreement with the model.
    it.each([
      ['root (password)', 'web', 'site', 'admin', 'org admins hold admin on everything'],
      ['acme organization token', 'web', 'site', 'admin', 'an organization token acts as an org admin'],
      ['globex organization token', 'app', 'dev', 'none', 'a token is confined to its own organization'],
      [
        'audrey (password)',
        'app',
        'prod',
        'none',
        'auditors have no environment access, whatever their teams',
      ],
      ['outsider (password)', 'app', 'dev', 'none', 'non-members get nothing, even admins elsewhere'],
      ['plain (password)', 'app', 'dev', 'read', 'members get the organization default'],
      ['dana (password)', 'app', 'dev', 'open', 'a team grant raises the default'],
      [
        'dora (password)',
        'app',
        'dev',
        'write',
        'the strongest grant of all the member’s teams wins (* on the project)',
      ],
      ['dora (personal token)', 'infra', 'net', 'admin', 'a personal token acts as its user'],
      ['dev team token', 'web', 'site', 'none', 'a team token does not get the organization default'],
      ['dev team token', 'app', 'dev', 'open', 'a team token holds its team’s grants'],
      ['ops team token', 'app', 'staging', 'write', 'a * grant covers every environment of the project'],
    ] as const)('%s on %s/%s is %s: %s', async (name, project, env, expected, _why) => {
      await iam.updateOrganizationSettings(storage.db, 'acme', { defaultEnvironmentPermission: 'read' });
      expect(await iam.environmentPermission(storage.db, principals.get(name)!, 'acme', project, env)).toBe(
        expected,
      );
    });

    it('follows membership changes at once: a principal is re-resolved on every call', async () => {
      const dana = principals.get('dana (password)')!;
      await iam.removeTeamMember(storage.db, 'acme', 'dev', 'dana');
      await iam.updateOrganizationSettings(storage.db, 'acme', { defaultEnvironmentPermission: 'none' });
      expect(await iam.environmentPermission(storage.db, dana, 'acme', 'app', 'dev')).toBe('none');
      await iam.addTeamMember(storage.db, 'acme', 'dev', 'dana');
      expect(await iam.environmentPermission(storage.db, dana, 'acme', 'app', 'dev')).toBe('open');
    });

    it('refuses malformed project and environment names and unknown organizations', async () => {
      const root = principals.get('root (password)')!;
      await expect(iam.environmentPermission(storage.db, root, 'acme', 'app', '*')).rejects.toMatchObject({
        code: 'invalid-name',
      });
      await expect(
        iam.environmentPermission(storage.db, root, 'initech', 'app', 'dev'),
      ).rejects.toMatchObject({
        code: 'not-found',
      });
    });
  });
}
