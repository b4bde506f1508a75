/**
 * Why an identity operation was refused. Closed union: callers map codes to HTTP answers, tests assert codes.
 * Messages name logins and ids at most; they never contain a password or token text.
 */
export type IamErrorCode =
  /** A login, team, project or environment name breaks the naming rules (`names.ts`). */
  | 'invalid-name'
  /** Some other argument is malformed: a role, permission, e-mail, URL, description, expiry or TTL. */
  | 'invalid-argument'
  /** A new password is too short or too long. */
  | 'invalid-password'
  /** An organization, user, team or membership with that name already exists. */
  | 'already-exists'
  /** No such organization, user, team, membership or token. */
  | 'not-found'
  /** The user is not a member of the organization (adding them to a team needs membership first). */
  | 'not-a-member'
  /** Wrong login or password. Deliberately the same for an unknown user and a wrong password. */
  | 'invalid-credentials'
  /** Too many failed sign-ins; `retryAfterSeconds` says when to try again. */
  | 'rate-limited'
  /** The token text matches no token. */
  | 'token-unknown'
  /** The token was revoked. */
  | 'token-revoked'
  /** The token (or session) has expired. */
  | 'token-expired'
  /** The change would leave the organization without an admin. */
  | 'last-admin';

export class IamError<C extends IamErrorCode = IamErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    /** For `rate-limited`: whole seconds until the next attempt may succeed (at least 1). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'IamError';
  }
}

/** True when `error` is an IamError, optionally with one of `codes`. */
export function isIamError<C extends IamErrorCode>(error: unknown, ...codes: C[]): error is IamError<C> {
  return error instanceof IamError && (codes.length === 0 || (codes as IamErrorCode[]).includes(error.code));
}
