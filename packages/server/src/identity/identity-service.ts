import type { EventId } from '@vigil/protocol';
import type { Caller } from '../esc/esc-service.js';
import { IamError } from '../iam/errors.js';
import type {
  CreateTokenRequest,
  IamService,
  Member,
  Organization,
  Team,
  TeamDetail,
  TokenInfo,
  User,
} from '../iam/iam-service.js';
import {
  checkEnvironmentName,
  checkProjectName,
  checkTeamName,
  checkUserLogin,
  nameKey,
} from '../iam/names.js';
import { checkPassword } from '../iam/passwords.js';
import { ALL_ENVIRONMENTS, type EnvironmentPermission, type OrgRole } from '../iam/permissions.js';
import type { PrincipalUser } from '../iam/principal.js';
import { createAuthorizer } from '../esc/authorizer.js';
import type { Kernel } from '../kernel/kernel.js';
import type { Storage } from '../storage/storage.js';
import { performInEach } from './each-organization.js';
import { IdentityError } from './errors.js';
import { userOrganizations, type UserOrganization } from './user-organizations.js';

export interface IdentityServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
}

/** A token to create; `expiresAt` in epoch milliseconds, absent for never. */
export interface NewToken {
  readonly description: string;
  readonly expiresAt?: number;
}

/** Adding a member; `name`, `email` and `password` create the account when the login is new (and only then). */
export interface NewMember {
  readonly role: OrgRole;
  readonly name?: string;
  readonly email?: string;
  readonly password?: string;
}

/** One environment grant of a team; `environment` `*` covers the project, permission `none` removes the grant. */
export interface GrantChange {
  readonly project: string;
  readonly environment: string;
  readonly permission: EnvironmentPermission;
}

export interface TeamChanges {
  readonly displayName?: string;
  readonly description?: string;
  readonly addMembers?: readonly string[];
  readonly removeMembers?: readonly string[];
  readonly environmentPermissions?: readonly GrantChange[];
}

export type IdentityService = ReturnType<typeof createIdentityService>;

/** Roles that may read an organization's members, teams and settings. */
const ANY_ROLE: readonly OrgRole[] = ['admin', 'member', 'auditor'];
const ADMIN: readonly OrgRole[] = ['admin'];

const iso = (ms: number) => new Date(ms).toISOString();
const expiry = (expiresAt: number | null | undefined) =>
  expiresAt ? `expires ${iso(expiresAt)}` : 'never expires';
const tokenLabel = (description: string, id: string) =>
  description ? `"${description}" (${id})` : `(${id})`;

/**
 * The identity API's operations: the caller's own identity, personal, organization and team tokens, members, teams
 * and organization settings. Each change goes through the kernel — authorized against the caller's organization
 * role (refusals recorded as `auth-failure-organization-role` before they are answered), executed with `iam` in the
 * kernel's transaction (inside `run`, only its `tx`), and recorded with it. Listings are not recorded; their
 * refusals are. Token text appears only in the answer that creates it: records name tokens by id and description.
 */
