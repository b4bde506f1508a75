import { isEventId, eventType } from '@vigil/protocol';

/** Pulumi's `UserInfo` (audit-log reference §1.4); `avatarUrl` is `""` when unknown. */
export interface AuditLogUser {
  readonly name: string;
  readonly githubLogin: string;
  readonly avatarUrl: string;
}

/**
 * Pulumi's `AuditLogEvent`, fields in its `x-order`. The first five are always present; token fields are omitted
 * when empty and the booleans when false, as Pulumi's Go encoder does (`omitempty`/`omitzero`).
 */
export interface AuditLogEvent {
  readonly timestamp: number;
  readonly sourceIP: string;
  readonly event: string;
  readonly description: string;
  readonly user: AuditLogUser;
  readonly tokenID?: string;
  readonly tokenName?: string;
  readonly reqOrgAdmin?: true;
  readonly reqStackAdmin?: true;
  readonly authFailure?: true;
}

/**
 * An entry's bytes as Pulumi's `AuditLogEvent`. The bytes come from the database, which an attacker may have
 * edited: every field is read with its type checked, and a missing one becomes empty rather than an error.
 * `reqStackAdmin` comes from the catalog (Vigil's records do not carry it).
 */
export function toAuditLogEvent(data: Uint8Array): AuditLogEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(data));
  } catch {
    parsed = {};
  }
  const r = record(parsed);
  const actor = record(r.actor);
  const event = text(r.event);
  const time = typeof r.time === 'number' && Number.isFinite(r.time) ? r.time : 0;
  const login = text(actor.login);
  const tokenID = text(actor.tokenId);
  const tokenName = text(actor.tokenName);
  return {
    timestamp: Math.floor(time / 1000),
    sourceIP: text(r.sourceIP),
    event,
    description: text(r.description),
    user: { name: text(actor.name) || login, githubLogin: login, avatarUrl: text(actor.avatarUrl) },
    ...(tokenID ? { tokenID } : {}),
    ...(tokenName ? { tokenName } : {}),
    ...(r.reqOrgAdmin === true ? { reqOrgAdmin: true as const } : {}),
    ...(isEventId(event) && eventType(event).requiresStackAdmin ? { reqStackAdmin: true as const } : {}),
    ...(r.authFailure === true ? { authFailure: true as const } : {}),
  };
}

/** The time of an event in milliseconds, for formats finer than Pulumi's seconds (CEF's `rt`). */
export function recordTimeMs(data: Uint8Array): number {
  try {
    const time = (JSON.parse(utf8(data)) as { time?: unknown }).time;
    return typeof time === 'number' && Number.isFinite(time) ? time : 0;
  } catch {
    return 0;
  }
}

/** The entry's text, decoded in place (exports decode every entry: no copy). */
function utf8(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
