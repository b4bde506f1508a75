import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SecretBox } from '../environments/secret-box.js';
import type { LedgerStore } from '../ledger/ledger-store.js';
import { toBytes } from '../ledger/tree-store.js';
import type { Database } from '../storage/schema.js';
import type { Storage } from '../storage/storage.js';
import {
  advanceCursor,
  dueStreams,
  findStream,
  recordFailure,
  releaseLease,
  streamSecret,
  takeLease,
  type LogStream,
  type LogStreamTables,
} from './log-stream-store.js';
import { parseQuery } from './query-language.js';
import { compileQuery } from './query-sql.js';
import { deliverS3, type TimedEntry } from './s3-sink.js';
import { DeliveryError } from './stream-delivery-error.js';
import { deliverSyslog } from './syslog-sink.js';
import { deliverWebhook } from './webhook-sink.js';

/** Most events in one delivery (one webhook body, one syslog connection, an s3 object per hour it spans). */
export const STREAM_BATCH = 500;
/** How often a process looks for streams to deliver: events leave within about this long of being recorded. */
export const STREAM_INTERVAL_MS = 1000;
/** Most batches one stream sends per look before yielding (a large backlog drains over several looks). */
export const STREAM_BATCHES_PER_LOOK = 20;
/** A receiver that has not acknowledged within this long has failed the attempt. */
export const STREAM_TIMEOUT_MS = 10_000;
/** A lease outlives the longest attempt by far; a crashed holder's lease expires after this long. */
export const STREAM_LEASE_MS = 60_000;
/** Retry backoff after the first failure, doubling per failure up to the maximum. */
export const STREAM_BACKOFF_BASE_MS = 1000;
export const STREAM_BACKOFF_MAX_MS = 5 * 60_000;

/** The secret's binding: a sealed secret copied to another stream's row does not open. */
export const streamSecretAad = (id: string): Uint8Array => Buffer.from(`vigil log-stream secret\0${id}`);

/**
 * Delay before attempt `failures + 1`: exponential, capped, with "equal jitter" (half fixed, half random) so that
 * streams failing together do not retry in lockstep.
 */
