import { isIP } from 'node:net';
import type { SecretBox } from '../environments/secret-box.js';
import type { Caller } from '../esc/esc-service.js';
import type { IamService } from '../iam/iam-service.js';
import { createAuthorizer } from '../esc/authorizer.js';
import type { Kernel } from '../kernel/kernel.js';
import type { LedgerStore } from '../ledger/ledger-store.js';
import type { Storage } from '../storage/storage.js';
import {
  entryRangeOfTimes,
  openStreamSecret,
  readStreamEntries,
  sendToStream,
  STREAM_TIMEOUT_MS,
  streamSecretAad,
} from './log-stream-delivery.js';
import {
  deleteStream,
  findStream,
  findStreamNamed,
  insertStream,
  nameTaken,
  newStreamId,
  orgStreams,
  updateStream,
  type LogStream,
  type S3Destination,
  type StreamDestination,
  type StreamKind,
} from './log-stream-store.js';
import { parseQuery, QueryError } from './query-language.js';
import { testS3 } from './s3-sink.js';
import { DeliveryError } from './stream-delivery-error.js';
import { MAX_WEBHOOK_SECRET, MIN_WEBHOOK_SECRET, newWebhookSecret } from './webhook-sink.js';

export type StreamErrorCode = 'invalid-argument' | 'already-exists' | 'not-found';

/** A stream request the service refuses; `param` names the request field at fault. */
export class StreamError<C extends StreamErrorCode = StreamErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'StreamError';
  }
}

/** What a create or PATCH asks for, shape-checked by the route (types only; values are checked here). */
export interface StreamRequest {
  readonly name?: string;
  readonly kind?: string;
  readonly url?: string;
  readonly secret?: string;
  readonly host?: string;
  readonly port?: number;
  readonly tls?: boolean;
  readonly ca?: string;
  /** s3: the service's origin; `https://s3.<region>.amazonaws.com` when absent. */
  readonly endpoint?: string;
  readonly bucket?: string;
  readonly prefix?: string;
  readonly region?: string;
  readonly accessKeyId?: string;
  /** s3: write-only, like a webhook's secret. */
  readonly secretAccessKey?: string;
  readonly pathStyle?: boolean;
  /** s3, through Pulumi's `…/export/config` only: kept and answered back, never used. */
  readonly iamRoleArn?: string;
  /** `null` or `''` on PATCH removes the filter. */
  readonly q?: string | null;
  /** Create only: deliver from the log's first entry (`beginning`) or from now on (`now`, the default). */
  readonly from?: string;
  /** Create paused, or pause (`true`) or resume (`false`) with a change. */
  readonly paused?: boolean;
}

/** The request fields that set each kind's destination (a field of another kind is refused). */
const KIND_FIELDS = {
  webhook: ['url', 'secret'],
  syslog: ['host', 'port', 'tls', 'ca'],
  s3: ['endpoint', 'bucket', 'prefix', 'region', 'accessKeyId', 'secretAccessKey', 'pathStyle', 'iamRoleArn'],
} as const satisfies Record<StreamKind, readonly (keyof StreamRequest)[]>;
const KINDS = Object.keys(KIND_FIELDS) as StreamKind[];

/** A stream with its delivery health, as the API answers it. */
export interface StreamView {
  readonly stream: LogStream;
  /** Entries recorded but not yet delivered (or skipped by the filter): log size − cursor. */
  readonly lag: number;
}

export const MAX_STREAM_NAME = 64;
/** The s3 stream behind Pulumi's `…/auditlogs/export/config` (export-config.ts): the name is kept for it. */
export const EXPORT_STREAM_NAME = 'pulumi-export';
export const MAX_STREAM_URL = 2048;
/** Largest `ca` bundle accepted (a few certificates). */
export const MAX_STREAM_CA = 64 * 1024;
/** The s3 signing region when none is given (AWS's default). */
export const DEFAULT_S3_REGION = 'us-east-1';
/** Longest s3 key prefix (S3 keys are at most 1024 bytes; the hour folders and indexes need the rest). */
export const MAX_S3_PREFIX = 512;
/** Longest secret access key or `iamRoleArn` accepted (AWS's are 40 and at most 2048 characters). */
export const MAX_S3_SECRET = 256;
export const MAX_S3_ROLE_ARN = 2048;

