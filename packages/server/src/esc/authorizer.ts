import type { EnvironmentRef } from '../environments/names.js';
import type { IamService } from '../iam/iam-service.js';
import { permits, type EnvironmentPermission, type OrgRole } from '../iam/permissions.js';
import type { Refusal } from '../kernel/kernel.js';
import type { Storage } from '../storage/storage.js';
import type { Caller } from './esc-service.js';

/** `"project/env"`, as descriptions quote environments. */
export const quoteRef = (ref: { project: string; name: string }): string => `"${ref.project}/${ref.name}"`;

const MEMBERS: readonly OrgRole[] = ['admin', 'member'];

/**
 * Authorization decisions for organization and environment operations, shared by the ESC, rotation, schedule,
 * identity, audit-log and log-stream services: each answers undefined (allowed) or the Refusal to record. Reads
 * go to the reader connection.
 */
export function createAuthorizer(deps: { iam: IamService; storage: Storage }) {
  const { iam } = deps;
  const db = deps.storage.reader;

  /**
   * Refusal for a caller whose organization role is not one of `allowed`:
   * `<login> may not <action> <in|of> organization "<org>": role <role>` (or `not a member`). `reqOrgAdmin` marks
   * refusals of actions only admins may take.
   */
  async function roleRefusal(
    caller: Caller,
    org: string,
    allowed: readonly OrgRole[],
    action: string,
    options: { preposition?: 'in' | 'of'; reqOrgAdmin?: boolean } = {},
  ): Promise<Refusal | undefined> {
    const { role } = await iam.access(db, caller.principal, org);
    if (role && allowed.includes(role)) return undefined;
    return {
      event: 'auth-failure-organization-role',
      description: `${caller.ctx.actor.login} may not ${action} ${options.preposition ?? 'in'} organization "${org}": ${role ? `role ${role}` : 'not a member'}`,
      ...(options.reqOrgAdmin ? { reqOrgAdmin: true } : {}),
    };
  }

  return {
    roleRefusal,

    /** Allowed for organization admins and members (not auditors, not outsiders). */
    memberRefusal: (caller: Caller, org: string, action: string): Promise<Refusal | undefined> =>
      roleRefusal(caller, org, MEMBERS, action),

    /** The caller's permission on an environment (`none` outside the organization). */
    async permission(caller: Caller, ref: EnvironmentRef): Promise<EnvironmentPermission> {
      return (await iam.access(db, caller.principal, ref.org, { project: ref.project, env: ref.name }))
        .permission;
    },

    /**
     * Refusal for lacking `required` on an environment. Opening, cloning or importing one the caller cannot even
     * read (`opening`) is `environment-unauthorized-open`; anything else `auth-failure-environment`.
     */
    async envRefusal(
      caller: Caller,
      ref: EnvironmentRef,
      required: EnvironmentPermission,
      action: string,
      opening = false,
    ): Promise<Refusal | undefined> {
      const { role, permission: held } = await iam.access(db, caller.principal, ref.org, {
        project: ref.project,
        env: ref.name,
      });
      if (!role) {
        return {
          event: 'auth-failure-organization-role',
          description: `${caller.ctx.actor.login} may not ${action} environment ${quoteRef(ref)}: not a member of "${ref.org}"`,
        };
      }
      if (permits(held, required)) return undefined;
      return {
        event:
          opening && !permits(held, 'read') ? 'environment-unauthorized-open' : 'auth-failure-environment',
        description: `${caller.ctx.actor.login} may not ${action} environment ${quoteRef(ref)}: needs ${required} permission, has ${held}`,
      };
    },
  };
}

export type Authorizer = ReturnType<typeof createAuthorizer>;
