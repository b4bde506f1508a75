import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, IamOrganizationsTable, IamTeamsTable, IamUsersTable } from '../storage/schema.js';
import { IamError } from './errors.js';
import {
  checkEnvironmentName,
  checkOrgLogin,
  checkProjectName,
  checkTeamName,
  checkUserLogin,
  nameKey,
} from './names.js';
import {
  checkPassword,
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  parseHash,
  verifyPasswordHash,
  type ScryptParams,
} from './passwords.js';
import {
  ALL_ENVIRONMENTS,
  DEFAULT_ENVIRONMENT_PERMISSION,
  isEnvironmentPermission,
  isOrgRole,
  maxPermission,
  type EnvironmentPermission,
  type OrgRole,
} from './permissions.js';
import { decisionKey, type AccessDecision, type DecisionCache } from './decision-cache.js';
import type { Principal, PrincipalUser } from './principal.js';
import {
  generateTokenText,
  isWellFormedTokenText,
  MAX_TOKEN_LENGTH,
  MIN_SUPPLIED_TOKEN_LENGTH,
  tokenHash,
  type TokenKind,
} from './token-text.js';

/**
 * Where IAM methods run: the database, or a transaction of it (a `Transaction<Database>` is a `Kysely<Database>`).
 * Pass the lead's audited transaction to make an identity change and its audit record one atomic unit; methods
 * that write several rows open their own transaction when given a plain `Kysely`. Needs the writer (even
 * `authenticateToken` may write `last_used_at`).
 */
export type IamExecutor = Kysely<Database>;

/** last_used_at is rewritten at most once a minute per token, so authenticating does not write on every request. */
export const LAST_USED_RESOLUTION_MS = 60_000;
/** A sign-in lasts a working day unless the caller asks for less. */
export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60_000;
/** Sessions are short-lived by definition; anything longer should be a personal access token. */
export const MAX_SESSION_TTL_MS = 30 * 24 * 60 * 60_000;
/** Token descriptions, team descriptions and display names are bounded like every other input. */
export const MAX_DESCRIPTION_LENGTH = 1024;
export const MAX_DISPLAY_NAME_LENGTH = 200;

