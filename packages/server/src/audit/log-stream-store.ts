import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * Where a stream delivers: an HTTP(S) endpoint, a syslog collector over TCP (TLS when `tls`), or a bucket of
 * S3-compatible object storage.
 */
export type StreamDestination =
  | { readonly kind: 'webhook'; readonly url: string }
  | {
      readonly kind: 'syslog';
      readonly host: string;
      readonly port: number;
      readonly tls: boolean;
      /** PEM certificates trusted for the collector (its own CA); the system's when absent. */
      readonly ca?: string;
    }
  | S3Destination;

/** An S3-compatible bucket. The secret access key is not here: it is sealed in the row, as a webhook's secret. */
export interface S3Destination {
  readonly kind: 's3';
  /** The service's origin (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`): no path, no query. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Key prefix without leading or trailing `/`; `''` writes at the bucket's root. */
  readonly prefix: string;
  /** The SigV4 signing region. */
  readonly region: string;
  readonly accessKeyId: string;
  /** Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted (`bucket.endpoint/key`). */
  readonly pathStyle: boolean;
  /** Pulumi's `iamRoleArn`, kept only to be answered back by `…/export/config`: nothing signs with it. */
  readonly iamRoleArn?: string;
}

/** The destination kinds (the `kind` column's check constraint, migrations 0008 and 0009). */
export type StreamKind = StreamDestination['kind'];

/** A log stream and its delivery state. Times are epoch milliseconds. Never holds its secret. */
export interface LogStream {
  readonly id: string;
  readonly org: string;
  readonly name: string;
  readonly destination: StreamDestination;
  /** The filter in the query language (`q=`), as written; absent delivers every event. */
  readonly query?: string;
  readonly paused: boolean;
  /** The next log index to deliver: everything below it was acknowledged (or filtered out). */
  readonly cursor: number;
  readonly created: number;
  readonly modified: number;
  readonly createdBy: string;
  readonly lastSuccess?: number;
  /** Why the last attempt failed (the server's own words: a status, an error code; never a secret). */
  readonly lastError?: string;
  readonly lastErrorAt?: number;
  /** Consecutive failed attempts (0 after a success). */
  readonly failures: number;
  /** No attempt before this time (the backoff after a failure). */
  readonly nextAttempt: number;
}

/** This feature's table, outside `Database` so that its schema stays with it. */
export type LogStreamTables = {
  audit_log_streams: {
    id: string;
    org: string;
    name: string;
    kind: StreamKind;
    /** The destination as JSON (`StreamDestination` without `kind`). */
    destination: string;
    query: string | null;
    /** A webhook's HMAC secret or an s3 destination's secret access key, sealed (never answered). */
    secret_sealed: Uint8Array | null;
    paused: number;
    cursor: number;
    created_at: number;
    modified_at: number;
    created_by: string;
    last_success_at: number | null;
    last_error: string | null;
    last_error_at: number | null;
    failures: number;
    next_attempt_at: number;
    lease_owner: string | null;
    lease_until: number | null;
  };
};

type Executor = Kysely<Database> | Transaction<Database>;
type Row = LogStreamTables['audit_log_streams'];

export const newStreamId = (): string => randomUUID();

const tables = (db: Executor) => db.withTables<LogStreamTables>();
const opt = <K extends string, V>(key: K, v: V | null): Partial<Record<K, V>> =>
  v === null ? {} : ({ [key]: v } as Record<K, V>);

function fromRow(r: Row): LogStream {
  const { kind: _k, ...rest } = JSON.parse(r.destination) as StreamDestination;
  return {
    id: r.id,
    org: r.org,
    name: r.name,
    destination: { kind: r.kind, ...rest } as StreamDestination,
    ...opt('query', r.query),
    paused: Number(r.paused) === 1,
    cursor: Number(r.cursor),
    created: Number(r.created_at),
    modified: Number(r.modified_at),
    createdBy: r.created_by,
    ...opt('lastSuccess', r.last_success_at === null ? null : Number(r.last_success_at)),
    ...opt('lastError', r.last_error),
    ...opt('lastErrorAt', r.last_error_at === null ? null : Number(r.last_error_at)),
    failures: Number(r.failures),
    nextAttempt: Number(r.next_attempt_at),
  };
}

const destinationJson = (d: StreamDestination): string => {
  const { kind: _k, ...rest } = d;
  return JSON.stringify(rest);
};

const COLUMNS = [
  'id',
  'org',
  'name',
  'kind',
  'destination',
  'query',
  'paused',
  'cursor',
  'created_at',
  'modified_at',
  'created_by',
  'last_success_at',
  'last_error',
  'last_error_at',
  'failures',
  'next_attempt_at',
] as const;

/** The organization's streams, oldest first. */
export async function orgStreams(db: Executor, org: string): Promise<LogStream[]> {
  const rows = await tables(db)
    .selectFrom('audit_log_streams')
    .select(COLUMNS)
    .where('org', '=', org)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => fromRow({ ...r, secret_sealed: null, lease_owner: null, lease_until: null }));
}

export async function findStream(db: Executor, org: string, id: string): Promise<LogStream | undefined> {
  return findStreamBy(db, org, 'id', id);
}

