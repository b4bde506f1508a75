import { EVENT_TYPES } from '@vigil/protocol';

/** Pulumi's `UserInfo` (audit-log reference §1.4); `avatarUrl` is `""` when unknown. */
export interface AuditLogUser {
  readonly name: string;
  readonly githubLogin: string;
  readonly avatarUrl: string;
}

/**
 * Pulumi's `AuditLogEvent`, fields in its `x-order`. The first five are always present; the token and actor fields
 * are omitted when empty and the booleans when false, as Pulumi's Go encoder does (`omitempty`/`omitzero`).
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
  /** Display name of a non-human actor (`nonHumanActor`). */
  readonly actorName?: string;
  /** Vigil's URN of a non-human actor (`nonHumanActor`). */
  readonly actorUrn?: string;
}

/** Event ids whose catalog entry requires stack admin (Vigil's records do not carry `reqStackAdmin`). */
export const STACK_ADMIN_EVENT_IDS: readonly string[] = EVENT_TYPES.filter((e) => e.requiresStackAdmin).map(
  (e) => e.id,
);
const STACK_ADMIN_EVENTS: ReadonlySet<string> = new Set(STACK_ADMIN_EVENT_IDS);

/** Whether the catalog's entry for this event id requires stack admin (`reqStackAdmin`). */
function requiresStackAdmin(event: string): boolean {
  return STACK_ADMIN_EVENTS.has(event);
}

/**
 * An entry's bytes as Pulumi's `AuditLogEvent`. The bytes come from the database, which an attacker may have
 * edited: every field is read with its type checked, and a missing one becomes empty rather than an error.
 * `reqStackAdmin` comes from the catalog. Exports call this for every entry: it builds the answer in one pass,
 * fields assigned in Pulumi's order.
 */
export function toAuditLogEvent(data: EntryRecord): AuditLogEvent {
  return eventOf(decode(data));
}

/**
 * The event, and its time in milliseconds for formats finer than Pulumi's seconds (CEF's `rt`), from one decoding
 * of the entry.
 */
export function toTimedAuditLogEvent(data: EntryRecord): { event: AuditLogEvent; timeMs: number } {
  const decoded = decode(data);
  return { event: eventOf(decoded), timeMs: decoded.timeMs };
}

function eventOf({ r, actor, event, login, timestamp }: Decoded): AuditLogEvent {
  const out: Mutable<AuditLogEvent> = {
    timestamp,
    sourceIP: text(r.sourceIP),
    event,
    description: text(r.description),
    user: { name: text(actor.name) || login, githubLogin: login, avatarUrl: text(actor.avatarUrl) },
  };
  const tokenID = text(actor.tokenId);
  if (tokenID) out.tokenID = tokenID;
  const tokenName = text(actor.tokenName);
  if (tokenName) out.tokenName = tokenName;
  if (r.reqOrgAdmin === true) out.reqOrgAdmin = true;
  if (requiresStackAdmin(event)) out.reqStackAdmin = true;
  if (r.authFailure === true) out.authFailure = true;
  const nonHuman = nonHumanActor(text(r.org), actor);
  if (nonHuman) {
    if (nonHuman.name) out.actorName = nonHuman.name;
    out.actorUrn = nonHuman.urn;
  }
  return out;
}

/**
 * The fields of an entry a CSV line shows (Pulumi's export columns), read as `toAuditLogEvent` reads them, without
 * building the rest of the event: exports decode every entry, and this is most of an export's cost.
 */
export interface CsvFields {
  readonly timestamp: number;
  readonly name: string;
  readonly login: string;
  readonly event: string;
  readonly description: string;
  readonly sourceIP: string;
  readonly reqOrgAdmin: boolean;
  readonly reqStackAdmin: boolean;
  readonly authFailure: boolean;
}

export function csvFields(data: EntryRecord): CsvFields {
  const { r, actor, event, login, timestamp } = decode(data);
  return {
    timestamp,
    name: text(actor.name) || login,
    login,
    event,
    description: text(r.description),
    sourceIP: text(r.sourceIP),
    reqOrgAdmin: r.reqOrgAdmin === true,
    reqStackAdmin: requiresStackAdmin(event),
    authFailure: r.authFailure === true,
  };
}

/**
 * Pulumi's `actorName`/`actorUrn` ("display name" and "URN of the non-human actor") for the actors of a Vigil
 * record that are not a person: the server itself (`kind: system`: schedules, rotations, start-up), and tokens
 * that belong to a team or the organization (no user behind them). A personal token acts as its user, so its
 * records name only the user (and `tokenID`/`tokenName`). URNs are Vigil's own (`urn:vigil:<org>:…`, each part
 * percent-encoded): `…:schedule:<id>` for a scheduled action, `…:system` for the server otherwise,
 * `…:team-token:<id>` and `…:organization-token:<id>` for tokens. Undefined for a person.
 */
export function nonHumanActor(
  org: string,
  actor: Record<string, unknown>,
): { name: string; urn: string } | undefined {
  if (actor.kind === 'system') {
    const schedule = text(actor.scheduleId);
    return { name: text(actor.name), urn: urn(org, ...(schedule ? ['schedule', schedule] : ['system'])) };
  }
  const tokenKind = actor.tokenKind;
  if (actor.kind !== 'token' || (tokenKind !== 'team' && tokenKind !== 'organization')) return undefined;
  return {
    name: text(actor.tokenName) || text(actor.name),
    urn: urn(org, `${tokenKind}-token`, text(actor.tokenId)),
  };
}

function urn(...parts: string[]): string {
  return ['urn', 'vigil', ...parts].map(encodeURIComponent).join(':');
}

/**
 * An entry's record as these functions take it: its bytes, or their text decoded as `Buffer.toString('utf8')`
 * decodes them (`SelectedText`), which reads the same.
 */
export type EntryRecord = Uint8Array | string;

/** What every reading of an entry starts from: the record (empty when the bytes are not one) and its common fields. */
function decode(data: EntryRecord) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(data));
  } catch {
    parsed = undefined;
  }
  const r = record(parsed);
  const actor = record(r.actor);
  const timeMs = typeof r.time === 'number' && Number.isFinite(r.time) ? r.time : 0;
  return {
    r,
    actor,
    event: text(r.event),
    login: text(actor.login),
    timeMs,
    timestamp: Math.floor(timeMs / 1000),
  };
}

type Decoded = ReturnType<typeof decode>;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The entry's text, decoded in place (exports decode every entry: no copy). */
export function utf8(data: EntryRecord): string {
  if (typeof data === 'string') return data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}

const EMPTY: Record<string, unknown> = Object.freeze({});

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : EMPTY;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
