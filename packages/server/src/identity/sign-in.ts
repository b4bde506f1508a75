import type { AuditActor } from '@vigil/protocol';
import { auditActor } from '../esc/actor.js';
import { IamError, isIamError } from '../iam/errors.js';
import { DEFAULT_SESSION_TTL_MS, type IamService, type User } from '../iam/iam-service.js';
import type { LoginRateLimiter } from '../iam/login-rate-limiter.js';
import { userPrincipal, type Principal } from '../iam/principal.js';
import type { Kernel, RequestContext } from '../kernel/kernel.js';
import type { Storage } from '../storage/storage.js';
import { noteInEach, performInEach } from './each-organization.js';
import { IdentityError } from './errors.js';
import { userOrganizations } from './user-organizations.js';

/** The request's audit context for an actor known only once the login is looked up. */
export type ContextFor = (actor: AuditActor) => RequestContext;

export interface SignInServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly limiter: LoginRateLimiter;
  readonly sessionTtlMs?: number;
}

/** A started session: its text (shown once) and when it ends, in epoch milliseconds. */
export interface SignedIn {
  readonly token: string;
  readonly expiresAt: number;
}

export type SignInService = ReturnType<typeof createSignInService>;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Password sign-in and sign-out. A sign-in is recorded (`user-login`, or `user-login-failed`) in every organization
 * the claimed user belongs to; an unknown login has no organization, so nothing records it (the 401 is the same).
 *
 * Threat notes: login and password are attacker-controlled; `iam.verifyPassword` spends the same scrypt work on
 * unknown logins. Recording a known login's failure adds a ledger append to its answer time, so a patient attacker
 * can tell known logins from unknown ones by timing; the rate limiter bounds how many they can probe.
 */
export function createSignInService(deps: SignInServiceDeps) {
  const { storage, kernel, iam, limiter } = deps;
  const db = storage.db;
  const ttlMs = deps.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;

  async function claimedUser(login: string): Promise<User | undefined> {
    try {
      return await iam.getUserByLogin(db, login);
    } catch (error) {
      if (isIamError(error, 'not-found', 'invalid-name')) return undefined;
      throw error;
    }
  }

  /** `user-login-failed` in each organization of the claimed user; nothing when the login is unknown. */
  async function recordFailure(contextFor: ContextFor, user: User | undefined, why: string): Promise<void> {
    if (!user) return;
    const orgs = await userOrganizations(db, user.id);
    await noteInEach(
      kernel,
      contextFor(auditActor(userPrincipal(user))),
      orgs.map((o) => o.login),
      'user-login-failed',
      `Sign-in as "${user.login}" failed: ${why}`,
      { member: user.login },
    );
  }

  return {
    /**
     * Checks the rate limits, then the password; on success starts a session. Failures answer `rate-limited` or
     * `invalid-credentials` (never saying whether the login exists), each recorded before it is answered.
     */
    async login(
      contextFor: ContextFor,
      sourceIP: string,
      login: string,
      password: string,
    ): Promise<SignedIn> {
      const verdict = limiter.check(login, sourceIP);
      if (!verdict.allowed) {
        const scope = verdict.scope === 'account' ? 'account' : 'client address';
        await recordFailure(
          contextFor,
          await claimedUser(login),
          `rate-limited (too many failed sign-ins for this ${scope}; retry in ${verdict.retryAfterSeconds} s)`,
        );
        throw new IamError(
          'rate-limited',
          `too many failed sign-ins; retry in ${verdict.retryAfterSeconds} s`,
          verdict.retryAfterSeconds,
        );
      }
      let user: User;
      try {
        user = await iam.verifyPassword(db, login, password);
      } catch (error) {
        if (!isIamError(error, 'invalid-credentials')) throw error;
        limiter.recordFailure(login, sourceIP);
        const claimed = await claimedUser(login);
        await recordFailure(
          contextFor,
          claimed,
          claimed && !claimed.hasPassword ? 'the account has no password' : 'wrong password',
        );
        throw new IamError('invalid-credentials', 'wrong login or password');
      }
      limiter.recordSuccess(login, sourceIP);
      const orgs = await userOrganizations(db, user.id);
      if (orgs.length === 0)
        throw new IdentityError(
          'no-organization',
          'the user is a member of no organization: there is nothing to sign in to',
        );
      return performInEach(
        kernel,
        contextFor(auditActor(userPrincipal(user))),
        orgs.map((o) => o.login),
        'user-login',
        async (tx) => {
          const session = await iam.createSession(tx, user.id, ttlMs);
          const expiresAt = session.expiresAt!;
          return {
            result: { token: session.token, expiresAt },
            description: `Signed in as "${user.login}" with a password (session ${session.id}, until ${iso(expiresAt)})`,
            resource: { member: user.login, token: session.id },
          };
        },
      );
    },

    /**
     * Ends the caller's session at once. Not recorded: the catalog has no sign-out event, and ending a session only
     * takes access away (its start is recorded as `user-login`, with its end time).
     */
    async logout(principal: Principal): Promise<void> {
      if (principal.token?.kind !== 'session')
        throw new IamError(
          'invalid-argument',
          'signing out ends a session; revoke an access token with DELETE /api/user/tokens/{tokenId}',
        );
      await iam.revokeToken(db, principal.token.id);
    },
  };
}
