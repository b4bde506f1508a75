import { isIP } from 'node:net';
import type { SecretBox } from '../environments/secret-box.js';
import type { Caller } from '../esc/esc-service.js';
import type { IamService } from '../iam/iam-service.js';
import type { Kernel, Refusal } from '../kernel/kernel.js';
import type { LedgerStore } from '../ledger/ledger-store.js';
import type { Storage } from '../storage/storage.js';
import { streamSecretAad } from './log-stream-delivery.js';
import {
  deleteStream,
  findStream,
  insertStream,
  nameTaken,
  newStreamId,
  orgStreams,
  updateStream,
  type LogStream,
  type StreamDestination,
} from './log-stream-store.js';
import { parseQuery, QueryError } from './query-language.js';
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
  /** `null` or `''` on PATCH removes the filter. */
  readonly q?: string | null;
  /** Create only: deliver from the log's first entry (`beginning`) or from now on (`now`, the default). */
  readonly from?: string;
}

/** A stream with its delivery health, as the API answers it. */
export interface StreamView {
  readonly stream: LogStream;
  /** Entries recorded but not yet delivered (or skipped by the filter): log size − cursor. */
  readonly lag: number;
}

export const MAX_STREAM_NAME = 64;
export const MAX_STREAM_URL = 2048;
/** Largest `ca` bundle accepted (a few certificates). */
export const MAX_STREAM_CA = 64 * 1024;

export interface LogStreamServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly ledger: LedgerStore;
  readonly secrets: SecretBox;
  readonly now?: () => number;
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

function checkUrl(url: unknown): string {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' && url.length <= MAX_STREAM_URL ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:'))
    throw new StreamError('invalid-argument', 'url must be an http or https URL', 'url');
  // Credentials in a URL would be answered and recorded; the HMAC secret is what authenticates a delivery.
  if (parsed.username || parsed.password)
    throw new StreamError('invalid-argument', 'url must not contain credentials', 'url');
  return parsed.href;
}