export interface Organization {
  readonly id: number;
  readonly login: string;
  readonly name: string;
  readonly defaultEnvironmentPermission: EnvironmentPermission;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface User extends PrincipalUser {
  /** Whether the user has a local password (can sign in with one). */
  readonly hasPassword: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface Member {
  readonly user: PrincipalUser;
  readonly role: OrgRole;
  readonly createdAt: number;
}

export interface Team {
  readonly id: number;
  readonly org: string;
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface TeamGrant {
  readonly project: string;
  /** An environment name, or `*` for every environment of the project. */
  readonly environment: string;
  readonly permission: EnvironmentPermission;
}

export interface TeamDetail extends Team {
  readonly members: readonly PrincipalUser[];
  readonly grants: readonly TeamGrant[];
}

/** A token as listings show it: never its text, never its hash. */
export interface TokenInfo {
  readonly id: string;
  readonly kind: TokenKind;
  readonly description: string;
  /** Login of the user a personal token or session belongs to. */
  readonly user?: string;
  /** Login of the organization an organization or team token belongs to. */
  readonly org?: string;
  readonly team?: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/** What to create; `expiresAt` is epoch milliseconds (absent: never expires). */
export type CreateTokenRequest =
  | {
      readonly kind: 'personal';
      readonly user: string;
      readonly description: string;
      readonly expiresAt?: number;
    }
  | {
      readonly kind: 'team';
      readonly org: string;
      readonly team: string;
      readonly description: string;
      readonly expiresAt?: number;
    }
  | {
      readonly kind: 'organization';
      readonly org: string;
      readonly description: string;
      readonly expiresAt?: number;
    };

/** Which tokens to list; revoked ones only with `includeRevoked`. */
export type TokenFilter = (
  | { readonly kind: 'personal' | 'session'; readonly user: string }
  | { readonly kind: 'team'; readonly org: string; readonly team: string }
  | { readonly kind: 'organization'; readonly org: string }
) & { readonly includeRevoked?: boolean };

/** A token's text, returned exactly once, at creation; only its hash is stored. */
export interface CreatedToken {
  readonly id: string;
  readonly token: string;
  readonly expiresAt: number | null;
}

export interface IamServiceDeps {
  readonly now?: () => number;
  /** scrypt cost for new password hashes; verification reads the cost from each stored hash. */
  readonly scrypt?: ScryptParams;
  /**
   * Keeps authentication and authorization decisions read on `cache.reader` in memory (see `DecisionCache`). The
   * caller must call `cache.committed()` after every commit.
   */
  readonly cache?: DecisionCache;
  /**
   * Where other processes keep caches too (PostgreSQL): tells them of a change, in the writing transaction when
   * there is one (`notifyIamChange`), else once the write is done.
   */
  readonly notify?: (executor: IamExecutor) => Promise<void>;
}

export type IamService = ReturnType<typeof createIamService>;

type UserRow = Selectable<IamUsersTable>;
type OrgRow = Selectable<IamOrganizationsTable>;
type TeamRow = Selectable<IamTeamsTable>;

/** Organizations, users, members, teams, grants, tokens and sessions; authentication and permission resolution. */
export function createIamService(deps: IamServiceDeps = {}) {
  const now = deps.now ?? Date.now;
  const scryptParams = deps.scrypt ?? DEFAULT_SCRYPT_PARAMS;
  // Unknown users are checked against this, so their answer takes as long as a wrong password's.
  let dummyHash: Promise<string> | undefined;

  // ---- lookups ----

  async function orgRow(db: IamExecutor, login: string): Promise<OrgRow> {
    const row = await db
      .selectFrom('iam_organizations')
      .selectAll()
      .where('login_key', '=', nameKey(checkOrgLogin(login)))
      .executeTakeFirst();
    if (!row) throw new IamError('not-found', `no organization ${login}`);
    return row;
  }

  /** An organization's row and a user's role in it (undefined: not a member). */
  async function orgWithRole(
    db: IamExecutor,
    login: string,
    userId: number,
  ): Promise<{ org: OrgRow; memberRole: OrgRole | undefined }> {
    const row = await db
      .selectFrom('iam_organizations as o')
      .leftJoin('iam_members as m', (join) =>
        join.onRef('m.org_id', '=', 'o.id').on('m.user_id', '=', userId),
      )
      .selectAll('o')
      .select('m.role as member_role')
      .where('o.login_key', '=', nameKey(checkOrgLogin(login)))
      .executeTakeFirst();
    if (!row) throw new IamError('not-found', `no organization ${login}`);
    const { member_role: memberRole, ...org } = row;
    return { org, memberRole: (memberRole ?? undefined) as OrgRole | undefined };
  }

  async function userRow(db: IamExecutor, login: string): Promise<UserRow> {
    const row = await db
      .selectFrom('iam_users')
      .selectAll()
      .where('login_key', '=', nameKey(checkUserLogin(login)))
      .executeTakeFirst();
    if (!row) throw new IamError('not-found', `no user ${login}`);
    return row;
  }

  async function teamRow(db: IamExecutor, org: OrgRow, name: string): Promise<TeamRow> {
    const row = await db
      .selectFrom('iam_teams')
      .selectAll()
      .where('org_id', '=', org.id)
      .where('name_key', '=', nameKey(checkTeamName(name)))
      .executeTakeFirst();
    if (!row) throw new IamError('not-found', `no team ${name} in ${org.login}`);
    return row;
  }

  async function roleOf(db: IamExecutor, orgId: number, userId: number): Promise<OrgRole | undefined> {
    const row = await db
      .selectFrom('iam_members')
      .select('role')
      .where('org_id', '=', orgId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row ? (row.role as OrgRole) : undefined;
  }

  /**
   * Serializes membership changes of one organization, as the transaction's first statement: a write that changes
   * nothing takes the organization's row lock on PostgreSQL and the database write lock on SQLite (taken before
   * any read, so the snapshot cannot go stale). Two concurrent demotions then cannot each count the other admin.
   */
  async function lockOrg(tx: IamExecutor, org: string): Promise<void> {
    await tx
      .updateTable('iam_organizations')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('login_key', '=', nameKey(checkOrgLogin(org)))
      .execute();
  }

  async function adminCount(tx: IamExecutor, orgId: number): Promise<number> {
    const { n } = await tx
      .selectFrom('iam_members')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('org_id', '=', orgId)
      .where('role', '=', 'admin')
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  // ---- organizations ----

  async function createOrganization(
    db: IamExecutor,
    input: { login: string; name?: string; defaultEnvironmentPermission?: EnvironmentPermission },
  ): Promise<Organization> {
    const login = checkOrgLogin(input.login);
    const permission = checkPermission(input.defaultEnvironmentPermission ?? DEFAULT_ENVIRONMENT_PERMISSION);
    const t = now();
    const row = await db
      .insertInto('iam_organizations')
      .values({
        login,
        login_key: nameKey(login),
        name: checkDisplayName(input.name ?? login),
        default_environment_permission: permission,
        created_at: t,
        updated_at: t,
      })
      .onConflict((oc) => oc.column('login_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new IamError('already-exists', `organization ${login} already exists`);
    return toOrganization(row);
  }

  async function getOrganization(db: IamExecutor, login: string): Promise<Organization> {
    return toOrganization(await orgRow(db, login));
  }

  async function updateOrganizationSettings(
    db: IamExecutor,
    login: string,
    settings: { name?: string; defaultEnvironmentPermission?: EnvironmentPermission },
  ): Promise<Organization> {
    const org = await orgRow(db, login);
    const row = await db
      .updateTable('iam_organizations')
      .set({
        ...(settings.name !== undefined ? { name: checkDisplayName(settings.name) } : {}),
        ...(settings.defaultEnvironmentPermission !== undefined
          ? { default_environment_permission: checkPermission(settings.defaultEnvironmentPermission) }
          : {}),
        updated_at: now(),
      })
      .where('id', '=', org.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toOrganization(row);
  }

  // ---- users and passwords ----

  async function createUser(
    db: IamExecutor,
    input: {
      login: string;
      name?: string;
      email?: string;
      avatarUrl?: string;
      password?: string;
      /** A hash from `hashNewPassword`, computed before the transaction (scrypt takes ~100 ms). */
      passwordHash?: string;
    },
  ): Promise<User> {
    const login = checkUserLogin(input.login);
    if (input.passwordHash !== undefined && !parseHash(input.passwordHash)) {
      throw new IamError('invalid-argument', 'malformed password hash');
    }
    const passwordHash =
      input.passwordHash ??
      (input.password === undefined ? null : await hashPassword(checkPassword(input.password), scryptParams));
    const t = now();
    const row = await db
      .insertInto('iam_users')
      .values({
        login,
        login_key: nameKey(login),
        name: checkDisplayName(input.name ?? login),
        email: input.email === undefined ? null : checkEmail(input.email),
        avatar_url: input.avatarUrl === undefined ? null : checkUrl(input.avatarUrl),
        password_hash: passwordHash,
        created_at: t,
        updated_at: t,
      })
      .onConflict((oc) => oc.column('login_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new IamError('already-exists', `user ${login} already exists`);
    return toUser(row);
  }

  /** Hashes a new password with this service's cost, so callers can do it outside their transaction. */
  async function hashNewPassword(password: string): Promise<string> {
    return hashPassword(checkPassword(password), scryptParams);
  }

  async function getUserByLogin(db: IamExecutor, login: string): Promise<User> {
    return toUser(await userRow(db, login));
  }

  async function getUserById(db: IamExecutor, id: number): Promise<User> {
    const row = await db.selectFrom('iam_users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new IamError('not-found', `no user with id ${id}`);
    return toUser(row);
  }

  /** Sets (or replaces) the user's password and ends their sessions. */
  async function setPassword(db: IamExecutor, login: string, password: string): Promise<void> {
    const hash = await hashPassword(checkPassword(password), scryptParams);
    await atomically(db, async (tx) => {
      const user = await userRow(tx, login);
      const t = now();
      await tx
        .updateTable('iam_users')
        .set({ password_hash: hash, updated_at: t })
        .where('id', '=', user.id)
        .execute();
      await tx
        .updateTable('iam_tokens')
        .set({ revoked_at: t })
        .where('user_id', '=', user.id)
        .where('kind', '=', 'session')
        .where('revoked_at', 'is', null)
        .execute();
    });
  }

  /**
   * The user whose login and password these are, or `invalid-credentials` — the same error, after the same work,
   * for an unknown login, a user without a password and a wrong password. Rate limiting is the caller's
   * (`LoginRateLimiter`), since only it knows the client address.
   */
  async function verifyPassword(db: IamExecutor, login: string, password: string): Promise<User> {
    const row =
      typeof login === 'string' && /^[\x20-\x7e]{1,64}$/.test(login)
        ? await db
            .selectFrom('iam_users')
            .selectAll()
            .where('login_key', '=', nameKey(login))
            .executeTakeFirst()
        : undefined;
    const candidate = typeof password === 'string' && password.length <= 4 * 1024 ? password : '';
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'), scryptParams);
    const ok = await verifyPasswordHash(candidate, row?.password_hash ?? (await dummyHash));
    if (!row || row.password_hash === null || !ok)
      throw new IamError('invalid-credentials', 'wrong login or password');
    return toUser(row);
  }

  // ---- members ----

  async function addMember(
    db: IamExecutor,
    org: string,
    login: string,
    role: OrgRole = 'member',
  ): Promise<Member> {
    checkRole(role);
    const o = await orgRow(db, org);
    const u = await userRow(db, login);
    const row = await db
      .insertInto('iam_members')
      .values({ org_id: o.id, user_id: u.id, role, created_at: now() })
      .onConflict((oc) => oc.columns(['org_id', 'user_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new IamError('already-exists', `${u.login} is already a member of ${o.login}`);
    return { user: toPrincipalUser(u), role, createdAt: row.created_at };
  }

  /** Removes the member and their team memberships in the organization; refuses to remove the last admin. */
  async function removeMember(db: IamExecutor, org: string, login: string): Promise<{ role: OrgRole }> {
    return atomically(db, async (tx) => {
      await lockOrg(tx, org);
      const o = await orgRow(tx, org);
      const u = await userRow(tx, login);
      const role = await roleOf(tx, o.id, u.id);
      if (!role) throw new IamError('not-found', `${u.login} is not a member of ${o.login}`);
      if (role === 'admin' && (await adminCount(tx, o.id)) <= 1)
        throw new IamError('last-admin', `${u.login} is the last admin of ${o.login}`);
      await tx
        .deleteFrom('iam_team_members')
        .where('user_id', '=', u.id)
        .where('team_id', 'in', tx.selectFrom('iam_teams').select('id').where('org_id', '=', o.id))
        .execute();
      await tx.deleteFrom('iam_members').where('org_id', '=', o.id).where('user_id', '=', u.id).execute();
      return { role };
    });
  }

  /** Changes a member's role; refuses to demote the last admin. */
  async function setMemberRole(
    db: IamExecutor,
    org: string,
    login: string,
    role: OrgRole,
  ): Promise<{ role: OrgRole; previousRole: OrgRole }> {
    checkRole(role);
    return atomically(db, async (tx) => {
      await lockOrg(tx, org);
      const o = await orgRow(tx, org);
      const u = await userRow(tx, login);
      const previousRole = await roleOf(tx, o.id, u.id);
      if (!previousRole) throw new IamError('not-found', `${u.login} is not a member of ${o.login}`);
      if (previousRole === 'admin' && role !== 'admin' && (await adminCount(tx, o.id)) <= 1)
        throw new IamError('last-admin', `${u.login} is the last admin of ${o.login}`);
      if (role !== previousRole)
        await tx
          .updateTable('iam_members')
          .set({ role })
          .where('org_id', '=', o.id)
          .where('user_id', '=', u.id)
          .execute();
      return { role, previousRole };
    });
  }

  async function listMembers(db: IamExecutor, org: string): Promise<Member[]> {
    const o = await orgRow(db, org);
    const rows = await db
      .selectFrom('iam_members as m')
      .innerJoin('iam_users as u', 'u.id', 'm.user_id')
      .selectAll('u')
      .select(['m.role', 'm.created_at as member_since'])
      .where('m.org_id', '=', o.id)
      .orderBy('u.login_key')
      .execute();
    return rows.map((r) => ({
      user: toPrincipalUser(r),
      role: r.role as OrgRole,
      createdAt: r.member_since,
    }));
  }

  // ---- teams ----

  async function createTeam(
    db: IamExecutor,
    org: string,
    input: { name: string; displayName?: string; description?: string },
  ): Promise<Team> {
    const name = checkTeamName(input.name);
    const o = await orgRow(db, org);
    const t = now();
    const row = await db
      .insertInto('iam_teams')
      .values({
        org_id: o.id,
        name,
        name_key: nameKey(name),
        display_name: checkDisplayName(input.displayName ?? name),
        description: checkDescription(input.description ?? ''),
        created_at: t,
        updated_at: t,
      })
      .onConflict((oc) => oc.columns(['org_id', 'name_key']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new IamError('already-exists', `team ${name} already exists in ${o.login}`);
    return toTeam(row, o);
  }

  async function updateTeam(
    db: IamExecutor,
    org: string,
    team: string,
    changes: { displayName?: string; description?: string },
  ): Promise<Team> {
    const o = await orgRow(db, org);
    const tm = await teamRow(db, o, team);
    const row = await db
      .updateTable('iam_teams')
      .set({
        ...(changes.displayName !== undefined ? { display_name: checkDisplayName(changes.displayName) } : {}),
        ...(changes.description !== undefined ? { description: checkDescription(changes.description) } : {}),
        updated_at: now(),
      })
      .where('id', '=', tm.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTeam(row, o);
  }

  /** Deletes the team with its memberships, grants and team tokens (which stop authenticating at once). */
  async function deleteTeam(db: IamExecutor, org: string, team: string): Promise<Team> {
    return atomically(db, async (tx) => {
      const o = await orgRow(tx, org);
      const tm = await teamRow(tx, o, team);
      // Explicit, not only ON DELETE CASCADE: correct even on a connection without SQLite's foreign_keys pragma.
      await tx.deleteFrom('iam_tokens').where('team_id', '=', tm.id).execute();
      await tx.deleteFrom('iam_team_grants').where('team_id', '=', tm.id).execute();
      await tx.deleteFrom('iam_team_members').where('team_id', '=', tm.id).execute();
      await tx.deleteFrom('iam_teams').where('id', '=', tm.id).execute();
      return toTeam(tm, o);
    });
  }

  async function listTeams(db: IamExecutor, org: string): Promise<Team[]> {
    const o = await orgRow(db, org);
    const rows = await db
      .selectFrom('iam_teams')
      .selectAll()
      .where('org_id', '=', o.id)
      .orderBy('name_key')
      .execute();
    return rows.map((r) => toTeam(r, o));
  }

  async function getTeam(db: IamExecutor, org: string, team: string): Promise<TeamDetail> {
    const o = await orgRow(db, org);
    const tm = await teamRow(db, o, team);
    const members = await db
      .selectFrom('iam_team_members as tm')
      .innerJoin('iam_users as u', 'u.id', 'tm.user_id')
      .selectAll('u')
      .where('tm.team_id', '=', tm.id)
      .orderBy('u.login_key')
      .execute();
    const grants = await db
      .selectFrom('iam_team_grants')
      .select(['project', 'environment', 'permission'])
      .where('team_id', '=', tm.id)
      .orderBy('project')
      .orderBy('environment')
      .execute();
    return {
      ...toTeam(tm, o),
      members: members.map(toPrincipalUser),
      grants: grants.map((g) => ({ ...g, permission: g.permission as EnvironmentPermission })),
    };
  }

  /** Adds an organization member to the team. */
  async function addTeamMember(db: IamExecutor, org: string, team: string, login: string): Promise<void> {
    const o = await orgRow(db, org);
    const tm = await teamRow(db, o, team);
    const u = await userRow(db, login);
    if (!(await roleOf(db, o.id, u.id)))
      throw new IamError('not-a-member', `${u.login} is not a member of ${o.login}`);
    const row = await db
      .insertInto('iam_team_members')
      .values({ team_id: tm.id, user_id: u.id, created_at: now() })
      .onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing())
      .returning('team_id')
      .executeTakeFirst();
    if (!row) throw new IamError('already-exists', `${u.login} is already in team ${tm.name}`);
  }

  async function removeTeamMember(db: IamExecutor, org: string, team: string, login: string): Promise<void> {
    const o = await orgRow(db, org);
    const tm = await teamRow(db, o, team);
    const u = await userRow(db, login);
    const result = await db
      .deleteFrom('iam_team_members')
      .where('team_id', '=', tm.id)
      .where('user_id', '=', u.id)
      .executeTakeFirst();
    if (Number(result.numDeletedRows) === 0)
      throw new IamError('not-found', `${u.login} is not in team ${tm.name}`);
  }

  /**
   * Grants the team `permission` on `project/environment` (`environment` `*`: the whole project), replacing any
   * earlier grant on exactly that pair. Returns the replaced permission, if any.
   */
  async function grantTeamEnvironmentPermission(
    db: IamExecutor,
    org: string,
    team: string,
    grant: { project: string; environment: string; permission: EnvironmentPermission },
  ): Promise<{ previous: EnvironmentPermission | undefined }> {
    const project = checkProjectName(grant.project);
    const environment = checkGrantEnvironment(grant.environment);
    const permission = checkPermission(grant.permission);
    if (permission === 'none')
      throw new IamError('invalid-argument', 'grant read, open, write or admin; revoke a grant to remove it');
    return atomically(db, async (tx) => {
      const o = await orgRow(tx, org);
      const tm = await teamRow(tx, o, team);
      const existing = await tx
        .selectFrom('iam_team_grants')
        .select('permission')
        .where('team_id', '=', tm.id)
        .where('project', '=', project)
        .where('environment', '=', environment)
        .executeTakeFirst();
      await tx
        .insertInto('iam_team_grants')
        .values({ team_id: tm.id, project, environment, permission, created_at: now() })
        .onConflict((oc) =>
          oc.columns(['team_id', 'project', 'environment']).doUpdateSet((eb) => ({
            permission: eb.ref('excluded.permission'),
          })),
        )
        .execute();
      return { previous: existing?.permission as EnvironmentPermission | undefined };
    });
  }

  /** Removes the team's grant on exactly `project/environment`; returns what it granted. */
  async function revokeTeamEnvironmentPermission(
    db: IamExecutor,
    org: string,
    team: string,
    grant: { project: string; environment: string },
  ): Promise<{ previous: EnvironmentPermission }> {
    const project = checkProjectName(grant.project);
    const environment = checkGrantEnvironment(grant.environment);
    const o = await orgRow(db, org);
    const tm = await teamRow(db, o, team);
    const row = await db
      .deleteFrom('iam_team_grants')
      .where('team_id', '=', tm.id)
      .where('project', '=', project)
      .where('environment', '=', environment)
      .returning('permission')
      .executeTakeFirst();
    if (!row) throw new IamError('not-found', `team ${tm.name} has no grant on ${project}/${environment}`);
    return { previous: row.permission as EnvironmentPermission };
  }

  // ---- tokens and sessions ----

  async function insertToken(
    db: IamExecutor,
    kind: TokenKind,
    owner: { org_id: number | null; user_id: number | null; team_id: number | null },
    description: string,
    expiresAt: number | null,
    text: string = generateTokenText(kind),
  ): Promise<CreatedToken> {
    const id = randomUUID();
    await db
      .insertInto('iam_tokens')
      .values({
        id,
        kind,
        hash: tokenHash(text),
        ...owner,
        description,
        created_at: now(),
        expires_at: expiresAt,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return { id, token: text, expiresAt };
  }

  /**
   * Creates an access token and returns its text — the only time it exists outside the caller's hands.
   * `presetText` is for `bootstrap` (an operator-supplied token); everything else lets the server generate it.
   */
  async function createToken(
    db: IamExecutor,
    request: CreateTokenRequest,
    presetText?: string,
  ): Promise<CreatedToken> {
    const description = checkDescription(request.description);
    const expiresAt = request.expiresAt === undefined ? null : checkExpiry(request.expiresAt);
    let owner: { org_id: number | null; user_id: number | null; team_id: number | null };
    switch (request.kind) {
      case 'personal':
        owner = { org_id: null, user_id: (await userRow(db, request.user)).id, team_id: null };
        break;
      case 'organization':
        owner = { org_id: (await orgRow(db, request.org)).id, user_id: null, team_id: null };
        break;
      case 'team': {
        const o = await orgRow(db, request.org);
        owner = { org_id: o.id, user_id: null, team_id: (await teamRow(db, o, request.team)).id };
        break;
      }
      default:
        throw new IamError('invalid-argument', 'token kind must be personal, team or organization');
    }
    if (
      presetText !== undefined &&
      !(isWellFormedTokenText(presetText) && presetText.length >= MIN_SUPPLIED_TOKEN_LENGTH)
    )
      throw new IamError(
        'invalid-argument',
        `a supplied token must be ${MIN_SUPPLIED_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} printable ASCII characters`,
      );
    return insertToken(db, request.kind, owner, description, expiresAt, presetText);
  }

  /** Starts a session for a user who proved who they are: a bearer token of kind `session`, expiring after `ttlMs`. */
  async function createSession(
    db: IamExecutor,
    userId: number,
    ttlMs: number = DEFAULT_SESSION_TTL_MS,
  ): Promise<CreatedToken> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_SESSION_TTL_MS)
      throw new IamError('invalid-argument', `session lifetime must be 1 ms to ${MAX_SESSION_TTL_MS} ms`);
    const user = await getUserById(db, userId);
    return insertToken(
      db,
      'session',
      { org_id: null, user_id: user.id, team_id: null },
      'session',
      now() + ttlMs,
    );
  }

  function tokenInfoRows(db: IamExecutor) {
    return db
      .selectFrom('iam_tokens as t')
      .leftJoin('iam_users as u', 'u.id', 't.user_id')
      .leftJoin('iam_organizations as o', 'o.id', 't.org_id')
      .leftJoin('iam_teams as tm', 'tm.id', 't.team_id')
      .select([
        't.id',
        't.kind',
        't.description',
        't.created_at',
        't.expires_at',
        't.last_used_at',
        't.revoked_at',
        'u.login as user_login',
        'o.login as org_login',
        'tm.name as team_name',
      ]);
  }

  /** A token's metadata, for authorizing its revocation. */
  async function getToken(db: IamExecutor, id: string): Promise<TokenInfo> {
    const row =
      typeof id === 'string' && id.length <= 64
        ? await tokenInfoRows(db).where('t.id', '=', id).executeTakeFirst()
        : undefined;
    if (!row) throw new IamError('not-found', 'no such token');
    return toTokenInfo(row);
  }

  /** Revokes a token or ends a session; it stops authenticating at once. A second revocation is `token-revoked`. */
  async function revokeToken(db: IamExecutor, id: string): Promise<TokenInfo> {
    const before = await getToken(db, id);
    const t = now();
    const result = await db
      .updateTable('iam_tokens')
      .set({ revoked_at: t })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0)
      throw new IamError('token-revoked', `token ${id} is already revoked`);
    return { ...before, revokedAt: t };
  }

  async function listTokens(db: IamExecutor, filter: TokenFilter): Promise<TokenInfo[]> {
    let query = tokenInfoRows(db).where('t.kind', '=', filter.kind);
    if ('user' in filter) {
      query = query.where('t.user_id', '=', (await userRow(db, filter.user)).id);
    } else {
      const o = await orgRow(db, filter.org);
      query = query.where('t.org_id', '=', o.id);
      if ('team' in filter) query = query.where('t.team_id', '=', (await teamRow(db, o, filter.team)).id);
    }
    if (!filter.includeRevoked) query = query.where('t.revoked_at', 'is', null);
    const rows = await query.orderBy('t.created_at').orderBy('t.id').execute();
    return rows.map(toTokenInfo);
  }

  /** Deletes sessions that expired or were revoked; returns how many. Tokens of other kinds are kept as history. */
  async function deleteEndedSessions(db: IamExecutor): Promise<number> {
    const result = await db
      .deleteFrom('iam_tokens')
      .where('kind', '=', 'session')
      .where((eb) => eb.or([eb('expires_at', '<=', now()), eb('revoked_at', 'is not', null)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * The principal a bearer token stands for, or `token-unknown` / `token-revoked` / `token-expired`.
   * The text is attacker-controlled: its shape is checked before anything else, and it is looked up only by its
   * SHA-256. Records the use in `last_used_at`, at most once per `LAST_USED_RESOLUTION_MS`.
   */
  /**
   * The principal behind a token. Reads on `db`; the throttled last-used update goes to `options.writer` when
   * given (the HTTP layer reads on the reader connection and writes on the writer).
   */
  async function authenticateToken(
    db: IamExecutor,
    text: string,
    options: { writer?: IamExecutor } = {},
  ): Promise<Principal> {
    if (!isWellFormedTokenText(text)) throw new IamError('token-unknown', 'unknown token');
    const hash = tokenHash(text);
    const cache = deps.cache && db === deps.cache.reader ? deps.cache : undefined;
    const cacheKey = cache ? hash.toString('base64') : '';
    const cached = cache?.token(cacheKey);
    if (cached) {
      const t = now();
      if (cached.expiresAt !== null && cached.expiresAt <= t) {
        cache!.forgetToken(cacheKey);
        throw new IamError('token-expired', `token ${cached.tokenId} expired`);
      }
      if (cached.lastUsedAt === null || t - cached.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
        await touchToken(options.writer ?? db, cached.tokenId, t);
        cached.lastUsedAt = t;
      }
      return cached.principal;
    }
    const generation = cache?.begin();
    const row = await db
      .selectFrom('iam_tokens as t')
      .leftJoin('iam_users as u', 'u.id', 't.user_id')
      .leftJoin('iam_organizations as o', 'o.id', 't.org_id')
      .leftJoin('iam_teams as tm', 'tm.id', 't.team_id')
      .select([
        't.id',
        't.kind',
        't.description',
        't.expires_at',
        't.revoked_at',
        't.last_used_at',
        'u.id as user_id',
        'u.login as user_login',
        'u.name as user_name',
        'u.email as user_email',
        'u.avatar_url as user_avatar_url',
        'o.id as org_id',
        'o.login as org_login',
        'tm.id as team_id',
        'tm.name as team_name',
      ])
      .where('t.hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw new IamError('token-unknown', 'unknown token');
    const t = now();
    if (row.revoked_at !== null) throw new IamError('token-revoked', `token ${row.id} was revoked`);
    if (row.expires_at !== null && row.expires_at <= t)
      throw new IamError('token-expired', `token ${row.id} expired`);

    let lastUsedAt = row.last_used_at;
    if (lastUsedAt === null || t - lastUsedAt >= LAST_USED_RESOLUTION_MS) {
      await touchToken(options.writer ?? db, row.id, t);
      lastUsedAt = t;
    }
    const principal = toPrincipal(row);
    cache?.storeToken(generation!, cacheKey, {
      principal,
      tokenId: row.id,
      expiresAt: row.expires_at,
      lastUsedAt,
    });
    return principal;
  }

  /** Records a token's use, at most once per `LAST_USED_RESOLUTION_MS` whatever the number of processes. */
  async function touchToken(db: IamExecutor, id: string, t: number): Promise<void> {
    await db
      .updateTable('iam_tokens')
      .set({ last_used_at: t })
      .where('id', '=', id)
      .where((eb) =>
        eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', t - LAST_USED_RESOLUTION_MS)]),
      )
      .execute();
  }

  function toPrincipal(row: {
    id: string;
    kind: string;
    description: string;
    user_id: number | null;
    user_login: string | null;
    user_name: string | null;
    user_email: string | null;
    user_avatar_url: string | null;
    org_id: number | null;
    org_login: string | null;
    team_id: number | null;
    team_name: string | null;
  }): Principal {
    const kind = row.kind as TokenKind;
    const token = { id: row.id, name: row.description, kind };
    const user =
      row.user_id !== null
        ? {
            id: row.user_id,
            login: row.user_login!,
            name: row.user_name!,
            email: row.user_email ?? null,
            avatarUrl: row.user_avatar_url ?? null,
          }
        : undefined;
    switch (kind) {
      case 'session':
        return { kind: 'user', user: user!, token };
      case 'personal':
        return { kind: 'token', user: user!, token };
      case 'organization':
        return { kind: 'token', token, org: { id: row.org_id!, login: row.org_login! } };
      case 'team':
        return {
          kind: 'token',
          token,
          org: { id: row.org_id!, login: row.org_login! },
          team: { id: row.team_id!, name: row.team_name! },
        };
    }
  }

  // ---- permission resolution ----

  /**
   * The principal's role in `org`, or undefined when it has none there. Users (signed in, by session or by
   * personal token) have their membership role; an organization token is an admin of its own organization; a
   * team token is a member of its team's organization. Tokens confined to one organization have no role elsewhere.
   */
  async function orgRole(db: IamExecutor, principal: Principal, org: string): Promise<OrgRole | undefined> {
    return (await access(db, principal, org)).role;
  }

  /**
   * What the principal may do on environment `project/env` of `org`:
   * - org admin (and organization token of `org`) → `admin`;
   * - member → the strongest of the organization default and the grants (exact or `*`) of every team they are in;
   * - auditor, non-member, token of another organization → `none`;
   * - team token → the strongest of its own team's grants, without the organization default (as on Pulumi Cloud,
   *   a team token holds exactly its team's permissions).
   */
  /**
   * The caller's organization role and, for an environment, their permission on it, in as few queries as the
   * principal needs (at most three): what every authorization decision reads, once per request.
   */
  async function access(
    db: IamExecutor,
    principal: Principal,
    org: string,
    target?: { project: string; env: string },
  ): Promise<AccessDecision> {
    if (target) {
      checkProjectName(target.project);
      checkEnvironmentName(target.env);
    }
    const cache = deps.cache && db === deps.cache.reader ? deps.cache : undefined;
    if (!cache) return decideAccess(db, principal, org, target);
    const key = decisionKey(principal, org, target);
    const cached = cache.decision(key);
    if (cached) return cached;
    const generation = cache.begin();
    const decided = await decideAccess(db, principal, org, target);
    cache.storeDecision(generation, key, decided);
    return decided;
  }

  async function decideAccess(
    db: IamExecutor,
    principal: Principal,
    org: string,
    target?: { project: string; env: string },
  ): Promise<AccessDecision> {
    const tokenKind = principal.kind === 'token' ? principal.token?.kind : undefined;
    const user = tokenKind === 'organization' || tokenKind === 'team' ? undefined : principal.user;
    // A user's role comes with the organization, in one read (one round trip on PostgreSQL, every request).
    const { org: o, memberRole } = user
      ? await orgWithRole(db, org, user.id)
      : { org: await orgRow(db, org) };
    let role: OrgRole | undefined;
    if (tokenKind === 'organization') role = principal.org?.id === o.id ? 'admin' : undefined;
    else if (tokenKind === 'team') role = principal.org?.id === o.id ? 'member' : undefined;
    else role = memberRole;
    if (!target || role === undefined || role === 'auditor') return { role, permission: 'none' };
    if (role === 'admin') return { role, permission: 'admin' };
    const grants = db
      .selectFrom('iam_team_grants as g')
      .innerJoin('iam_teams as tm', 'tm.id', 'g.team_id')
      .select('g.permission')
      .where('tm.org_id', '=', o.id)
      .where('g.project', '=', target.project)
      .where('g.environment', 'in', [target.env, ALL_ENVIRONMENTS]);
    if (principal.kind === 'token' && principal.token?.kind === 'team') {
      const rows = await grants.where('g.team_id', '=', principal.team!.id).execute();
      return { role, permission: maxPermission(...rows.map((r) => r.permission as EnvironmentPermission)) };
    }
    const rows = await grants
      .innerJoin('iam_team_members as m', 'm.team_id', 'g.team_id')
      .where('m.user_id', '=', principal.user!.id)
      .execute();
    return {
      role,
      permission: maxPermission(
        o.default_environment_permission as EnvironmentPermission,
        ...rows.map((r) => r.permission as EnvironmentPermission),
      ),
    };
  }

  async function environmentPermission(
    db: IamExecutor,
    principal: Principal,
    org: string,
    project: string,
    env: string,
  ): Promise<EnvironmentPermission> {
    return (await access(db, principal, org, { project, env })).permission;
  }

  const service = {
    createOrganization,
    getOrganization,
    updateOrganizationSettings,
    createUser,
    getUserByLogin,
    getUserById,
    setPassword,
    verifyPassword,
    addMember,
    removeMember,
    setMemberRole,
    listMembers,
    createTeam,
    updateTeam,
    deleteTeam,
    listTeams,
    getTeam,
    addTeamMember,
    removeTeamMember,
    grantTeamEnvironmentPermission,
    revokeTeamEnvironmentPermission,
    createToken,
    createSession,
    getToken,
    revokeToken,
    listTokens,
    deleteEndedSessions,
    authenticateToken,
    orgRole,
    environmentPermission,
    access,
    hashNewPassword,
  };
  const { cache, notify } = deps;
  if (!cache) return service;
  // Every function that writes identities, memberships, teams, grants, tokens or settings invalidates the cache
  // before it writes (and the ledger's commit hook again after). IAM_WRITES is checked against the service by a
  // test, so a new function cannot be forgotten.
  const invalidating = { ...service };
  for (const name of IAM_WRITES) {
    const fn = service[name] as (...args: never[]) => unknown;
    (invalidating as Record<string, unknown>)[name] = async (...args: never[]) => {
      cache.changed();
      const executor = args[0] as unknown as IamExecutor;
      // Other processes hear of a change in its transaction: at its commit, not before (they would read the old
      // state again), and not at all if it rolls back.
      if (executor.isTransaction) await notify?.(executor);
      try {
        return await fn(...args);
      } finally {
        // Outside a transaction the write has committed (or failed) by now; inside one, the ledger's commit hook
        // calls `committed()` when it commits.
        if (!executor.isTransaction) {
          cache.committed();
          await notify?.(executor);
        }
      }
    };
  }
  return invalidating;
}

/** The IAM service's functions that write (the rest only read, or compute). */
export const IAM_WRITES = [
  'createOrganization',
  'updateOrganizationSettings',
  'createUser',
  'setPassword',
  'addMember',
  'removeMember',
  'setMemberRole',
  'createTeam',
  'updateTeam',
  'deleteTeam',
  'addTeamMember',
  'removeTeamMember',
  'grantTeamEnvironmentPermission',
  'revokeTeamEnvironmentPermission',
  'createToken',
  'createSession',
  'revokeToken',
  'deleteEndedSessions',
] as const;

/** The IAM service's functions that never write (authenticateToken's last-used stamp aside, which no decision reads). */
export const IAM_READS = [
  'getOrganization',
  'getUserByLogin',
  'getUserById',
  'verifyPassword',
  'listMembers',
  'listTeams',
  'getTeam',
  'getToken',
  'listTokens',
  'authenticateToken',
  'orgRole',
  'environmentPermission',
  'access',
  'hashNewPassword',
] as const;

/** Runs `fn` in the caller's transaction, or in a new one. */
function atomically<T>(db: IamExecutor, fn: (tx: IamExecutor) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

// ---- input checks ----

function checkRole(role: unknown): OrgRole {
  if (!isOrgRole(role)) throw new IamError('invalid-argument', 'role must be admin, member or auditor');
  return role;
}

function checkPermission(permission: unknown): EnvironmentPermission {
  if (!isEnvironmentPermission(permission))
    throw new IamError('invalid-argument', 'permission must be none, read, open, write or admin');
  return permission;
}

function checkGrantEnvironment(environment: string): string {
  return environment === ALL_ENVIRONMENTS ? environment : checkEnvironmentName(environment);
}

function checkDisplayName(name: unknown): string {
  if (
    typeof name !== 'string' ||
    name.trim() === '' ||
    name.length > MAX_DISPLAY_NAME_LENGTH ||
    /\p{Cc}/u.test(name)
  )
    throw new IamError(
      'invalid-argument',
      `a name must be 1 to ${MAX_DISPLAY_NAME_LENGTH} printable characters`,
    );
  return name;
}

function checkDescription(description: unknown): string {
  if (typeof description !== 'string' || description.length > MAX_DESCRIPTION_LENGTH)
    throw new IamError(
      'invalid-argument',
      `a description must be at most ${MAX_DESCRIPTION_LENGTH} characters`,
    );
  return description;
}

function checkEmail(email: unknown): string {
  if (typeof email !== 'string' || email.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(email))
    throw new IamError('invalid-argument', 'invalid e-mail address');
  return email;
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length > 2048 || !/^https?:\/\/[^\s]+$/.test(url))
    throw new IamError('invalid-argument', 'avatar URL must be an http(s) URL');
  return url;
}

function checkExpiry(expiresAt: unknown): number {
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= 0)
    throw new IamError('invalid-argument', 'expiresAt must be epoch milliseconds');
  return expiresAt;
}

// ---- row mapping ----

function toOrganization(row: OrgRow): Organization {
  return {
    id: row.id,
    login: row.login,
    name: row.name,
    defaultEnvironmentPermission: row.default_environment_permission as EnvironmentPermission,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toPrincipalUser(row: UserRow): PrincipalUser {
  return { id: row.id, login: row.login, name: row.name, email: row.email, avatarUrl: row.avatar_url };
}

function toUser(row: UserRow): User {
  return {
    ...toPrincipalUser(row),
    hasPassword: row.password_hash !== null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toTeam(row: TeamRow, org: OrgRow): Team {
  return {
    id: row.id,
    org: org.login,
    name: row.name,
    displayName: row.display_name,
    description: row.description,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toTokenInfo(row: {
  id: string;
  kind: string;
  description: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  user_login: string | null;
  org_login: string | null;
  team_name: string | null;
}): TokenInfo {
  return {
    id: row.id,
    kind: row.kind as TokenKind,
    description: row.description,
    ...(row.user_login !== null ? { user: row.user_login } : {}),
    ...(row.org_login !== null ? { org: row.org_login } : {}),
    ...(row.team_name !== null ? { team: row.team_name } : {}),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}
