import type { Generated } from 'kysely';

/**
 * The database as Kysely sees it. Integers that may exceed 2^31 are BIGINT in PostgreSQL and are parsed into JS
 * numbers (see `storage.ts`); byte columns are BLOB / BYTEA and arrive as Buffers.
 */
export interface Database {
  ledger_logs: LedgerLogsTable;
  ledger_entries: LedgerEntriesTable;
  ledger_hashes: LedgerHashesTable;
  ledger_checkpoints: LedgerCheckpointsTable;
  ledger_signing_keys: LedgerSigningKeysTable;
  iam_organizations: IamOrganizationsTable;
  iam_users: IamUsersTable;
  iam_members: IamMembersTable;
  iam_teams: IamTeamsTable;
  iam_team_members: IamTeamMembersTable;
  iam_team_grants: IamTeamGrantsTable;
  iam_tokens: IamTokensTable;
  environments: EnvironmentsTable;
  environment_revisions: EnvironmentRevisionsTable;
  environment_retractions: EnvironmentRetractionsTable;
  environment_revision_tags: EnvironmentRevisionTagsTable;
  environment_tags: EnvironmentTagsTable;
  environment_open_sessions: EnvironmentOpenSessionsTable;
  audit_events: AuditEventsTable;
}

/** One append-only log per organization. */
export interface LedgerLogsTable {
  id: Generated<number>;
  org: string;
  created_at: number;
}

/** Entry `idx` of log `log_id`: the exact RFC 8785 bytes that are hashed. Dense: 0..size-1. */
export interface LedgerEntriesTable {
  log_id: number;
  idx: number;
  data: Uint8Array;
}

/**
 * Hashes of complete subtrees: level L, index k covers leaves [k·2^L, (k+1)·2^L). Level 0 holds leaf hashes;
 * levels 1–3 are not written (hashed from the leaves when read, see `STORED_FROM_LEVEL`). Written in the same
 * transaction as the entries they cover, so a committed entry is always integrated.
 */
export interface LedgerHashesTable {
  log_id: number;
  level: number;
  idx: number;
  hash: Uint8Array;
}

/** Every checkpoint the server signed, kept forever: the signed note text and the root it commits to. */
export interface LedgerCheckpointsTable {
  log_id: number;
  size: number;
  root: Uint8Array;
  note: string;
  created_at: number;
}

/** The note verifier keys that have signed checkpoints in this database; one instance refuses to mix keys. */
export interface LedgerSigningKeysTable {
  verifier_key: string;
  created_at: number;
}

/**
 * The audit log's query index: one row per ledger entry that is an audit record, written in the entry's
 * transaction. `actor_login` is the login's key (lower case), so user filters match as logins do.
 */
export interface AuditEventsTable {
  log_id: number;
  idx: number;
  time: number;
  event: string;
  actor_login: string;
  token_name: string | null;
  project: string | null;
  environment: string | null;
  source_ip: string | null;
  outcome: string | null;
  /** Migration 0007: the description in lower case (free-word queries). */
  description_folded: string | null;
  /** Migration 0007: `source_ip` as a 16-byte sortable key (IPv4 mapped into IPv6), for CIDR queries. */
  source_ip_key: Uint8Array | null;
}

/** Organizations. `login_key` is `lower(login)`: logins are unique and looked up case-insensitively. */
export interface IamOrganizationsTable {
  id: Generated<number>;
  login: string;
  login_key: string;
  name: string;
  /** What every member may do on every environment before team grants: none | read | open | write | admin. */
  default_environment_permission: Generated<string>;
  created_at: number;
  updated_at: number;
}

/** Users. `password_hash` is `scrypt$N$r$p$salt$hash` (base64url), null without a local password. */
export interface IamUsersTable {
  id: Generated<number>;
  login: string;
  login_key: string;
  name: string;
  email: string | null;
  avatar_url: string | null;
  password_hash: string | null;
  created_at: number;
  updated_at: number;
}

/** Organization membership and role: admin | member | auditor. */
export interface IamMembersTable {
  org_id: number;
  user_id: number;
  role: string;
  created_at: number;
}

/** Teams of an organization; `name_key` is `lower(name)`, unique per organization. */
export interface IamTeamsTable {
  id: Generated<number>;
  org_id: number;
  name: string;
  name_key: string;
  display_name: string;
  description: string;
  created_at: number;
  updated_at: number;
}

export interface IamTeamMembersTable {
  team_id: number;
  user_id: number;
  created_at: number;
}

/** A team's permission on one environment of a project, or on all of them (`environment = '*'`). */
export interface IamTeamGrantsTable {
  team_id: number;
  project: string;
  environment: string;
  permission: string;
  created_at: number;
}

/**
 * Access tokens (personal, team, organization) and sign-in sessions. Only SHA-256 of the token text is stored;
 * the text itself is shown once at creation. Times are epoch milliseconds.
 */
export interface IamTokensTable {
  id: string;
  kind: string;
  hash: Uint8Array;
  org_id: number | null;
  user_id: number | null;
  team_id: number | null;
  description: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

/**
 * An environment, identified by a random UUID so that a re-created name never shares ETags with its predecessor.
 * At most one live row per (org, project, name); soft-deleted rows keep `deleted_at` and all their history.
 */
export interface EnvironmentsTable {
  id: string;
  /** The organization's login (the identity tables are not referenced). */
  org: string;
  project: string;
  name: string;
  /** The newest revision number (revisions are dense: 1..head_revision). */
  head_revision: number;
  /** 0 or 1. */
  deletion_protected: number;
  created_at: number;
  modified_at: number;
  deleted_at: number | null;
  created_by: string | null;
}

/** Immutable revisions (append-only in the database): the definition YAML exactly as stored. */
export interface EnvironmentRevisionsTable {
  env_id: string;
  number: number;
  yaml: string;
  created_at: number;
  creator_login: string | null;
  creator_name: string | null;
}

/** Retractions, one per retracted revision (append-only: a retraction is history too). */
export interface EnvironmentRetractionsTable {
  env_id: string;
  number: number;
  replacement: number;
  reason: string | null;
  retracted_at: number;
  by_login: string | null;
  by_name: string | null;
}

/** Named pointers to revisions, including the built-in `latest`. */
export interface EnvironmentRevisionTagsTable {
  env_id: string;
  name: string;
  revision: number;
  created_at: number;
  modified_at: number;
  editor_login: string | null;
  editor_name: string | null;
}

/** Key/value tags on an environment. */
export interface EnvironmentTagsTable {
  env_id: string;
  name: string;
  value: string;
  created_at: number;
  modified_at: number;
  editor_login: string | null;
  editor_name: string | null;
}

/** Open sessions: the evaluated environment, sealed by the SecretBox. Keyed by SHA-256 of the session id. */
export interface EnvironmentOpenSessionsTable {
  id_hash: string;
  org: string;
  project: string;
  env: string;
  revision: number;
  sealed: Uint8Array;
  opened_by: string;
  created_at: number;
  expires_at: number;
}
