/**
 * The audit event catalog, registered once. Everything else derives from it: the `/auditlogs/event-types`
 * answer, docs/events.md, export columns, OCSF classes, console labels and filters.
 *
 * Ids, display names and descriptions of Pulumi's events are Pulumi's, spelled exactly (including the uneven
 * verb forms such as `environment-revision-tag-delete`); `origin: 'vigil'` marks events Pulumi's catalog lacks.
 */

/** OCSF classes Vigil maps to (siem-formats reference §8.1). */
export const OCSF_CLASSES = {
  3001: 'Account Change',
  3002: 'Authentication',
  3004: 'Entity Management',
  6003: 'API Activity',
} as const;
export type OcsfClassUid = keyof typeof OCSF_CLASSES;

/** Grouping for docs and the console, after Pulumi's `audit_log_event_categories.yaml`. */
export const EVENT_CATEGORIES = {
  environments: 'Environments (ESC)',
  authentication: 'Authentication and identity',
  tokens: 'Access tokens',
  organization: 'Organization and members',
  teams: 'Teams',
  auditlogs: 'Audit logs',
} as const;
export type EventCategory = keyof typeof EVENT_CATEGORIES;

interface EventSpec {
  readonly displayName: string;
  readonly description: string;
  readonly category: EventCategory;
  /** OCSF class and activity_id (6003/3004: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other; 3002: 1 Logon). */
  readonly ocsf: readonly [OcsfClassUid, number];
  readonly requiresOrgAdmin?: boolean;
  readonly requiresStackAdmin?: boolean;
  /** Records a refused attempt rather than a completed action. */
  readonly authenticationFailure?: boolean;
  /** The operation reveals secret values: nothing is answered unless its record is durably sequenced. */
  readonly revealsSecrets?: boolean;
  /** Names the event had in Pulumi's older docs; accepted by filters. */
  readonly aliases?: readonly string[];
  readonly origin?: 'pulumi' | 'vigil';
}