export function backoffMs(
  failures: number,
  options: { baseMs?: number; maxMs?: number } = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? STREAM_BACKOFF_BASE_MS;
  const max = options.maxMs ?? STREAM_BACKOFF_MAX_MS;
  const cap = Math.min(max, base * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** Which entries of a log a read covers: indexes `[from, until)`, and record times `[since, before)` if given. */
export interface EntryRange {
  readonly from: number;
  readonly until: number;
  readonly since?: number;
  readonly before?: number;
}

/**
 * Audit records of the log `logId` in `range` that pass the filter `q` (a stream's, validated when it was stored),
 * oldest first, at most `STREAM_BATCH`: read on the reader connection, as the index and the entries' bytes.
 */
export async function readStreamEntries(
  reader: Kysely<Database>,
  logId: number,
  q: string | undefined,
  range: EntryRange,
): Promise<TimedEntry[]> {
  let query = reader
    .withTables<LogStreamTables>()
    .selectFrom('audit_events as a')
    .innerJoin('ledger_entries as l', (join) =>
      join.onRef('l.log_id', '=', 'a.log_id').onRef('l.idx', '=', 'a.idx'),
    )
    .select(['a.idx', 'a.time', 'l.data'])
    .where('a.log_id', '=', logId)
    .where('a.idx', '>=', range.from)
    .where('a.idx', '<', range.until);
  if (range.since !== undefined) query = query.where('a.time', '>=', range.since);
  if (range.before !== undefined) query = query.where('a.time', '<', range.before);
  // The filter compiles to bound parameters only.
  const filter = q === undefined ? undefined : parseQuery(q);
  if (filter !== undefined) query = query.where(compileQuery(filter));
  const rows = await query.orderBy('a.idx', 'asc').limit(STREAM_BATCH).execute();
  return rows.map((r) => ({ index: Number(r.idx), time: Number(r.time), data: toBytes(r.data) }));
}

/** The first and one past the last index of the log's records in `[since, before)` (epoch ms), if any. */
export async function entryRangeOfTimes(
  reader: Kysely<Database>,
  logId: number,
  times: { readonly since: number; readonly before: number },
): Promise<{ from: number; until: number } | undefined> {
  const row = await reader
    .selectFrom('audit_events')
    .select((eb) => [eb.fn.min('idx').as('first'), eb.fn.max('idx').as('last')])
    .where('log_id', '=', logId)
    .where('time', '>=', times.since)
    .where('time', '<', times.before)
    .executeTakeFirst();
  if (row?.first === null || row?.first === undefined || row.last === null) return undefined;
  return { from: Number(row.first), until: Number(row.last) + 1 };
}

/** The stream's sealed secret (webhook HMAC key, s3 secret access key), opened. */
export async function openStreamSecret(
  reader: Kysely<Database>,
  secrets: SecretBox,
  streamId: string,
): Promise<string> {
  const sealed = await streamSecret(reader, streamId);
  if (!sealed) throw new DeliveryError('the destination has no secret');
  return Buffer.from(secrets.open(sealed, streamSecretAad(streamId))).toString('utf8');
}

/** Sends one batch to the stream's destination; resolves once the receiver acknowledged all of it. */
export async function sendToStream(
  stream: LogStream,
  entries: readonly TimedEntry[],
  context: { reader: Kysely<Database>; secrets: SecretBox; timeoutMs: number },
): Promise<void> {
  const d = stream.destination;
  const { timeoutMs } = context;
  if (d.kind === 'syslog') return deliverSyslog(d, entries, { timeoutMs });
  const secret = await openStreamSecret(context.reader, context.secrets, stream.id);
  if (d.kind === 's3') return deliverS3(d, secret, entries, { timeoutMs });
  return deliverWebhook(d.url, secret, entries, { timeoutMs, streamId: stream.id });
}

export interface StreamDeliveryDeps {
  readonly storage: Storage;
  readonly ledger: LedgerStore;
  readonly secrets: SecretBox;
  readonly now?: () => number;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** How long a lease lasts (`STREAM_LEASE_MS`); tests shorten it to see a crashed holder's lease expire. */
  readonly leaseMs?: number;
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** Told about unexpected failures (the database, a bug): the error class only reaches the log. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Delivers every organization's log streams, in every server process (`server.ts` starts and stops it).
 *
 * Contract: at least once, in index order, from each stream's durable cursor. A batch is read on the reader
 * connection (never blocking the API's writes), sent, and only after the receiver acknowledged is the cursor moved
 * past it — a small write of its own, not a ledger append. A crash between the two re-sends that batch after the
 * restart (receivers deduplicate by `index`). One process delivers a stream at a time: it holds the stream's lease
 * (a compare-and-set on the row), so on PostgreSQL several processes share the streams without sending twice in
 * parallel. A failed attempt is retried after an exponential backoff with jitter; the API shows the last error.
 */
export function createStreamDelivery(deps: StreamDeliveryDeps) {
  const { storage, ledger, secrets } = deps;
  const reader = storage.reader;
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? STREAM_INTERVAL_MS;
  const timeoutMs = deps.timeoutMs ?? STREAM_TIMEOUT_MS;
  const leaseMs = deps.leaseMs ?? STREAM_LEASE_MS;
  const owner = randomUUID();
  const inFlight = new Map<string, Promise<void>>();
  let started = false;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let looking: Promise<void> | undefined;

  const logId = (org: string): Promise<number | undefined> => ledger.findLogId(org);
  const sending = { reader, secrets, timeoutMs };

  async function deliver(due: LogStream): Promise<void> {
    if (!(await takeLease(storage.db, due.id, owner, now(), now() + leaseMs))) return;
    let stream = due;
    try {
      // The row as it is now that we hold the lease: `due` was read before, and another process may have
      // delivered (moved the cursor), failed (backed off) or the stream changed since. Starting from its stale
      // cursor would resend what was already acknowledged.
      const current = await findStream(storage.db, due.org, due.id);
      if (!current || current.paused || current.nextAttempt > now()) return;
      stream = current;
      const id = await logId(stream.org);
      if (id === undefined) return;
      let cursor = stream.cursor;
      for (let batch = 0; batch < STREAM_BATCHES_PER_LOOK && !stopping; batch++) {
        const size = await ledger.size(stream.org);
        if (cursor >= size) return;
        const entries = await readStreamEntries(reader, id, stream.query, { from: cursor, until: size });
        if (entries.length > 0) await sendToStream(stream, entries, sending);
        const to = entries.length < STREAM_BATCH ? size : entries.at(-1)!.index + 1;
        if (!(await advanceCursor(storage.db, stream.id, owner, cursor, to, now(), entries.length > 0)))
          return;
        cursor = to;
        // Renewed per batch; a lease that expired and was taken meanwhile is another's: stop sending.
        if (!(await takeLease(storage.db, stream.id, owner, now(), now() + leaseMs))) return;
        // A pause (or a deletion) takes effect at the next batch, not at the next look.
        const again = await findStream(storage.db, stream.org, stream.id);
        if (!again || again.paused) return;
      }
    } catch (error) {
      const message = error instanceof DeliveryError ? error.message : 'internal error';
      if (!(error instanceof DeliveryError)) deps.onError?.(error);
      const failures = stream.failures + 1;
      const at = now();
      await recordFailure(
        storage.db,
        stream.id,
        owner,
        message,
        at,
        failures,
        at + backoffMs(failures, deps.backoff),
      ).catch((e: unknown) => deps.onError?.(e));
    } finally {
      await releaseLease(storage.db, stream.id, owner).catch((e: unknown) => deps.onError?.(e));
    }
  }

  /** Starts a delivery for every due stream not already being delivered by this process. */
  async function look(): Promise<void> {
    const sizes = new Map<string, number>();
    for (const stream of await dueStreams(reader, now())) {
      if (inFlight.has(stream.id)) continue;
      // A stream that is caught up costs one read, not a lease's writes.
      if (!sizes.has(stream.org)) {
        const id = await logId(stream.org);
        sizes.set(stream.org, id === undefined ? 0 : await ledger.size(stream.org));
      }
      if (stream.cursor >= sizes.get(stream.org)!) continue;
      const running = deliver(stream)
        .catch((error: unknown) => deps.onError?.(error))
        .finally(() => inFlight.delete(stream.id));
      inFlight.set(stream.id, running);
    }
  }

  function tick(): Promise<void> {
    looking ??= look()
      .catch((error: unknown) => deps.onError?.(error))
      .finally(() => {
        looking = undefined;
      });
    return looking;
  }

  function later(): void {
    if (!started) return;
    timer = setTimeout(() => void tick().finally(later), intervalMs);
    timer.unref();
  }

  return {
    /** Starts deliveries due now (without waiting for them). */
    tick,
    /** Waits for every delivery this process has in progress. */
    async idle(): Promise<void> {
      await looking;
      await Promise.all(inFlight.values());
    },
    start(): void {
      if (started) return;
      started = true;
      stopping = false;
      void tick().finally(later);
    },
    /** Stops looking; deliveries in progress finish their current batch (bounded by the timeout). */
    async stop(): Promise<void> {
      started = false;
      stopping = true;
      clearTimeout(timer);
      await looking;
      await Promise.all(inFlight.values());
    },
  };
}

export type StreamDelivery = ReturnType<typeof createStreamDelivery>;
