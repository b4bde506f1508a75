import type { EventId } from '@vigil/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../../esc/esc-service.js';
import type { Member, Team, TeamDetail, TokenInfo } from '../../iam/iam-service.js';
import {
  isEnvironmentPermission,
  isOrgRole,
  type EnvironmentPermission,
  type OrgRole,
} from '../../iam/permissions.js';
import { IdentityError } from '../../identity/errors.js';
import type {
  GrantChange,
  IdentityService,
  NewMember,
  NewToken,
  TeamChanges,
} from '../../identity/identity-service.js';
import type { SignInService } from '../../identity/sign-in.js';
import type { Authenticate } from '../authenticate.js';
import { ProblemError } from '../problem-reply.js';
import { requestContext } from '../request-context.js';
import type { RouteAudit } from '../route-audit.js';

type Params = { org: string; team: string; login: string; tokenId: string };
type Req = FastifyRequest<{ Params: Params }>;

/** The latest expiry a token may ask for: 9999-12-31T23:59:59Z, in unix seconds. */
export const MAX_TOKEN_EXPIRES = 253_402_300_799;
/** Most logins or grants one team PATCH may carry. */
export const MAX_TEAM_CHANGES = 1000;

const action = (...events: EventId[]): { config: { audit: RouteAudit } } => ({
  config: { audit: { action: events } },
});
const exempt = (reason: string): { config: { audit: RouteAudit } } => ({
  config: { audit: { exempt: reason } },
});
const OWN_IDENTITY = exempt("reads the caller's own identity");
const LISTING = exempt('a listing of names and metadata, never token text; refusals are recorded');

/**
 * The identity API (GitHub issue #4), on Pulumi Cloud's paths where it has them: sign-in, the caller's identity,
 * personal, organization and team tokens, members, teams and organization settings. Errors answer Pulumi's
 * `{code, message, errorCode}`. Every route declares what it records; docs/identity-api.md lists them.
 */