const CATALOG = {
  // ---- Environments (Pulumi ESC) ----
  'environment-cloned': {
    displayName: 'Environment Cloned',
    description: 'An ESC environment was cloned into a new environment.',
    category: 'environments',
    ocsf: [6003, 1],
    aliases: ['Environment Clone'],
  },
  'environment-created': {
    displayName: 'Environment Created',
    description: 'An ESC environment was created.',
    category: 'environments',
    ocsf: [6003, 1],
  },
  'environment-decrypted': {
    displayName: 'Environment Decrypted',
    description: "An ESC environment's definition was read with its secrets decrypted.",
    category: 'environments',
    ocsf: [6003, 2],
    revealsSecrets: true,
  },
  'environment-deleted': {
    displayName: 'Environment Deleted',
    description: 'An ESC environment was deleted.',
    category: 'environments',
    ocsf: [6003, 4],
  },
  'environment-deletion-protection-disabled': {
    displayName: 'Environment Deletion Protection Disabled',
    description: 'Deletion protection was disabled on an ESC environment.',
    category: 'environments',
    ocsf: [6003, 3],
  },
  'environment-deletion-protection-enabled': {
    displayName: 'Environment Deletion Protection Enabled',
    description: 'Deletion protection was enabled on an ESC environment.',
    category: 'environments',
    ocsf: [6003, 3],
  },
  'environment-open': {
    displayName: 'Environment Open',
    description: 'An ESC environment was opened, evaluating its definition and resolving its providers.',
    category: 'environments',
    ocsf: [6003, 2],
    revealsSecrets: true,
  },
  'environment-read': {
    displayName: 'Environment Read',
    description: "An ESC environment's definition was read.",
    category: 'environments',
    ocsf: [6003, 2],
  },
  'environment-read-open': {
    displayName: 'Environment Read Open',
    description: 'The resolved values of an open ESC environment session were read.',
    category: 'environments',
    ocsf: [6003, 2],
    revealsSecrets: true,
  },
  'environment-restored': {
    displayName: 'Environment Restored',
    description: 'A deleted ESC environment was restored.',
    category: 'environments',
    ocsf: [6003, 3],
  },
  'environment-revision-retracted': {
    displayName: 'Environment Revision Retracted',
    description: 'A revision of an ESC environment was retracted.',
    category: 'environments',
    ocsf: [6003, 3],
    aliases: ['Environment Version Retracted'],
  },
  'environment-revision-tag-created': {
    displayName: 'Environment Revision Tag Created',
    description: 'A version tag was created on a revision of an ESC environment.',
    category: 'environments',
    ocsf: [6003, 1],
    aliases: ['Environment Version Tag Created'],
  },
  'environment-revision-tag-delete': {
    displayName: 'Environment Revision Tag Delete',
    description: 'A version tag was deleted from an ESC environment.',
    category: 'environments',
    ocsf: [6003, 4],
    aliases: ['Environment Version Tag Delete'],
  },
  'environment-revision-tag-open': {
    displayName: 'Environment Revision Tag Open',
    description: 'An ESC environment was opened at a specific version tag.',
    category: 'environments',
    ocsf: [6003, 2],
    revealsSecrets: true,
    aliases: ['Environment Version Tag Open'],
  },
  'environment-revision-tag-read': {
    displayName: 'Environment Revision Tag Read',
    description: 'A version tag on an ESC environment was read.',
    category: 'environments',
    ocsf: [6003, 2],
    aliases: ['Environment Version Tag Read'],
  },
  'environment-revision-tag-update': {
    displayName: 'Environment Revision Tag Update',
    description: 'A version tag on an ESC environment was moved to a different revision.',
    category: 'environments',
    ocsf: [6003, 3],
    aliases: ['Environment Version Tag Update'],
  },
  'environment-rotated': {
    displayName: 'Environment Rotated',
    description:
      'A secret rotation ran for an ESC environment. The event description records whether it succeeded or failed.',
    category: 'environments',
    ocsf: [6003, 3],
  },
  'environment-schedule-created': {
    displayName: 'Environment Schedule Created',
    description: 'A schedule was created on an ESC environment.',
    category: 'environments',
    ocsf: [6003, 1],
  },
  'environment-schedule-deleted': {
    displayName: 'Environment Schedule Deleted',
    description: 'A schedule was deleted from an ESC environment.',
    category: 'environments',
    ocsf: [6003, 4],
  },
  'environment-schedule-updated': {
    displayName: 'Environment Schedule Updated',
    description: 'A schedule on an ESC environment was changed.',
    category: 'environments',
    ocsf: [6003, 3],
  },
  'environment-tag-created': {
    displayName: 'Environment Tag Created',
    description: 'A tag was added to an ESC environment.',
    category: 'environments',
    ocsf: [6003, 1],
  },
  'environment-tag-deleted': {
    displayName: 'Environment Tag Deleted',
    description: 'A tag was removed from an ESC environment.',
    category: 'environments',
    ocsf: [6003, 4],
  },
  'environment-tag-updated': {
    displayName: 'Environment Tag Updated',
    description: 'A tag on an ESC environment was changed.',
    category: 'environments',
    ocsf: [6003, 3],
  },
  'environment-unauthorized-open': {
    displayName: 'Environment Unauthorized Open',
    description:
      'A user tried to open, clone, or import an ESC environment they do not have permission to read.',
    category: 'environments',
    ocsf: [6003, 2],
  },
  'environment-updated': {
    displayName: 'Environment Updated',
    description: "An ESC environment's definition was updated.",
    category: 'environments',
    ocsf: [6003, 3],
  },

  // ---- Authentication and identity ----
  'auth-failure-environment': {
    displayName: 'Auth Failure Environment',
    description: 'A user attempted an operation on an environment without the permission it requires.',
    category: 'authentication',
    ocsf: [6003, 99],
    authenticationFailure: true,
  },
  'auth-failure-organization-role': {
    displayName: 'Auth Failure Organization Role',
    description: 'A user attempted an operation without the organization role it requires.',
    category: 'authentication',
    ocsf: [6003, 99],
    authenticationFailure: true,
  },
  'user-login': {
    displayName: 'User Login',
    description: 'A user successfully logged in.',
    category: 'authentication',
    ocsf: [3002, 1],
  },
  'user-login-failed': {
    displayName: 'User Login Failed',
    description: 'A user tried to log in and failed, for example with an incorrect password.',
    category: 'authentication',
    ocsf: [3002, 1],
  },

  // ---- Access tokens ----
  'organization-token-created': {
    displayName: 'Organization Token Created',
    description: 'An organization access token was created.',
    category: 'tokens',
    ocsf: [3001, 1],
    requiresOrgAdmin: true,
  },
  'organization-token-deleted': {
    displayName: 'Organization Token Deleted',
    description: 'An organization access token was revoked.',
    category: 'tokens',
    ocsf: [3001, 6],
    requiresOrgAdmin: true,
  },
  'team-token-created': {
    displayName: 'Team Token Created',
    description: 'A team access token was created.',
    category: 'tokens',
    ocsf: [3001, 1],
    requiresOrgAdmin: true,
  },
  'team-token-deleted': {
    displayName: 'Team Token Deleted',
    description: 'A team access token was revoked.',
    category: 'tokens',
    ocsf: [3001, 6],
    requiresOrgAdmin: true,
  },
  'personal-token-created': {
    displayName: 'Personal Token Created',
    description: 'A user created a personal access token.',
    category: 'tokens',
    ocsf: [3001, 1],
    origin: 'vigil',
  },
  'personal-token-deleted': {
    displayName: 'Personal Token Deleted',
    description: 'A personal access token was revoked.',
    category: 'tokens',
    ocsf: [3001, 6],
    origin: 'vigil',
  },

  // ---- Organization and members ----
  'member-added': {
    displayName: 'Member Added',
    description: 'A member was added to an organization.',
    category: 'organization',
    ocsf: [3004, 1],
    requiresOrgAdmin: true,
  },
  'member-removed': {
    displayName: 'Member Removed',
    description: 'A member was removed from an organization.',
    category: 'organization',
    ocsf: [3004, 4],
    requiresOrgAdmin: true,
  },
  'member-role-changed': {
    displayName: 'Member Role Changed',
    description: "A member's role in an organization was changed.",
    category: 'organization',
    ocsf: [3001, 7],
    requiresOrgAdmin: true,
  },
  'organization-settings-changed': {
    displayName: 'Organization Settings Changed',
    description: "An organization's settings were changed.",
    category: 'organization',
    ocsf: [3004, 3],
    requiresOrgAdmin: true,
  },

  // ---- Teams ----
  'team-created': {
    displayName: 'Team Created',
    description: 'A team was created.',
    category: 'teams',
    ocsf: [3004, 1],
    requiresOrgAdmin: true,
  },
  'team-deleted': {
    displayName: 'Team Deleted',
    description: 'A team was deleted.',
    category: 'teams',
    ocsf: [3004, 4],
    requiresOrgAdmin: true,
  },
  'team-updated': {
    displayName: 'Team Updated',
    description: "A team's name, description, or membership was changed.",
    category: 'teams',
    ocsf: [3004, 3],
    requiresOrgAdmin: true,
  },

  // ---- Audit logs (Vigil's) ----
  'audit-log-exported': {
    displayName: 'Audit Log Exported',
    description: "The organization's audit log was exported.",
    category: 'auditlogs',
    ocsf: [6003, 2],
    origin: 'vigil',
  },
  'audit-log-export-tested': {
    displayName: 'Audit Log Export Tested',
    description:
      "A test object was written (or the write was tried) to the S3 destination of the organization's audit log export.",
    category: 'auditlogs',
    ocsf: [6003, 99],
    requiresOrgAdmin: true,
    origin: 'vigil',
  },
  'audit-log-stream-created': {
    displayName: 'Audit Log Stream Created',
    description:
      "A destination for the organization's audit log stream (webhook, syslog or S3-compatible object storage) was created.",
    category: 'auditlogs',
    ocsf: [3004, 1],
    requiresOrgAdmin: true,
    origin: 'vigil',
  },
  'audit-log-stream-deleted': {
    displayName: 'Audit Log Stream Deleted',
    description: "A destination of the organization's audit log stream was deleted.",
    category: 'auditlogs',
    ocsf: [3004, 4],
    requiresOrgAdmin: true,
    origin: 'vigil',
  },
  'audit-log-stream-updated': {
    displayName: 'Audit Log Stream Updated',
    description:
      "A destination of the organization's audit log stream was changed, paused or resumed (its secret may have been replaced).",
    category: 'auditlogs',
    ocsf: [3004, 3],
    requiresOrgAdmin: true,
    origin: 'vigil',
  },
} as const satisfies Record<string, EventSpec>;