function checkSecret(secret: unknown): string {
  if (
    typeof secret !== 'string' ||
    secret.length < MIN_WEBHOOK_SECRET ||
    secret.length > MAX_WEBHOOK_SECRET ||
    !/^[\x21-\x7e]+$/.test(secret)
  )
    throw new StreamError(
      'invalid-argument',
      `secret must be ${MIN_WEBHOOK_SECRET}–${MAX_WEBHOOK_SECRET} printable ASCII characters`,
      'secret',
    );
  return secret;
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

/** Where a stream delivers, for descriptions: the URL's origin only (a path or query may carry a token). */
function describeDestination(d: StreamDestination): string {
  return d.kind === 'webhook'
    ? `webhook to ${new URL(d.url).origin}`
    : `syslog to ${d.host}:${d.port}${d.tls ? ' over TLS' : ''}`;
}

/**
 * Audit log streams (issue #6, docs/log-streams.md): an organization's destinations, managed by its admins only.
 * Create, update (PATCH, pause, resume) and delete are kernel operations recording `audit-log-stream-*`; reads
 * are not recorded; every refusal is (`auth-failure-organization-role`). A webhook's secret is sealed with the
 * server's SecretBox and answered once, at creation (or when a PATCH sets a new one, never).
 */
export function createLogStreamService(deps: LogStreamServiceDeps) {
  const { storage, kernel, iam, ledger, secrets } = deps;
  const db = storage.reader;
  const now = deps.now ?? Date.now;

  async function adminRefusal(caller: Caller, org: string, action: string): Promise<Refusal | undefined> {
    const role = await iam.orgRole(db, caller.principal, org);
    if (role === 'admin') return undefined;
    return {
      event: 'auth-failure-organization-role',
      description: `${caller.ctx.actor.login} may not ${action} of organization "${org}": ${role ? `role ${role}` : 'not a member'}`,
      reqOrgAdmin: true,
    };
  }

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

  const notFound = (org: string, id: string) =>
    new StreamError('not-found', `no log stream "${id}" in organization "${org}"`);

  function change(
    caller: Caller,
    org: string,
    id: string,
    verb: 'update' | 'pause' | 'resume',
    edit: (current: LogStream, at: number) => { stream: LogStream; secret?: string },
  ): Promise<StreamView> {
    return kernel
      .perform(caller.ctx, {
        org,
        event: 'audit-log-stream-updated',
        authorize: () => adminRefusal(caller, org, `${verb} a log stream`),
        run: async (tx) => {
          const current = await findStream(tx, org, id);
          if (!current) throw notFound(org, id);
          const at = now();
          const { stream, secret } = edit(current, at);
          if (stream.name !== current.name && (await nameTaken(tx, org, stream.name, id)))
            throw new StreamError('already-exists', `a log stream named "${stream.name}" exists`, 'name');
          const next = { ...stream, modified: at };
          await updateStream(
            tx,
            next,
            secret === undefined ? undefined : secrets.seal(Buffer.from(secret), streamSecretAad(id)),
          );
          const what =
            verb === 'update'
              ? `Updated log stream "${next.name}" (${describeDestination(next.destination)}${next.query ? `, filter ${JSON.stringify(next.query)}` : ''}${secret !== undefined ? ', new secret' : ''})`
              : `${verb === 'pause' ? 'Paused' : 'Resumed'} log stream "${next.name}"`;
          return { result: next, description: what };
        },
      })
      .then(async (stream) => view(stream, await size(org)));
  }

  return {
    async create(
      caller: Caller,
      org: string,
      request: StreamRequest,
    ): Promise<StreamView & { secret?: string }> {
      const name = checkName(request.name);
      let destination: StreamDestination;
      let secret: string | undefined;
      if (request.kind === 'webhook') {
        destination = { kind: 'webhook', url: checkUrl(request.url) };
        secret = request.secret === undefined ? newWebhookSecret() : checkSecret(request.secret);
      } else if (request.kind === 'syslog') {
        destination = checkSyslog(request);
      } else {
        throw new StreamError('invalid-argument', 'kind must be webhook or syslog', 'kind');
      }
      const query = checkQuery(request.q);
      const from = request.from ?? 'now';
      if (from !== 'now' && from !== 'beginning')
        throw new StreamError('invalid-argument', 'from must be now or beginning', 'from');
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
            paused: false,
            cursor,
            created: at,
            modified: at,
            createdBy: caller.ctx.actor.login,
            failures: 0,
            nextAttempt: 0,
          };
          await insertStream(
            tx,
            created,
            secret === undefined ? null : secrets.seal(Buffer.from(secret), streamSecretAad(id)),
          );
          return {
            result: created,
            description: `Created log stream "${name}" (${describeDestination(destination)}${query ? `, filter ${JSON.stringify(query)}` : ''}, from ${from})`,
          };
        },
      });
      return { ...view(stream, await size(org)), ...(secret !== undefined ? { secret } : {}) };
    },

    /** PATCH: the fields sent replace the stream's; the kind cannot change. */
    update(caller: Caller, org: string, id: string, request: StreamRequest): Promise<StreamView> {
      if (request.from !== undefined)
        throw new StreamError('invalid-argument', 'from applies to creation only', 'from');
      const name = request.name === undefined ? undefined : checkName(request.name);
      const query = request.q === undefined ? undefined : { q: checkQuery(request.q) };
      return change(caller, org, id, 'update', (current) => {
        if (request.kind !== undefined && request.kind !== current.destination.kind)
          throw new StreamError('invalid-argument', 'kind cannot change; create another stream', 'kind');
        let destination = current.destination;
        let secret: string | undefined;
        if (current.destination.kind === 'webhook') {
          if (request.host !== undefined || request.port !== undefined || request.tls !== undefined)
            throw new StreamError('invalid-argument', 'host, port and tls are for syslog streams', 'host');
          if (request.url !== undefined) destination = { kind: 'webhook', url: checkUrl(request.url) };
          if (request.secret !== undefined) secret = checkSecret(request.secret);
        } else {
          if (request.url !== undefined || request.secret !== undefined)
            throw new StreamError('invalid-argument', 'url and secret are for webhook streams', 'url');
          if (
            request.host !== undefined ||
            request.port !== undefined ||
            request.tls !== undefined ||
            request.ca !== undefined
          )
            destination = checkSyslog(request, current.destination);
        }
        const { query: _q, ...rest } = current;
        const q = query ? query.q : current.query;
        return {
          stream: {
            ...rest,
            name: name ?? current.name,
            destination,
            ...(q !== undefined ? { query: q } : {}),
          },
          ...(secret !== undefined ? { secret } : {}),
        };
      });
    },

    pause(caller: Caller, org: string, id: string): Promise<StreamView> {
      return change(caller, org, id, 'pause', (current) => ({ stream: { ...current, paused: true } }));
    },

    resume(caller: Caller, org: string, id: string): Promise<StreamView> {
      return change(caller, org, id, 'resume', (current) => ({ stream: { ...current, paused: false } }));
    },

    async remove(caller: Caller, org: string, id: string): Promise<void> {
      await kernel.perform(caller.ctx, {
        org,
        event: 'audit-log-stream-deleted',
        authorize: () => adminRefusal(caller, org, 'delete a log stream'),
        run: async (tx) => {
          const current = await findStream(tx, org, id);
          if (!current) throw notFound(org, id);
          await deleteStream(tx, org, id);
          return {
            result: undefined,
            description: `Deleted log stream "${current.name}" (${describeDestination(current.destination)})`,
          };
        },
      });
    },

    async list(caller: Caller, org: string): Promise<StreamView[]> {
      await requireAdmin(caller, org, 'list the log streams');
      const logSize = await size(org);
      return (await orgStreams(db, org)).map((s) => view(s, logSize));
    },

    async get(caller: Caller, org: string, id: string): Promise<StreamView> {
      await requireAdmin(caller, org, 'read a log stream');
      const stream = await findStream(db, org, id);
      if (!stream) throw notFound(org, id);
      return view(stream, await size(org));
    },
  };
}

export type LogStreamService = ReturnType<typeof createLogStreamService>;
