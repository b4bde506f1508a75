/** Organization roles. An auditor reads the audit log and nothing else (no environment access at all). */
export const ORG_ROLES = ['admin', 'member', 'auditor'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/**
 * Environment permissions, weakest first; each includes the ones before it.
 * - `read`: see definitions with secrets masked; never reveals a secret value.
 * - `open`: open (evaluate) the environment and decrypt its secrets.
 * - `write`: change the definition, tags and revisions.
 * - `admin`: delete the environment and manage its access.
 */
export const ENVIRONMENT_PERMISSIONS = ['none', 'read', 'open', 'write', 'admin'] as const;
export type EnvironmentPermission = (typeof ENVIRONMENT_PERMISSIONS)[number];

/** Pulumi's default for new organizations: every member can read every environment, opening needs a grant. */
export const DEFAULT_ENVIRONMENT_PERMISSION: EnvironmentPermission = 'read';

/** The wildcard environment of a team grant: the permission applies to every environment of the project. */
export const ALL_ENVIRONMENTS = '*';

export function isOrgRole(value: unknown): value is OrgRole {
  return typeof value === 'string' && (ORG_ROLES as readonly string[]).includes(value);
}

export function isEnvironmentPermission(value: unknown): value is EnvironmentPermission {
  return typeof value === 'string' && (ENVIRONMENT_PERMISSIONS as readonly string[]).includes(value);
}

const RANK: Readonly<Record<EnvironmentPermission, number>> = {
  none: 0,
  read: 1,
  open: 2,
  write: 3,
  admin: 4,
};

/** The stronger of the permissions (`none` for none). */
export function maxPermission(...permissions: readonly EnvironmentPermission[]): EnvironmentPermission {
  let best: EnvironmentPermission = 'none';
  for (const p of permissions) if (RANK[p] > RANK[best]) best = p;
  return best;
}

/** Whether `held` allows what `required` asks for. */
export function permits(held: EnvironmentPermission, required: EnvironmentPermission): boolean {
  return RANK[held] >= RANK[required];
}
