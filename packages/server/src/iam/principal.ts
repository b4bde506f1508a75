import type { TokenKind } from './token-text.js';

/** A user as audit records and the console show them. */
export interface PrincipalUser {
  readonly id: number;
  readonly login: string;
  readonly name: string;
  readonly email: string | null;
  readonly avatarUrl: string | null;
}

/**
 * Who is calling, as established by authentication; the kernel authorizes and the audit log records it.
 *
 * - `kind: 'user'`: a person, signed in with a password (`token` absent) or a session (`token.kind === 'session'`).
 * - `kind: 'token'`: an access token. A personal token carries `user` and acts as that user everywhere; an
 *   organization token carries `org` and acts as an admin of that organization only; a team token carries `org`
 *   and `team` and holds exactly the team's environment grants in that organization.
 *
 * `token.name` is the token's description (Pulumi calls it the token name). Never holds secrets or hashes.
 */
export interface Principal {
  readonly kind: 'user' | 'token';
  readonly user?: PrincipalUser;
  readonly token?: { readonly id: string; readonly name: string; readonly kind: TokenKind };
  /** The organization an organization or team token belongs to (and is confined to). */
  readonly org?: { readonly id: number; readonly login: string };
  readonly team?: { readonly id: number; readonly name: string };
}

/** The principal of a user who just proved their password (only the `PrincipalUser` fields are kept). */
export function userPrincipal(user: PrincipalUser): Principal {
  const { id, login, name, email, avatarUrl } = user;
  return { kind: 'user', user: { id, login, name, email, avatarUrl } };
}