export function identityRoutes(
  app: FastifyInstance,
  deps: { identity: IdentityService; signIn: SignInService; authenticate: Authenticate },
): void {
  const { identity, signIn, authenticate } = deps;

  void app.register(
    async (scope) => {
      // Every body is taken as text and parsed here: a JSON syntax error must not be echoed back (V8 quotes the
      // input, which may hold a password), and clients label JSON loosely.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
      // Thrown again, an error reaches the application's handler, which answers it.
      scope.setErrorHandler((error) => {
        if (error instanceof IdentityError) throw new ProblemError('forbidden', error.message);
        throw error;
      });

      const caller = (request: FastifyRequest): Promise<Caller> => authenticate(request);
      const org = (request: Req) => request.params.org;

      // ---- sign-in (Vigil's)

      scope.post('/login', action('user-login', 'user-login-failed'), async (request) => {
        const body = jsonBody(request);
        const login = requireString(body, 'login');
        const password = requireString(body, 'password');
        const signedIn = await signIn.login(
          (actor) => requestContext(request, actor),
          request.ip,
          login,
          password,
        );
        return { token: signedIn.token, expiresAt: seconds(signedIn.expiresAt) };
      });

      scope.post(
        '/logout',
        exempt(
          'ends the caller’s own session, which only takes access away; no catalog event fits (see docs)',
        ),
        async (request, reply) => {
          await signIn.logout((await caller(request)).principal);
          return reply.code(204).send();
        },
      );

      // ---- the caller

      scope.get('/user', OWN_IDENTITY, async (request) => {
        const { user, organizations } = await identity.currentUser(await caller(request));
        return {
          ...userBody(user),
          organizations: organizations.map((o) => ({ githubLogin: o.login, name: o.name })),
        };
      });

      scope.get('/user/organizations/default', OWN_IDENTITY, async (request) => {
        const first = await identity.defaultOrganization(await caller(request));
        if (!first) throw new ProblemError('not-found', 'the user is a member of no organization');
        return { gitHubLogin: first.login };
      });

      // ---- personal tokens

      scope.get('/user/tokens', LISTING, async (request) => ({
        tokens: (await identity.listPersonalTokens(await caller(request))).map(tokenBody),
      }));

      scope.post('/user/tokens', action('personal-token-created'), async (request) =>
        identity.createPersonalToken(await caller(request), newToken(jsonBody(request))),
      );

      scope.delete('/user/tokens/:tokenId', action('personal-token-deleted'), async (request: Req, reply) => {
        await identity.deletePersonalToken(await caller(request), request.params.tokenId);
        return reply.code(204).send();
      });

      // ---- organization tokens

      const O = '/orgs/:org';

      scope.get(`${O}/tokens`, LISTING, async (request: Req) => ({
        tokens: (await identity.listOrganizationTokens(await caller(request), org(request))).map(tokenBody),
      }));

      scope.post(`${O}/tokens`, action('organization-token-created'), async (request: Req) =>
        identity.createOrganizationToken(await caller(request), org(request), newToken(jsonBody(request))),
      );

      scope.delete(
        `${O}/tokens/:tokenId`,
        action('organization-token-deleted'),
        async (request: Req, reply) => {
          await identity.deleteOrganizationToken(await caller(request), org(request), request.params.tokenId);
          return reply.code(204).send();
        },
      );

      // ---- team tokens

      const T = `${O}/teams/:team`;

      scope.get(`${T}/tokens`, LISTING, async (request: Req) => ({
        tokens: (await identity.listTeamTokens(await caller(request), org(request), request.params.team)).map(
          tokenBody,
        ),
      }));

      scope.post(`${T}/tokens`, action('team-token-created'), async (request: Req) =>
        identity.createTeamToken(
          await caller(request),
          org(request),
          request.params.team,
          newToken(jsonBody(request)),
        ),
      );

      scope.delete(`${T}/tokens/:tokenId`, action('team-token-deleted'), async (request: Req, reply) => {
        await identity.deleteTeamToken(
          await caller(request),
          org(request),
          request.params.team,
          request.params.tokenId,
        );
        return reply.code(204).send();
      });

      // ---- members

      scope.get(`${O}/members`, LISTING, async (request: Req) => ({
        members: (await identity.listMembers(await caller(request), org(request))).map(memberBody),
      }));

      scope.post(`${O}/members/:login`, action('member-added'), async (request: Req) =>
        memberBody(
          await identity.addMember(
            await caller(request),
            org(request),
            request.params.login,
            newMember(jsonBody(request)),
          ),
        ),
      );

      scope.patch(`${O}/members/:login`, action('member-role-changed'), async (request: Req) =>
        memberBody(
          await identity.changeMemberRole(
            await caller(request),
            org(request),
            request.params.login,
            requireRole(jsonBody(request)),
          ),
        ),
      );

      scope.delete(`${O}/members/:login`, action('member-removed'), async (request: Req, reply) => {
        await identity.removeMember(await caller(request), org(request), request.params.login);
        return reply.code(204).send();
      });

      // ---- teams

      scope.get(`${O}/teams`, LISTING, async (request: Req) => ({
        teams: (await identity.listTeams(await caller(request), org(request))).map(teamBody),
      }));

      const createTeam = async (request: Req) => {
        const body = jsonBody(request);
        return teamBody(
          await identity.createTeam(await caller(request), org(request), {
            name: requireString(body, 'name'),
            ...optionalString(body, 'displayName'),
            ...optionalString(body, 'description', true),
          }),
        );
      };
      scope.post(`${O}/teams`, action('team-created'), createTeam);
      // Pulumi Cloud's path: teams of kind `pulumi` (Vigil has no GitHub-backed teams).
      scope.post(`${O}/teams/pulumi`, action('team-created'), createTeam);

      scope.get(
        T,
        exempt('metadata only (members and grants); refusals are recorded'),
        async (request: Req) =>
          teamDetailBody(await identity.getTeam(await caller(request), org(request), request.params.team)),
      );

      scope.patch(T, action('team-updated'), async (request: Req) =>
        teamDetailBody(
          await identity.updateTeam(
            await caller(request),
            org(request),
            request.params.team,
            teamChanges(jsonBody(request)),
          ),
        ),
      );

      scope.delete(T, action('team-deleted'), async (request: Req, reply) => {
        await identity.deleteTeam(await caller(request), org(request), request.params.team);
        return reply.code(204).send();
      });

      // ---- organization settings

      scope.get(`${O}/settings`, exempt('metadata only; refusals are recorded'), async (request: Req) => {
        const o = await identity.getSettings(await caller(request), org(request));
        return { defaultEnvironmentPermission: o.defaultEnvironmentPermission };
      });

      scope.patch(`${O}/settings`, action('organization-settings-changed'), async (request: Req) => {
        const body = jsonBody(request);
        const o = await identity.updateSettings(await caller(request), org(request), {
          defaultEnvironmentPermission: requirePermission(
            body.defaultEnvironmentPermission,
            'defaultEnvironmentPermission',
          ),
        });
        return { defaultEnvironmentPermission: o.defaultEnvironmentPermission };
      });
    },
    { prefix: '/api' },
  );
}

// ---------------------------------------------------------------- answers

/** Epoch milliseconds → unix seconds (Pulumi's unit), 0 for none. */
function seconds(ms: number | null): number {
  return ms === null ? 0 : Math.floor(ms / 1000);
}

/** Pulumi's `AccessToken`: never the text, never the hash. */
function tokenBody(token: TokenInfo) {
  return {
    id: token.id,
    description: token.description,
    created: new Date(token.createdAt).toISOString(),
    lastUsed: seconds(token.lastUsedAt),
    expires: seconds(token.expiresAt),
  };
}

function userBody(user: { login: string; name: string; email: string | null; avatarUrl: string | null }) {
  return {
    githubLogin: user.login,
    name: user.name,
    email: user.email ?? '',
    avatarUrl: user.avatarUrl ?? '',
  };
}

/** Pulumi's `OrganizationMember`. */
function memberBody(member: Member) {
  return {
    role: member.role,
    user: userBody(member.user),
    created: new Date(member.createdAt).toISOString(),
  };
}