export interface LogStreamServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly ledger: LedgerStore;
  readonly secrets: SecretBox;
  readonly now?: () => number;
  /** How long a test write or a forced export waits for the destination (`STREAM_TIMEOUT_MS`). */
  readonly timeoutMs?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HOST = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length > MAX_STREAM_NAME || !NAME.test(name))
    throw new StreamError(
      'invalid-argument',
      `name must be 1–${MAX_STREAM_NAME} letters, digits, ".", "_" or "-"`,
      'name',
    );
  return name;
}

/** An http(s) URL without credentials (they would be answered and recorded; the stream's secret is separate). */
function checkUrl(url: unknown, param = 'url'): URL {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' && url.length <= MAX_STREAM_URL ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:'))
    throw new StreamError('invalid-argument', `${param} must be an http or https URL`, param);
  if (parsed.username || parsed.password)
    throw new StreamError('invalid-argument', `${param} must not contain credentials`, param);
  return parsed;
}

/** `min`–`max` printable ASCII characters, no spaces. */
function checkSecret(secret: unknown, param: string, min: number, max: number): string {
  if (
    typeof secret !== 'string' ||
    secret.length < min ||
    secret.length > max ||
    !/^[\x21-\x7e]+$/.test(secret)
  )
    throw new StreamError(
      'invalid-argument',
      `${param} must be ${min}–${max} printable ASCII characters`,
      param,
    );
  return secret;
}

const checkWebhookSecret = (secret: unknown) =>
  checkSecret(secret, 'secret', MIN_WEBHOOK_SECRET, MAX_WEBHOOK_SECRET);

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z0-9][a-z0-9-]{0,31}$/;
const ACCESS_KEY_ID = /^[A-Za-z0-9._~+=@-]{1,128}$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * An s3 destination: the request's fields over the current destination's (a PATCH, or Pulumi's `…/export/config`
 * completing its three fields with the connection already stored). Bucket names follow S3's rules; the prefix is
 * restricted to letters, digits, `.`, `_`, `-` and `/` between segments, so that keys need no escaping.
 */
