import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';

/** Where a store method runs: the database, or the caller's (audited) transaction. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** Who did it, as recorded on revisions and tags (`creatorLogin`, `editorName`, …). */
export interface Actor {
  readonly login: string;
  readonly name?: string;
}

/** All times are epoch milliseconds; the HTTP layer renders ISO 8601. */
export interface EnvironmentInfo {
  readonly id: string;
  readonly org: string;
  readonly project: string;
  readonly name: string;
  /** The newest revision (what `latest` names). */
  readonly revision: number;
  /** Strong ETag of the newest revision, quoted, ready for the `ETag` header. */
  readonly etag: string;
  readonly created: number;
  readonly modified: number;
  readonly deletionProtected: boolean;
  /** Set on soft-deleted environments (the `deletionTimestamp` that restores them). */
  readonly deletedAt?: number;
  readonly createdBy?: string;
}

/** The current definition: the YAML exactly as stored (secrets are ciphertext, sealed by the caller). */
export interface EnvironmentDefinition extends EnvironmentInfo {
  readonly yaml: string;
}

/** One row of an organization's environment list. */
export interface EnvironmentSummary extends EnvironmentInfo {
  readonly tags: Readonly<Record<string, string>>;
}

export interface EnvironmentPage {
  readonly environments: readonly EnvironmentSummary[];
  /** Absent on the last page. */
  readonly nextToken?: string;
}

export interface Retraction {
  readonly replacement: number;
  readonly at: number;
  readonly byLogin?: string;
  readonly byName?: string;
  readonly reason?: string;
}

/** One revision as `GET …/versions` lists it. */
export interface RevisionInfo {
  readonly number: number;
  readonly created: number;
  readonly creatorLogin?: string;
  readonly creatorName?: string;
  /** Revision tags pointing here, by name (including `latest` on the newest). */
  readonly tags: readonly string[];
  readonly retracted?: Retraction;
}

/** A revision's definition, after resolving tags and retractions. */
export interface RevisionContent {
  readonly environment: EnvironmentInfo;
  /** The revision whose YAML this is (the replacement when `requested` is retracted). */
  readonly revision: number;
  /** The revision the version segment named (a tag resolved to its number). */
  readonly requested: number;
  /** Set when `requested` is retracted: the retraction that was followed. */
  readonly retracted?: Retraction;
  readonly yaml: string;
  /** Strong ETag of `revision`. */
  readonly etag: string;
  readonly created: number;
  readonly creatorLogin?: string;
  readonly creatorName?: string;
}

export interface RevisionTag {
  readonly name: string;
  readonly revision: number;
  readonly created: number;
  readonly modified: number;
  readonly editorLogin?: string;
  readonly editorName?: string;
}

export interface RevisionTagPage {
  readonly tags: readonly RevisionTag[];
  /** The last name served, for the next request's `after`; absent on the last page. */
  readonly nextToken?: string;
}

export interface EnvironmentTag {
  readonly name: string;
  readonly value: string;
  readonly created: number;
  readonly modified: number;
  readonly editorLogin?: string;
  readonly editorName?: string;
}

export interface EnvironmentTagPage {
  /** A map by name, as the ESC API returns it (empty: `{}`). */
  readonly tags: Readonly<Record<string, EnvironmentTag>>;
  readonly nextToken?: string;
}

export interface OpenSession {
  readonly org: string;
  readonly project: string;
  readonly env: string;
  readonly revision: number;
  /** The evaluated environment, decrypted: holds secret plaintext. */
  readonly values: unknown;
  readonly openedBy: string;
  readonly created: number;
  readonly expiresAt: number;
}