function teamBody(team: Team) {
  return { kind: 'pulumi', name: team.name, displayName: team.displayName, description: team.description };
}

function teamDetailBody(team: TeamDetail) {
  return {
    ...teamBody(team),
    members: team.members.map(userBody),
    environmentPermissions: team.grants.map((g) => ({
      project: g.project,
      environment: g.environment,
      permission: g.permission,
    })),
  };
}

// ---------------------------------------------------------------- request parsing (bodies are hostile)

function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const text = request.body;
  if (typeof text !== 'string' || text.trim() === '')
    throw new ProblemError('invalid-argument', 'expected a JSON object body');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the input.
    throw new ProblemError('invalid-argument', 'the body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ProblemError('invalid-argument', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '')
    throw new ProblemError('invalid-argument', `${field} must be a non-empty string`, field);
  return value;
}

function optionalString(
  body: Record<string, unknown>,
  field: string,
  allowEmpty = false,
): Record<string, string> {
  const value = body[field];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'string' || (!allowEmpty && value === ''))
    throw new ProblemError('invalid-argument', `${field} must be a string`, field);
  return { [field]: value };
}

function requireRole(body: Record<string, unknown>): OrgRole {
  if (!isOrgRole(body.role))
    throw new ProblemError('invalid-argument', 'role must be admin, member or auditor', 'role');
  return body.role;
}

function requirePermission(value: unknown, field: string): EnvironmentPermission {
  if (!isEnvironmentPermission(value))
    throw new ProblemError('invalid-argument', `${field} must be none, read, open, write or admin`, field);
  return value;
}

/** `{description, expires?}`; Pulumi's organization and team tokens also send `name`, taken when there is no description. */
function newToken(body: Record<string, unknown>): NewToken {
  const description = body.description ?? body.name ?? '';
  if (typeof description !== 'string')
    throw new ProblemError('invalid-argument', 'description must be a string', 'description');
  const expires = body.expires ?? 0;
  const now = Math.floor(Date.now() / 1000);
  if (
    typeof expires !== 'number' ||
    !Number.isSafeInteger(expires) ||
    expires < 0 ||
    (expires > 0 && expires <= now) ||
    expires > MAX_TOKEN_EXPIRES
  )
    throw new ProblemError(
      'invalid-argument',
      'expires must be 0 (never) or a future time in unix seconds',
      'expires',
    );
  return { description, ...(expires > 0 ? { expiresAt: expires * 1000 } : {}) };
}

function newMember(body: Record<string, unknown>): NewMember {
  return {
    role: requireRole(body),
    ...optionalString(body, 'name'),
    ...optionalString(body, 'email'),
    ...optionalString(body, 'password'),
  };
}

function loginList(body: Record<string, unknown>, field: string): readonly string[] | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length > MAX_TEAM_CHANGES ||
    !value.every((v): v is string => typeof v === 'string')
  )
    throw new ProblemError('invalid-argument', `${field} must be a list of logins`, field);
  return value;
}

function teamChanges(body: Record<string, unknown>): TeamChanges {
  const addMembers = loginList(body, 'addMembers');
  const removeMembers = loginList(body, 'removeMembers');
  const seen = new Set<string>();
  for (const login of [...(addMembers ?? []), ...(removeMembers ?? [])]) {
    const key = login.toLowerCase();
    if (seen.has(key))
      throw new ProblemError('invalid-argument', 'a login may appear once in addMembers and removeMembers');
    seen.add(key);
  }
  let environmentPermissions: GrantChange[] | undefined;
  const grants = body.environmentPermissions;
  if (grants !== undefined) {
    if (!Array.isArray(grants) || grants.length > MAX_TEAM_CHANGES)
      throw new ProblemError(
        'invalid-argument',
        'environmentPermissions must be a list of {project, environment, permission}',
        'environmentPermissions',
      );
    const pairs = new Set<string>();
    environmentPermissions = grants.map((g: unknown) => {
      if (g === null || typeof g !== 'object' || Array.isArray(g))
        throw new ProblemError(
          'invalid-argument',
          'each environment permission must be {project, environment, permission}',
          'environmentPermissions',
        );
      const grant = g as Record<string, unknown>;
      const change = {
        project: requireString(grant, 'project'),
        environment: requireString(grant, 'environment'),
        permission: requirePermission(grant.permission, 'permission'),
      };
      const pair = `${change.project}\u0000${change.environment}`;
      if (pairs.has(pair))
        throw new ProblemError(
          'invalid-argument',
          'each project/environment may appear once in environmentPermissions',
          'environmentPermissions',
        );
      pairs.add(pair);
      return change;
    });
  }
  const changes: TeamChanges = {
    ...optionalString(body, 'displayName'),
    ...optionalString(body, 'description', true),
    ...(addMembers ? { addMembers } : {}),
    ...(removeMembers ? { removeMembers } : {}),
    ...(environmentPermissions ? { environmentPermissions } : {}),
  };
  if (Object.keys(changes).length === 0)
    throw new ProblemError(
      'invalid-argument',
      'nothing to change: send displayName, description, addMembers, removeMembers or environmentPermissions',
    );
  return changes;
}