export function createIdentityService(deps: IdentityServiceDeps) {
  const { storage, kernel, iam } = deps;
  // Authorization and listings read on the reader: on SQLite the writer connection is busy with ledger batches,
  // and waiting for it would serialize every request behind every commit. Changes go through `run`'s `tx`.
  const db = storage.reader;

  // ---------------------------------------------------------------- authorization

  const authorizer = createAuthorizer({ iam, storage });
  const roleRefusal = (caller: Caller, org: string, allowed: readonly OrgRole[], action: string) =>
    authorizer.roleRefusal(caller, org, allowed, action, { reqOrgAdmin: allowed === ADMIN });

  /** For operations whose success is not recorded (listings): records the refusal, if any, and refuses. */
  async function requireRole(
    caller: Caller,
    org: string,
    allowed: readonly OrgRole[],
    action: string,
  ): Promise<void> {
    const refusal = await roleRefusal(caller, org, allowed, action);
    if (refusal) await kernel.refuse(caller.ctx, org, refusal);
  }

  /** The user behind the caller (a session or personal token); organization and team tokens have none. */
  function callerUser(caller: Caller): PrincipalUser {
    const user = caller.principal.user;
    if (!user)
      throw new IdentityError(
        'wrong-credential',
        "this endpoint acts on a user's own identity; organization and team tokens have none",
      );
    return user;
  }

  async function callerOrgs(caller: Caller): Promise<UserOrganization[]> {
    return userOrganizations(db, callerUser(caller).id);
  }

  /** Organizations to record a change of the caller's own identity in: at least one, or nothing may change. */
  async function recordingOrgs(caller: Caller): Promise<string[]> {
    const orgs = await callerOrgs(caller);
    if (orgs.length === 0)
      throw new IdentityError(
        'no-organization',
        'the user is a member of no organization, so no audit log could record this',
      );
    return orgs.map((o) => o.login);
  }

  // ---------------------------------------------------------------- tokens (shared)

  /** The live token `id` if `matches` it; otherwise `not-found` — never saying that it exists elsewhere. */
  async function ownedToken(
    tx: Parameters<IamService['getToken']>[0],
    id: string,
    matches: (token: TokenInfo) => boolean,
  ): Promise<TokenInfo> {
    const token = await iam.getToken(tx, id);
    if (!matches(token) || token.revokedAt !== null) throw new IamError('not-found', 'no such token');
    return token;
  }

  async function revoke(tx: Parameters<IamService['revokeToken']>[0], id: string): Promise<void> {
    try {
      await iam.revokeToken(tx, id);
    } catch (error) {
      // Revoked concurrently since it was read: for this caller, it is gone.
      if (error instanceof IamError && error.code === 'token-revoked')
        throw new IamError('not-found', 'no such token');
      throw error;
    }
  }

  function createOrgLevelToken(
    caller: Caller,
    org: string,
    request: CreateTokenRequest,
    event: EventId,
    what: string,
    team?: string,
  ) {
    return kernel.perform(caller.ctx, {
      org,
      event,
      ...(team ? { resource: { team } } : {}),
      authorize: () => roleRefusal(caller, org, ADMIN, `create ${what}s`),
      run: async (tx) => {
        const created = await iam.createToken(tx, request);
        return {
          result: { id: created.id, tokenValue: created.token },
          description: `Created ${what} ${tokenLabel(request.description, created.id)}, ${expiry(created.expiresAt)}`,
          resource: { ...(team ? { team } : {}), token: created.id },
        };
      },
    });
  }

  function deleteOrgLevelToken(
    caller: Caller,
    org: string,
    id: string,
    event: EventId,
    what: string,
    matches: (token: TokenInfo) => boolean,
    team?: string,
  ) {
    return kernel.perform(caller.ctx, {
      org,
      event,
      ...(team ? { resource: { team } } : {}),
      authorize: () => roleRefusal(caller, org, ADMIN, `delete ${what}s`),
      run: async (tx) => {
        const token = await ownedToken(tx, id, matches);
        await revoke(tx, token.id);
        return {
          result: undefined,
          description: `Deleted ${what} ${tokenLabel(token.description, token.id)}`,
          resource: { ...(team ? { team } : {}), token: token.id },
        };
      },
    });
  }

  const sameName = (a: string | undefined, b: string) => a !== undefined && nameKey(a) === nameKey(b);

  return {
    // ---------------------------------------------------------------- the caller

    async currentUser(caller: Caller): Promise<{ user: User; organizations: UserOrganization[] }> {
      const user = await iam.getUserById(db, callerUser(caller).id);
      return { user, organizations: await callerOrgs(caller) };
    },

    /** The organization the caller joined first, or undefined. */
    async defaultOrganization(caller: Caller): Promise<UserOrganization | undefined> {
      return (await callerOrgs(caller))[0];
    },

    // ---------------------------------------------------------------- personal tokens

    async listPersonalTokens(caller: Caller): Promise<TokenInfo[]> {
      return iam.listTokens(db, { kind: 'personal', user: callerUser(caller).login });
    },

    /** Recorded as `personal-token-created` in every organization of the caller. */
    async createPersonalToken(
      caller: Caller,
      request: NewToken,
    ): Promise<{ id: string; tokenValue: string }> {
      const user = callerUser(caller);
      return performInEach(
        kernel,
        caller.ctx,
        await recordingOrgs(caller),
        'personal-token-created',
        async (tx) => {
          const created = await iam.createToken(tx, { kind: 'personal', user: user.login, ...request });
          return {
            result: { id: created.id, tokenValue: created.token },
            description: `Created personal access token ${tokenLabel(request.description, created.id)} of "${user.login}", ${expiry(created.expiresAt)}`,
            resource: { member: user.login, token: created.id },
          };
        },
      );
    },

    /** Revokes one of the caller's own personal tokens; recorded in every organization of the caller. */
    async deletePersonalToken(caller: Caller, id: string): Promise<void> {
      const user = callerUser(caller);
      const mine = (t: TokenInfo) => t.kind === 'personal' && sameName(t.user, user.login);
      // Checked before anything is recorded, so an unknown id is a plain 404.
      await ownedToken(db, id, mine);
      await performInEach(
        kernel,
        caller.ctx,
        await recordingOrgs(caller),
        'personal-token-deleted',
        async (tx) => {
          const token = await ownedToken(tx, id, mine);
          await revoke(tx, token.id);
          return {
            result: undefined,
            description: `Deleted personal access token ${tokenLabel(token.description, token.id)} of "${user.login}"`,
            resource: { member: user.login, token: token.id },
          };
        },
      );
    },

    // ---------------------------------------------------------------- organization and team tokens

    async listOrganizationTokens(caller: Caller, org: string): Promise<TokenInfo[]> {
      await requireRole(caller, org, ADMIN, 'list organization access tokens');
      return iam.listTokens(db, { kind: 'organization', org });
    },

    createOrganizationToken(caller: Caller, org: string, request: NewToken) {
      return createOrgLevelToken(
        caller,
        org,
        { kind: 'organization', org, ...request },
        'organization-token-created',
        'organization access token',
      );
    },

    deleteOrganizationToken(caller: Caller, org: string, id: string): Promise<void> {
      return deleteOrgLevelToken(
        caller,
        org,
        id,
        'organization-token-deleted',
        'organization access token',
        (t) => t.kind === 'organization' && sameName(t.org, org),
      );
    },

    async listTeamTokens(caller: Caller, org: string, team: string): Promise<TokenInfo[]> {
      checkTeamName(team);
      await requireRole(caller, org, ADMIN, `list access tokens of team "${team}"`);
      return iam.listTokens(db, { kind: 'team', org, team });
    },

    createTeamToken(caller: Caller, org: string, team: string, request: NewToken) {
      checkTeamName(team);
      return createOrgLevelToken(
        caller,
        org,
        { kind: 'team', org, team, ...request },
        'team-token-created',
        `access token of team "${team}"`,
        team,
      );
    },

    async deleteTeamToken(caller: Caller, org: string, team: string, id: string): Promise<void> {
      checkTeamName(team);
      return deleteOrgLevelToken(
        caller,
        org,
        id,
        'team-token-deleted',
        `access token of team "${team}"`,
        (t) => t.kind === 'team' && sameName(t.org, org) && sameName(t.team, team),
        team,
      );
    },

    // ---------------------------------------------------------------- members

    async listMembers(caller: Caller, org: string): Promise<Member[]> {
      await requireRole(caller, org, ANY_ROLE, 'list members');
      return iam.listMembers(db, org);
    },

    /**
     * Adds a user to the organization. A new login needs a password and creates the account; for an existing user,
     * `name`, `email` and `password` are refused (an admin of one organization must not reset another's account).
     */
    async addMember(caller: Caller, org: string, login: string, request: NewMember): Promise<Member> {
      const creates =
        request.password !== undefined || request.name !== undefined || request.email !== undefined;
      if (request.password !== undefined) checkPassword(request.password);
      return kernel.perform(caller.ctx, {
        org,
        event: 'member-added',
        resource: { member: login },
        authorize: () => roleRefusal(caller, org, ADMIN, 'add members'),
        // scrypt takes ~100 ms: hash before the transaction, which holds the ledger's batch meanwhile.
        prepare: async () =>
          request.password === undefined ? undefined : await iam.hashNewPassword(request.password),
        run: async (tx, passwordHash) => {
          const existing = await iam.getUserByLogin(tx, login).catch((error: unknown) => {
            if (error instanceof IamError && error.code === 'not-found') return undefined;
            throw error;
          });
          if (existing && creates)
            throw new IamError(
              'already-exists',
              `user ${existing.login} already exists: add them with a role only (name, email and password belong to the account)`,
            );
          if (!existing && request.password === undefined)
            throw new IamError('not-found', `no user ${login}: include a password to create the account`);
          const user =
            existing ??
            (await iam.createUser(tx, {
              login,
              ...(request.name !== undefined ? { name: request.name } : {}),
              ...(request.email !== undefined ? { email: request.email } : {}),
              passwordHash: passwordHash!,
            }));
          const member = await iam.addMember(tx, org, user.login, request.role);
          return {
            result: member,
            description: `Added "${user.login}" to organization "${org}" as ${member.role}${existing ? '' : ' (new account)'}`,
            resource: { member: user.login },
          };
        },
      });
    },

    async changeMemberRole(caller: Caller, org: string, login: string, role: OrgRole): Promise<Member> {
      checkUserLogin(login);
      return kernel.perform(caller.ctx, {
        org,
        event: 'member-role-changed',
        resource: { member: login },
        authorize: () => roleRefusal(caller, org, ADMIN, 'change member roles'),
        run: async (tx) => {
          const user = await iam.getUserByLogin(tx, login);
          const changed = await iam.setMemberRole(tx, org, user.login, role);
          const member = (await iam.listMembers(tx, org)).find((m) => m.user.id === user.id)!;
          return {
            result: member,
            description:
              changed.previousRole === changed.role
                ? `Kept the role of "${user.login}" in organization "${org}" as ${changed.role} (unchanged)`
                : `Changed the role of "${user.login}" in organization "${org}" from ${changed.previousRole} to ${changed.role}`,
            resource: { member: user.login },
          };
        },
      });
    },

    async removeMember(caller: Caller, org: string, login: string): Promise<void> {
      checkUserLogin(login);
      return kernel.perform(caller.ctx, {
        org,
        event: 'member-removed',
        resource: { member: login },
        authorize: () => roleRefusal(caller, org, ADMIN, 'remove members'),
        run: async (tx) => {
          const user = await iam.getUserByLogin(tx, login);
          const { role } = await iam.removeMember(tx, org, user.login);
          return {
            result: undefined,
            description: `Removed "${user.login}" (${role}) from organization "${org}"`,
            resource: { member: user.login },
          };
        },
      });
    },

    // ---------------------------------------------------------------- teams

    async listTeams(caller: Caller, org: string): Promise<Team[]> {
      await requireRole(caller, org, ANY_ROLE, 'list teams');
      return iam.listTeams(db, org);
    },

    async getTeam(caller: Caller, org: string, team: string): Promise<TeamDetail> {
      checkTeamName(team);
      await requireRole(caller, org, ANY_ROLE, `read team "${team}"`);
      return iam.getTeam(db, org, team);
    },

    createTeam(
      caller: Caller,
      org: string,
      input: { name: string; displayName?: string; description?: string },
    ): Promise<Team> {
      checkTeamName(input.name);
      return kernel.perform(caller.ctx, {
        org,
        event: 'team-created',
        resource: { team: input.name },
        authorize: () => roleRefusal(caller, org, ADMIN, 'create teams'),
        run: async (tx) => {
          const team = await iam.createTeam(tx, org, input);
          return {
            result: team,
            description: `Created team "${team.name}" in organization "${org}"`,
            resource: { team: team.name },
          };
        },
      });
    },

    /** Applies every change in one transaction and one `team-updated` record that lists exactly what changed. */
    async updateTeam(caller: Caller, org: string, team: string, changes: TeamChanges): Promise<TeamDetail> {
      checkTeamName(team);
      for (const login of [...(changes.addMembers ?? []), ...(changes.removeMembers ?? [])])
        checkUserLogin(login);
      for (const g of changes.environmentPermissions ?? []) {
        checkProjectName(g.project);
        if (g.environment !== ALL_ENVIRONMENTS) checkEnvironmentName(g.environment);
      }
      return kernel.perform(caller.ctx, {
        org,
        event: 'team-updated',
        resource: { team },
        authorize: () => roleRefusal(caller, org, ADMIN, `update team "${team}"`),
        run: async (tx) => {
          const before = await iam.getTeam(tx, org, team);
          const done: string[] = [];
          const rename: { displayName?: string; description?: string } = {};
          if (changes.displayName !== undefined && changes.displayName !== before.displayName) {
            rename.displayName = changes.displayName;
            done.push(`display name "${before.displayName}" → "${changes.displayName}"`);
          }
          if (changes.description !== undefined && changes.description !== before.description) {
            rename.description = changes.description;
            done.push(`description "${before.description}" → "${changes.description}"`);
          }
          if (Object.keys(rename).length > 0) await iam.updateTeam(tx, org, before.name, rename);
          const added: string[] = [];
          for (const login of changes.addMembers ?? []) {
            await iam.addTeamMember(tx, org, before.name, login);
            added.push((await iam.getUserByLogin(tx, login)).login);
          }
          if (added.length > 0) done.push(`added ${list(added)}`);
          const removed: string[] = [];
          for (const login of changes.removeMembers ?? []) {
            await iam.removeTeamMember(tx, org, before.name, login);
            removed.push((await iam.getUserByLogin(tx, login)).login);
          }
          if (removed.length > 0) done.push(`removed ${list(removed)}`);
          for (const g of changes.environmentPermissions ?? []) {
            const scope = `"${g.project}/${g.environment}"`;
            const held = before.grants.find(
              (h) => h.project === g.project && h.environment === g.environment,
            );
            if (g.permission === 'none') {
              if (!held) continue;
              await iam.revokeTeamEnvironmentPermission(tx, org, before.name, g);
              done.push(`revoked ${held.permission} on ${scope}`);
            } else if (held?.permission !== g.permission) {
              await iam.grantTeamEnvironmentPermission(tx, org, before.name, g);
              done.push(
                held
                  ? `${scope} ${held.permission} → ${g.permission}`
                  : `granted ${g.permission} on ${scope}`,
              );
            }
          }
          const after = await iam.getTeam(tx, org, before.name);
          return {
            result: after,
            description: `Updated team "${before.name}" in organization "${org}": ${done.length > 0 ? done.join('; ') : 'nothing changed'}`,
            resource: { team: before.name },
          };
        },
      });
    },

    async deleteTeam(caller: Caller, org: string, team: string): Promise<void> {
      checkTeamName(team);
      return kernel.perform(caller.ctx, {
        org,
        event: 'team-deleted',
        resource: { team },
        authorize: () => roleRefusal(caller, org, ADMIN, 'delete teams'),
        run: async (tx) => {
          const tokens = await iam.listTokens(tx, { kind: 'team', org, team });
          const deleted = await iam.deleteTeam(tx, org, team);
          return {
            result: undefined,
            description: `Deleted team "${deleted.name}" from organization "${org}" with its members, grants and ${tokens.length} live access token${tokens.length === 1 ? '' : 's'}`,
            resource: { team: deleted.name },
          };
        },
      });
    },

    // ---------------------------------------------------------------- organization settings

    async getSettings(caller: Caller, org: string): Promise<Organization> {
      await requireRole(caller, org, ANY_ROLE, 'read organization settings');
      return iam.getOrganization(db, org);
    },

    updateSettings(
      caller: Caller,
      org: string,
      settings: { defaultEnvironmentPermission: EnvironmentPermission },
    ): Promise<Organization> {
      return kernel.perform(caller.ctx, {
        org,
        event: 'organization-settings-changed',
        authorize: () => roleRefusal(caller, org, ADMIN, 'change organization settings'),
        run: async (tx) => {
          const before = await iam.getOrganization(tx, org);
          const after = await iam.updateOrganizationSettings(tx, org, settings);
          return {
            result: after,
            description:
              before.defaultEnvironmentPermission === after.defaultEnvironmentPermission
                ? `Kept the default environment permission of organization "${after.login}" at ${after.defaultEnvironmentPermission} (unchanged)`
                : `Changed the default environment permission of organization "${after.login}" from ${before.defaultEnvironmentPermission} to ${after.defaultEnvironmentPermission}`,
          };
        },
      });
    },
  };
}

function list(logins: readonly string[]): string {
  return logins.map((l) => `"${l}"`).join(', ');
}