export type EventId = keyof typeof CATALOG;

/** One catalog entry with every flag spelled out. */
export interface EventType {
  readonly id: EventId;
  readonly displayName: string;
  readonly description: string;
  readonly category: EventCategory;
  readonly ocsf: { readonly classUid: OcsfClassUid; readonly className: string; readonly activityId: number };
  readonly requiresOrgAdmin: boolean;
  readonly requiresStackAdmin: boolean;
  readonly authenticationFailure: boolean;
  readonly revealsSecrets: boolean;
  readonly deprecated: boolean;
  readonly aliases: readonly string[];
  readonly origin: 'pulumi' | 'vigil';
}

/** Every event type, sorted by id. */
export const EVENT_TYPES: readonly EventType[] = Object.entries(CATALOG as Record<string, EventSpec>)
  .map(([id, spec]): EventType => ({
    id: id as EventId,
    displayName: spec.displayName,
    description: spec.description,
    category: spec.category,
    ocsf: { classUid: spec.ocsf[0], className: OCSF_CLASSES[spec.ocsf[0]], activityId: spec.ocsf[1] },
    requiresOrgAdmin: spec.requiresOrgAdmin ?? false,
    requiresStackAdmin: spec.requiresStackAdmin ?? false,
    authenticationFailure: spec.authenticationFailure ?? false,
    revealsSecrets: spec.revealsSecrets ?? false,
    deprecated: false,
    aliases: spec.aliases ?? [],
    origin: spec.origin ?? 'pulumi',
  }))
  .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

const BY_ID = new Map<string, EventType>(EVENT_TYPES.map((e) => [e.id, e]));
const BY_NAME = new Map<string, EventType>(
  EVENT_TYPES.flatMap((e) => [e.displayName, ...e.aliases].map((name) => [name.toLowerCase(), e] as const)),
);

export function isEventId(value: string): value is EventId {
  return BY_ID.has(value);
}

export function eventType(id: EventId): EventType {
  return BY_ID.get(id)!;
}

/** Resolves what a filter may say: an id, a display name, or a legacy name from Pulumi's older docs. */
export function resolveEventName(name: string): EventType | undefined {
  return BY_ID.get(name) ?? BY_NAME.get(name.trim().toLowerCase());
}
