import type { EventId } from './events.js';

/**
 * One audit record: the JSON object stored, as RFC 8785 canonical JSON, as one ledger entry. Version 1.
 *
 * Fields are never secret: no secret value, plaintext or ciphertext, ever appears in a record. Optional fields
 * are omitted (not null) when they do not apply.
 */
export interface AuditRecord {
  /** Record format version. */
  readonly v: 1;
  /** When the operation was performed: milliseconds since the Unix epoch, UTC. */
  readonly time: number;
  /** The organization whose log holds the record. */
  readonly org: string;
  readonly event: EventId;
  /** What happened, specifically: `Opened environment "app/prod" at revision 7`. */
  readonly description: string;
  readonly actor: AuditActor;
  readonly sourceIP: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  readonly resource?: AuditResource;
  /** `success`: the action happened; `denied`: it was refused for lack of permission (or failed sign-in). */
  readonly outcome: 'success' | 'denied';
  /** The action required the organization admin role. */
  readonly reqOrgAdmin?: true;
  /** The record is of a refused attempt (Pulumi's `authFailure`). */
  readonly authFailure?: true;
}

/** Who did it. `system` is the server itself (a schedule, a rotation); `onBehalfOf` then names the user behind it. */
export interface AuditActor {
  readonly kind: 'user' | 'token' | 'system';
  /** User login (Pulumi's `githubLogin`); for `system`, `system`. */
  readonly login: string;
  readonly name: string;
  readonly avatarUrl?: string;
  readonly tokenId?: string;
  readonly tokenName?: string;
  /** For tokens that belong to a team or the organization rather than a user. */
  readonly tokenKind?: 'personal' | 'team' | 'organization' | 'session';
  readonly scheduleId?: string;
  readonly onBehalfOf?: string;
}

/** What it was done to. */
export interface AuditResource {
  readonly project?: string;
  readonly environment?: string;
  readonly revision?: number;
  readonly tag?: string;
  readonly team?: string;
  readonly member?: string;
  readonly token?: string;
}
