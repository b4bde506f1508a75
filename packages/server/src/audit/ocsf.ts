import { eventType, isEventId, OCSF_CLASSES, type OcsfClassUid } from '@vigil/protocol';
import { utf8, type EntryRecord } from './pulumi-event.js';

/** The OCSF schema version the events follow (`metadata.version`). */
export const OCSF_VERSION = '1.3.0';
/** `metadata.product`. */
export const OCSF_PRODUCT = { name: 'Vigil', vendor_name: 'Vigil' } as const;

/** OCSF categories of the classes Vigil emits (`category_uid` = class_uid / 1000). */
const CATEGORIES: Record<number, string> = { 3: 'Identity & Access Management', 6: 'Application Activity' };

/** Activity names per class (OCSF 1.3 `activity_id` enums; 99 is Other everywhere). */
const ACTIVITIES: Record<OcsfClassUid, Record<number, string>> = {
  3001: {
    1: 'Create',
    2: 'Enable',
    3: 'Password Change',
    4: 'Password Reset',
    5: 'Disable',
    6: 'Delete',
    7: 'Attach Policy',
    8: 'Detach Policy',
    9: 'Lock',
    10: 'MFA Factor Enable',
    11: 'MFA Factor Disable',
  },
  3002: { 1: 'Logon', 2: 'Logoff', 3: 'Authentication Ticket', 4: 'Service Ticket Request' },
  3004: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' },
  6003: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' },
};

/** OCSF `severity_id`: refused attempts Medium (3), admin actions Low (2), everything else Informational (1). */
export const OCSF_SEVERITY = {
  denied: { id: 3, name: 'Medium' },
  admin: { id: 2, name: 'Low' },
  routine: { id: 1, name: 'Informational' },
} as const;

type Json = Record<string, unknown>;

/**
 * One ledger entry as an OCSF 1.x event (siem-formats reference §8.1), class and activity from the catalog:
 * API Activity (6003) with `api`, `resources`, `src_endpoint`; Account Change (3001) with `user`;
 * Authentication (3002) with `user`; Entity Management (3004) with `entity`. Every class has `actor.user`,
 * `src_endpoint.ip`, `metadata` (`uid` is the log index, as text) and `unmapped` (the record's fields OCSF has no
 * place for: the event id, organization, resource, token). The entry's bytes are attacker-reachable (the database
 * could be edited): fields are read with their types checked; an event outside the catalog is API Activity, Other.
 */
export function ocsfEvent(index: number, data: EntryRecord): Json {
  const r = parse(data);
  const actor = object(r.actor);
  const resource = object(r.resource);
  const event = text(r.event);
  const catalog = isEventId(event) ? eventType(event) : undefined;
  const classUid: OcsfClassUid = catalog?.ocsf.classUid ?? 6003;
  const activityId = catalog?.ocsf.activityId ?? 99;
  const activityName = ACTIVITIES[classUid][activityId] ?? 'Other';
  const categoryUid = Math.floor(classUid / 1000);
  const denied = r.outcome === 'denied' || r.authFailure === true;
  const severity = denied
    ? OCSF_SEVERITY.denied
    : r.reqOrgAdmin === true
      ? OCSF_SEVERITY.admin
      : OCSF_SEVERITY.routine;
  const login = text(actor.login);
  const actorUser = user(login, text(actor.name), actor.kind === 'system');
  const org = text(r.org);

  const base: Json = {
    time: typeof r.time === 'number' && Number.isFinite(r.time) ? Math.trunc(r.time) : 0,
    class_uid: classUid,
    class_name: OCSF_CLASSES[classUid],
    category_uid: categoryUid,
    category_name: CATEGORIES[categoryUid],
    activity_id: activityId,
    activity_name: activityName,
    type_uid: classUid * 100 + activityId,
    type_name: `${OCSF_CLASSES[classUid]}: ${activityName}`,
    severity_id: severity.id,
    severity: severity.name,
    status_id: denied ? 2 : 1,
    status: denied ? 'Failure' : 'Success',
    message: text(r.description),
    metadata: { product: OCSF_PRODUCT, version: OCSF_VERSION, uid: String(index), log_name: 'audit' },
    actor: { user: actorUser },
    src_endpoint: { ip: text(r.sourceIP) },
  };
  const userAgent = text(r.userAgent);
  const requestId = text(r.requestId);
  if (userAgent || requestId)
    base.http_request = {
      ...(userAgent ? { user_agent: userAgent } : {}),
      ...(requestId ? { uid: requestId } : {}),
    };

  let specific: Json;
  switch (classUid) {
    case 6003: {
      const resources = [];
      const project = text(resource.project);
      const environment = text(resource.environment);
      if (environment)
        resources.push({ type: 'environment', name: project ? `${project}/${environment}` : environment });
      specific = {
        api: { operation: event, service: { name: 'Vigil' } },
        ...(resources.length > 0 ? { resources } : {}),
      };
      break;
    }
    case 3001:
    case 3002: {
      // The account acted on: the member a record names (a role change), else the actor's own.
      const member = text(resource.member);
      specific = { user: member ? user(member, '', false) : actorUser };
      break;
    }
    case 3004: {
      const [type, name] = resource.team
        ? ['team', text(resource.team)]
        : resource.member
          ? ['member', text(resource.member)]
          : ['organization', org];
      specific = { entity: { type, name } };
      break;
    }
  }
  return { ...base, ...specific, unmapped: unmapped(r, event, org, actor, resource) };
}

/** OCSF `user`: `name` and `uid` are the login (Vigil's unique user id); type 3 System for the server itself. */
function user(login: string, fullName: string, system: boolean): Json {
  return {
    name: login,
    uid: login,
    ...(fullName && fullName !== login ? { full_name: fullName } : {}),
    type_id: system ? 3 : 1,
    type: system ? 'System' : 'User',
  };
}

/** The record's fields OCSF has no attribute for, as recorded (absent ones omitted). */
function unmapped(r: Json, event: string, org: string, actor: Json, resource: Json): Json {
  const token = Object.fromEntries(
    (
      [
        ['id', actor.tokenId],
        ['name', actor.tokenName],
        ['kind', actor.tokenKind],
      ] as const
    ).filter(([, v]) => typeof v === 'string'),
  );
  const extra = Object.fromEntries(
    (
      [
        ['actor_kind', actor.kind],
        ['on_behalf_of', actor.onBehalfOf],
        ['schedule_id', actor.scheduleId],
      ] as const
    ).filter(([, v]) => typeof v === 'string'),
  );
  return {
    event,
    org,
    ...extra,
    ...(Object.keys(token).length > 0 ? { token } : {}),
    ...(Object.keys(resource).length > 0 ? { resource } : {}),
    ...(r.reqOrgAdmin === true ? { req_org_admin: true } : {}),
    ...(r.authFailure === true ? { auth_failure: true } : {}),
  };
}

function parse(data: EntryRecord): Json {
  try {
    return object(JSON.parse(utf8(data)));
  } catch {
    return {};
  }
}

function object(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