function checkS3(request: StreamRequest, current?: StreamDestination): S3Destination {
  const base = current?.kind === 's3' ? current : undefined;
  const bucket = request.bucket ?? base?.bucket;
  if (typeof bucket !== 'string' || !BUCKET.test(bucket) || bucket.includes('..'))
    throw new StreamError(
      'invalid-argument',
      'bucket must be an S3 bucket name (3–63 a-z, 0-9, ".", "-")',
      'bucket',
    );
  const prefix = (request.prefix ?? base?.prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (
    prefix.length > MAX_S3_PREFIX ||
    (prefix !== '' && !prefix.split('/').every((p) => PREFIX_SEGMENT.test(p) && p !== '.' && p !== '..'))
  )
    throw new StreamError(
      'invalid-argument',
      `prefix must be at most ${MAX_S3_PREFIX} letters, digits, ".", "_", "-", in segments separated by "/"`,
      'prefix',
    );
  const region = request.region ?? base?.region ?? DEFAULT_S3_REGION;
  if (!REGION.test(region))
    throw new StreamError('invalid-argument', 'region must be a region name such as us-east-1', 'region');
  const endpointUrl = checkUrl(
    request.endpoint ?? base?.endpoint ?? `https://s3.${region}.amazonaws.com`,
    'endpoint',
  );
  if (endpointUrl.pathname !== '/' || endpointUrl.search || endpointUrl.hash)
    throw new StreamError('invalid-argument', 'endpoint must be an origin (scheme, host, port)', 'endpoint');
  const accessKeyId = request.accessKeyId ?? base?.accessKeyId;
  if (typeof accessKeyId !== 'string' || !ACCESS_KEY_ID.test(accessKeyId))
    throw new StreamError('invalid-argument', 'accessKeyId must be an access key id', 'accessKeyId');
  const pathStyle = request.pathStyle ?? base?.pathStyle ?? false;
  if (!pathStyle && isIP(endpointUrl.hostname.replace(/^\[|\]$/g, '')) !== 0)
    throw new StreamError(
      'invalid-argument',
      'an endpoint that is an IP address needs pathStyle: true (a bucket cannot be its subdomain)',
      'pathStyle',
    );
  const iamRoleArn = request.iamRoleArn ?? base?.iamRoleArn;
  if (iamRoleArn !== undefined && (iamRoleArn.length > MAX_S3_ROLE_ARN || !/^[\x20-\x7e]*$/.test(iamRoleArn)))
    throw new StreamError('invalid-argument', 'iamRoleArn must be printable ASCII', 'iamRoleArn');
  return {
    kind: 's3',
    endpoint: endpointUrl.origin,
    bucket,
    prefix,
    region,
    accessKeyId,
    pathStyle,
    ...(iamRoleArn ? { iamRoleArn } : {}),
  };
}

const checkS3Secret = (secret: unknown) => checkSecret(secret, 'secretAccessKey', 1, MAX_S3_SECRET);

/** Refuses a field that sets another kind's destination. */
function checkFields(request: StreamRequest, kind: StreamKind): void {
  for (const other of KINDS)
    if (other !== kind)
      for (const field of KIND_FIELDS[other])
        if (request[field] !== undefined)
          throw new StreamError('invalid-argument', `${field} is not a setting of ${kind} streams`, field);
}

function checkSyslog(request: StreamRequest, current?: StreamDestination): StreamDestination {
  const base = current?.kind === 'syslog' ? current : undefined;
  const host = request.host ?? base?.host;
  if (typeof host !== 'string' || host.length > 253 || !(HOST.test(host) || isIP(host) !== 0))
    throw new StreamError('invalid-argument', 'host must be a host name or an IP address', 'host');
  const port = request.port ?? base?.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new StreamError('invalid-argument', 'port must be an integer from 1 to 65535', 'port');
  const tls = request.tls ?? base?.tls ?? false;
  const ca = request.ca ?? base?.ca;
  if (ca !== undefined && (ca.length > MAX_STREAM_CA || !ca.includes('-----BEGIN CERTIFICATE-----')))
    throw new StreamError('invalid-argument', 'ca must be PEM certificates', 'ca');
  if (ca !== undefined && !tls) throw new StreamError('invalid-argument', 'ca needs tls: true', 'ca');
  return { kind: 'syslog', host, port, tls, ...(ca !== undefined ? { ca } : {}) };
}

function checkQuery(q: string | null | undefined): string | undefined {
  if (q === undefined || q === null || q.trim() === '') return undefined;
  try {
    if (parseQuery(q) === undefined) return undefined;
  } catch (error) {
    if (error instanceof QueryError) throw new StreamError('invalid-argument', `q: ${error.message}`, 'q');
    throw error;
  }
  return q;
}

/**
 * Where a stream delivers, for descriptions: a webhook URL's origin only (a path or query may carry a token), an
 * s3 bucket and endpoint (never the access key).
 */
function describeDestination(d: StreamDestination): string {
  switch (d.kind) {
    case 'webhook':
      return `webhook to ${new URL(d.url).origin}`;
    case 'syslog':
      return `syslog to ${d.host}:${d.port}${d.tls ? ' over TLS' : ''}`;
    case 's3':
      return `s3 bucket "${d.bucket}"${d.prefix ? `, prefix "${d.prefix}"` : ''} at ${d.endpoint}`;
  }
}

const describeFilter = (query: string | undefined) => (query ? `, filter ${JSON.stringify(query)}` : '');

/** What a delivery error says (the destination refused or was unreachable); anything else is thrown on. */
const deliveryFailure = (error: unknown): string => {
  if (error instanceof DeliveryError) return error.message;
  throw error;
};

/** The result of a test write or a forced export (Pulumi's `AuditLogExportResult`): when, and what failed. */
export interface ExportAttempt {
  readonly at: number;
  readonly error?: string;
}

/**
 * Audit log streams (issue #6, docs/log-streams.md): an organization's destinations, managed by its admins only.
 * Create, update (PATCH, pause, resume) and delete are kernel operations recording `audit-log-stream-*`; reads
 * are not recorded; every refusal is (`auth-failure-organization-role`). A webhook's secret and an s3 secret access
 * key are sealed with the server's SecretBox; a generated webhook secret is answered once, at creation, and
 * nothing else ever is. Test writes (`audit-log-export-tested`) and forced exports (`audit-log-exported`) of an s3
 * stream serve Pulumi's `…/export/config` API (export-config.ts).
 */
export function createLogStreamService(deps: LogStreamServiceDeps) {
  const { storage, kernel, iam, ledger, secrets } = deps;
  const db = storage.reader;
  const now = deps.now ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? STREAM_TIMEOUT_MS;

  const { roleRefusal } = createAuthorizer({ iam, storage });
  const adminRefusal = (caller: Caller, org: string, action: string) =>
    roleRefusal(caller, org, ['admin'], action, { preposition: 'of', reqOrgAdmin: true });

  async function requireAdmin(caller: Caller, org: string, action: string): Promise<void> {
    const refusal = await adminRefusal(caller, org, action);
    if (refusal) await kernel.refuse(caller.ctx, org, refusal);
  }

  async function size(org: string): Promise<number> {
    try {
      return await ledger.size(org);
    } catch (error) {
      if ((error as { code?: string }).code === 'log-not-found') return 0;
      throw error;
    }
  }

  const view = (stream: LogStream, logSize: number): StreamView => ({
    stream,
    lag: Math.max(0, logSize - stream.cursor),
  });

  /** Which stream a call names: its id (the stream API) or its name (Pulumi's export/config). */
  type Which = { readonly id: string } | { readonly name: string };
  const find = (executor: typeof db, org: string, which: Which) =>
    'id' in which ? findStream(executor, org, which.id) : findStreamNamed(executor, org, which.name);
  const notFound = (org: string, which: Which) =>
    new StreamError(
      'not-found',
      `no log stream ${'id' in which ? `"${which.id}"` : `named "${which.name}"`} in organization "${org}"`,
    );

  const seal = (id: string, secret: string | undefined) =>
    secret === undefined ? undefined : secrets.seal(Buffer.from(secret), streamSecretAad(id));

  /** The destination and secret a create asks for, by kind. */
  function destinationOf(request: StreamRequest): { destination: StreamDestination; secret?: string } {
    const kind = KINDS.find((k) => k === request.kind);
    if (!kind) throw new StreamError('invalid-argument', `kind must be ${KINDS.join(', ')}`, 'kind');
    checkFields(request, kind);
    switch (kind) {
      case 'webhook':
        return {
          destination: { kind, url: checkUrl(request.url).href },
          secret: request.secret === undefined ? newWebhookSecret() : checkWebhookSecret(request.secret),
        };
      case 'syslog':
        return { destination: checkSyslog(request) };
      case 's3':
        return { destination: checkS3(request), secret: checkS3Secret(request.secretAccessKey) };
    }
  }

  /** The destination and new secret (if any) a PATCH asks for: the fields sent over the current ones. */
  function changedDestination(
    request: StreamRequest,
    current: StreamDestination,
  ): { destination: StreamDestination; secret?: string } {
    checkFields(request, current.kind);
    const sent = (KIND_FIELDS[current.kind] as readonly (keyof StreamRequest)[]).some(
      (f) => request[f] !== undefined,
    );
    if (!sent) return { destination: current };
    switch (current.kind) {
      case 'webhook':
        return {
          destination:
            request.url === undefined ? current : { kind: 'webhook', url: checkUrl(request.url).href },
          ...(request.secret !== undefined ? { secret: checkWebhookSecret(request.secret) } : {}),
        };
      case 'syslog':
        return { destination: checkSyslog(request, current) };
      case 's3':
        return {
          destination: checkS3(request, current),
          ...(request.secretAccessKey !== undefined
            ? { secret: checkS3Secret(request.secretAccessKey) }
            : {}),
        };
    }
  }

  async function create(
    caller: Caller,
    org: string,
    request: StreamRequest,
  ): Promise<StreamView & { secret?: string }> {
    const name = checkName(request.name);
    const { destination, secret } = destinationOf(request);
    if (name === EXPORT_STREAM_NAME && destination.kind !== 's3')
      throw new StreamError('invalid-argument', `the name "${name}" is kept for an s3 stream`, 'name');
    const query = checkQuery(request.q);
    const from = request.from ?? 'now';
    if (from !== 'now' && from !== 'beginning')
      throw new StreamError('invalid-argument', 'from must be now or beginning', 'from');
    const paused = request.paused ?? false;
    const id = newStreamId();
    const stream = await kernel.perform(caller.ctx, {
      org,
      event: 'audit-log-stream-created',
      authorize: () => adminRefusal(caller, org, 'create a log stream'),
      run: async (tx) => {
        if (await nameTaken(tx, org, name))
          throw new StreamError('already-exists', `a log stream named "${name}" exists`, 'name');
        // `now`: the next index to be sequenced, read in this transaction (the log is locked for its record),
        // so this stream's own creation record is the first it delivers.
        let cursor = 0;
        if (from === 'now') {
          const row = await tx
            .selectFrom('ledger_entries')
            .innerJoin('ledger_logs', 'ledger_logs.id', 'ledger_entries.log_id')
            .select((eb) => eb.fn.max('ledger_entries.idx').as('m'))
            .where('ledger_logs.org', '=', org)
            .executeTakeFirst();
          cursor = row?.m === null || row?.m === undefined ? 0 : Number(row.m) + 1;
        }
        const at = now();
        const created: LogStream = {
          id,
          org,
          name,
          destination,
          ...(query !== undefined ? { query } : {}),
          paused,
          cursor,
          created: at,
          modified: at,
          createdBy: caller.ctx.actor.login,
          failures: 0,
          nextAttempt: 0,
        };
        await insertStream(tx, created, seal(id, secret) ?? null);
        return {
          result: created,
          description: `Created log stream "${name}" (${describeDestination(destination)}${describeFilter(query)}, from ${from}${paused ? ', paused' : ''})`,
        };
      },
    });
    // A generated webhook secret is answered this once; a secret the caller chose is never echoed.
    const answered = destination.kind === 'webhook' && request.secret === undefined ? secret : undefined;
    return { ...view(stream, await size(org)), ...(answered !== undefined ? { secret: answered } : {}) };
  }

  function change(
    caller: Caller,
    org: string,
    which: Which,
    verb: 'update' | 'pause' | 'resume',
    edit: (current: LogStream) => { stream: LogStream; secret?: string },
  ): Promise<StreamView> {
    return kernel
      .perform(caller.ctx, {
        org,
        event: 'audit-log-stream-updated',
        authorize: () => adminRefusal(caller, org, `${verb} a log stream`),
        run: async (tx) => {
          const current = await find(tx, org, which);
          if (!current) throw notFound(org, which);
          const { stream, secret } = edit(current);
          if (stream.name !== current.name && (await nameTaken(tx, org, stream.name, current.id)))
            throw new StreamError('already-exists', `a log stream named "${stream.name}" exists`, 'name');
          const next = { ...stream, modified: now() };
          await updateStream(tx, next, seal(current.id, secret));
          const pausing = next.paused === current.paused ? '' : next.paused ? ', paused' : ', resumed';
          const what =
            verb === 'update'
              ? `Updated log stream "${next.name}" (${describeDestination(next.destination)}${describeFilter(next.query)}${secret !== undefined ? ', new secret' : ''}${pausing})`
              : `${verb === 'pause' ? 'Paused' : 'Resumed'} log stream "${next.name}"`;
          return { result: next, description: what };
        },
      })
      .then(async (stream) => view(stream, await size(org)));
  }

  /** PATCH: the fields sent replace the stream's; the kind cannot change. */
  function update(caller: Caller, org: string, which: Which, request: StreamRequest): Promise<StreamView> {
    if (request.from !== undefined)
      throw new StreamError('invalid-argument', 'from applies to creation only', 'from');
    const name = request.name === undefined ? undefined : checkName(request.name);
    const query = request.q === undefined ? undefined : { q: checkQuery(request.q) };
    return change(caller, org, which, 'update', (current) => {
      if (request.kind !== undefined && request.kind !== current.destination.kind)
        throw new StreamError('invalid-argument', 'kind cannot change; create another stream', 'kind');
      if (name === EXPORT_STREAM_NAME && current.destination.kind !== 's3')
        throw new StreamError('invalid-argument', `the name "${name}" is kept for an s3 stream`, 'name');
      const { destination, secret } = changedDestination(request, current.destination);
      const { query: _q, ...rest } = current;
      const q = query ? query.q : current.query;
      return {
        stream: {
          ...rest,
          name: name ?? current.name,
          destination,
          paused: request.paused ?? current.paused,
          ...(q !== undefined ? { query: q } : {}),
        },
        ...(secret !== undefined ? { secret } : {}),
      };
    });
  }

  async function remove(caller: Caller, org: string, which: Which): Promise<void> {
    await kernel.perform(caller.ctx, {
      org,
      event: 'audit-log-stream-deleted',
      authorize: () => adminRefusal(caller, org, 'delete a log stream'),
      run: async (tx) => {
        const current = await find(tx, org, which);
        if (!current) throw notFound(org, which);
        await deleteStream(tx, org, current.id);
        return {
          result: undefined,
          description: `Deleted log stream "${current.name}" (${describeDestination(current.destination)})`,
        };
      },
    });
  }

  /** Sends the stream's events recorded in `[since, before)` (through its filter), batch by batch. */
  async function sendRecorded(stream: LogStream, times: { since: number; before: number }): Promise<void> {
    const logId = await ledger.findLogId(stream.org);
    const range = logId === undefined ? undefined : await entryRangeOfTimes(db, logId, times);
    for (let from = range?.from ?? 0; range && from < range.until;) {
      const batch = await readStreamEntries(db, logId!, stream.query, { ...times, from, until: range.until });
      if (batch.length === 0) return;
      await sendToStream(stream, batch, { reader: db, secrets, timeoutMs });
      from = batch.at(-1)!.index + 1;
    }
  }

  async function get(caller: Caller, org: string, which: Which): Promise<StreamView | undefined> {
    await requireAdmin(caller, org, 'read a log stream');
    const stream = await find(db, org, which);
    return stream && view(stream, await size(org));
  }

  return {
    create,

    update: (caller: Caller, org: string, id: string, request: StreamRequest) =>
      update(caller, org, { id }, request),

    pause(caller: Caller, org: string, id: string): Promise<StreamView> {
      return change(caller, org, { id }, 'pause', (current) => ({ stream: { ...current, paused: true } }));
    },

    resume(caller: Caller, org: string, id: string): Promise<StreamView> {
      return change(caller, org, { id }, 'resume', (current) => ({ stream: { ...current, paused: false } }));
    },

    remove: (caller: Caller, org: string, id: string) => remove(caller, org, { id }),

    async list(caller: Caller, org: string): Promise<StreamView[]> {
      await requireAdmin(caller, org, 'list the log streams');
      const logSize = await size(org);
      return (await orgStreams(db, org)).map((s) => view(s, logSize));
    },

    async get(caller: Caller, org: string, id: string): Promise<StreamView> {
      const found = await get(caller, org, { id });
      if (!found) throw notFound(org, { id });
      return found;
    },

    // ---- by name: Pulumi's `…/export/config` (export-config.ts) ----

    /** The stream of this name, or undefined (admins only, as `get`). */
    getNamed: (caller: Caller, org: string, name: string) => get(caller, org, { name }),

    /**
     * Creates the named stream (from now on) or changes it — one record either way. A creation that loses a race
     * with another becomes a change.
     */
    async upsertNamed(
      caller: Caller,
      org: string,
      name: string,
      request: StreamRequest,
    ): Promise<StreamView> {
      const change = () => update(caller, org, { name }, { ...request, name: undefined });
      if (await findStreamNamed(db, org, name)) return change();
      try {
        return await create(caller, org, { ...request, name });
      } catch (error) {
        if (error instanceof StreamError && error.code === 'already-exists') return change();
        throw error;
      }
    },

    removeNamed: (caller: Caller, org: string, name: string) => remove(caller, org, { name }),

    /**
     * Writes a test object to the s3 destination `request` describes, its missing fields (and secret access key)
     * taken from the stream named `name` if there is one. Records `audit-log-export-tested` with the outcome; a
     * destination that refuses is an answer (`error`), not a failure of the call.
     */
    async testNamed(
      caller: Caller,
      org: string,
      name: string,
      request: StreamRequest,
    ): Promise<ExportAttempt> {
      return kernel.perform(caller.ctx, {
        org,
        event: 'audit-log-export-tested',
        authorize: () => adminRefusal(caller, org, 'test the audit log export'),
        prepare: async () => {
          checkFields(request, 's3');
          const current = await findStreamNamed(db, org, name);
          const base = current?.destination.kind === 's3' ? current : undefined;
          const destination = checkS3(request, base?.destination);
          const secret =
            request.secretAccessKey !== undefined
              ? checkS3Secret(request.secretAccessKey)
              : base && (await openStreamSecret(db, secrets, base.id));
          if (secret === undefined)
            throw new StreamError('invalid-argument', 'secretAccessKey is required', 'secretAccessKey');
          const at = now();
          const error = await testS3(destination, secret, { timeoutMs, org, at }).then(
            () => undefined,
            deliveryFailure,
          );
          return { destination, attempt: { at, ...(error !== undefined ? { error } : {}) } };
        },
        reads: ({ destination, attempt }) => ({
          result: attempt,
          description: `Tested the audit log export to ${describeDestination(destination)}: ${attempt.error === undefined ? 'wrote a test object' : `failed (${attempt.error})`}`,
        }),
      });
    },

    /**
     * Sends the events recorded in `[since, before)` (epoch ms) to the named stream again, through its filter, in
     * batches as delivery does — a backfill beside the cursor, which it does not move. Records `audit-log-exported`
     * before anything is sent.
     */
    async exportNamed(
      caller: Caller,
      org: string,
      name: string,
      times: { readonly since: number; readonly before: number },
    ): Promise<ExportAttempt> {
      const stream = await kernel.perform(caller.ctx, {
        org,
        event: 'audit-log-exported',
        authorize: () => adminRefusal(caller, org, 'export the audit log'),
        prepare: async () => {
          const found = await findStreamNamed(db, org, name);
          if (!found) throw notFound(org, { name });
          return found;
        },
        reads: (found) => ({
          result: found,
          description: `Exported the audit log of organization "${org}" recorded from ${new Date(times.since).toISOString()} to ${new Date(times.before).toISOString()} to log stream "${found.name}" (${describeDestination(found.destination)}${describeFilter(found.query)})`,
        }),
      });
      const at = now();
      const error = await sendRecorded(stream, times).then(() => undefined, deliveryFailure);
      return { at, ...(error !== undefined ? { error } : {}) };
    },
  };
}

export type LogStreamService = ReturnType<typeof createLogStreamService>;
