import type { AuditActor } from '@vigil/protocol';
import type { Principal } from '../iam/principal.js';
import type { Actor } from '../environments/types.js';

/**
 * The audit log's view of a principal: user login and name, and the token's id and name when a token was used.
 * Organization and team tokens have no user; they appear under a login naming what they belong to.
 */
export function auditActor(principal: Principal): AuditActor {
  const token = principal.token;
  const tokenFields =
    token && token.kind !== 'session'
      ? { tokenId: token.id, tokenName: token.name, tokenKind: token.kind }
      : {};
  if (principal.user) {
    return {
      kind: token && token.kind !== 'session' ? 'token' : 'user',
      login: principal.user.login,
      name: principal.user.name || principal.user.login,
      ...(principal.user.avatarUrl ? { avatarUrl: principal.user.avatarUrl } : {}),
      ...tokenFields,
    };
  }
  const owner = principal.team
    ? `${principal.org?.login ?? ''}/${principal.team.name}`
    : (principal.org?.login ?? 'unknown');
  return { kind: 'token', login: owner, name: token?.name || owner, ...tokenFields };
}

/** Who is named on revisions and tags the principal writes. */
export function storeActor(actor: AuditActor): Actor {
  return { login: actor.login, name: actor.name };
}