/** The organization's stream of this name (names are unique per organization). */
export async function findStreamNamed(
  db: Executor,
  org: string,
  name: string,
): Promise<LogStream | undefined> {
  return findStreamBy(db, org, 'name', name);
}

async function findStreamBy(
  db: Executor,
  org: string,
  column: 'id' | 'name',
  value: string,
): Promise<LogStream | undefined> {
  const row = await tables(db)
    .selectFrom('audit_log_streams')
    .select(COLUMNS)
    .where('org', '=', org)
    .where(column, '=', value)
    .executeTakeFirst();
  return row && fromRow({ ...row, secret_sealed: null, lease_owner: null, lease_until: null });
}

/** Whether another stream of the organization has this name. */
export async function nameTaken(db: Executor, org: string, name: string, except?: string): Promise<boolean> {
  let query = tables(db)
    .selectFrom('audit_log_streams')
    .select('id')
    .where('org', '=', org)
    .where('name', '=', name);
  if (except !== undefined) query = query.where('id', '<>', except);
  return (await query.executeTakeFirst()) !== undefined;
}

export async function insertStream(db: Executor, s: LogStream, sealed: Uint8Array | null): Promise<void> {
  await tables(db)
    .insertInto('audit_log_streams')
    .values({
      id: s.id,
      org: s.org,
      name: s.name,
      kind: s.destination.kind,
      destination: destinationJson(s.destination),
      query: s.query ?? null,
      secret_sealed: sealed,
      paused: s.paused ? 1 : 0,
      cursor: s.cursor,
      created_at: s.created,
      modified_at: s.modified,
      created_by: s.createdBy,
      failures: 0,
      next_attempt_at: 0,
    })
    .execute();
}

/**
 * Writes what an API change may change (name, destination, filter, paused, secret when given). A change clears
 * the backoff, so a fixed destination is tried at once; the cursor and the delivery history stay.
 */
export async function updateStream(db: Executor, s: LogStream, sealed?: Uint8Array): Promise<void> {
  await tables(db)
    .updateTable('audit_log_streams')
    .set({
      name: s.name,
      destination: destinationJson(s.destination),
      query: s.query ?? null,
      paused: s.paused ? 1 : 0,
      modified_at: s.modified,
      failures: 0,
      next_attempt_at: 0,
      ...(sealed ? { secret_sealed: sealed } : {}),
    })
    .where('id', '=', s.id)
    .where('org', '=', s.org)
    .execute();
}

export async function deleteStream(db: Executor, org: string, id: string): Promise<void> {
  await tables(db).deleteFrom('audit_log_streams').where('id', '=', id).where('org', '=', org).execute();
}

// ---- delivery (small writes of their own on the writer, never inside a ledger transaction) ----

/** Streams that may be delivered now: not paused, out of backoff. */
export async function dueStreams(db: Executor, now: number): Promise<LogStream[]> {
  const rows = await tables(db)
    .selectFrom('audit_log_streams')
    .select(COLUMNS)
    .where('paused', '=', 0)
    .where('next_attempt_at', '<=', now)
    .orderBy('id')
    .execute();
  return rows.map((r) => fromRow({ ...r, secret_sealed: null, lease_owner: null, lease_until: null }));
}

/** The sealed secret of a stream (webhook HMAC key, s3 secret access key), for the delivery that signs with it. */
export async function streamSecret(db: Executor, id: string): Promise<Uint8Array | undefined> {
  const row = await tables(db)
    .selectFrom('audit_log_streams')
    .select('secret_sealed')
    .where('id', '=', id)
    .executeTakeFirst();
  return row?.secret_sealed ?? undefined;
}

/**
 * Takes (or extends) the stream's lease for `owner` until `until`, if nobody else holds an unexpired one: a
 * compare-and-set, so exactly one process delivers a stream at a time. Answers whether `owner` holds it.
 */
export async function takeLease(
  db: Executor,
  id: string,
  owner: string,
  now: number,
  until: number,
): Promise<boolean> {
  const result = await tables(db)
    .updateTable('audit_log_streams')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '=', owner), eb('lease_until', '<', now)]),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function releaseLease(db: Executor, id: string, owner: string): Promise<void> {
  await tables(db)
    .updateTable('audit_log_streams')
    .set({ lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

/**
 * Moves the cursor from `from` to `to` after the receiver acknowledged (or nothing matched): only the lease
 * holder, only forward. Answers false when the stream changed hands or was deleted (the batch is then simply
 * delivered again by whoever holds it: at least once).
 */
export async function advanceCursor(
  db: Executor,
  id: string,
  owner: string,
  from: number,
  to: number,
  at: number,
  delivered: boolean,
): Promise<boolean> {
  const result = await tables(db)
    .updateTable('audit_log_streams')
    .set({
      cursor: to,
      failures: 0,
      next_attempt_at: 0,
      ...(delivered ? { last_success_at: at } : {}),
    })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .where('cursor', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Notes a failed attempt and when to try again. */
export async function recordFailure(
  db: Executor,
  id: string,
  owner: string,
  error: string,
  at: number,
  failures: number,
  nextAttempt: number,
): Promise<void> {
  await tables(db)
    .updateTable('audit_log_streams')
    .set({ last_error: error, last_error_at: at, failures, next_attempt_at: nextAttempt })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}
