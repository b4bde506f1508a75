import {
  canonicalBytes,
  CompactRange,
  leafHash,
  planConsistencyProof,
  planInclusionProof,
  rangeNodeIds,
} from '@vigil/ledger';
import type { Transaction } from 'kysely';
import { auditIndexRow, type AuditIndexRow } from '../audit/index-row.js';
import type { Database } from '../storage/schema.js';
import type { Storage } from '../storage/storage.js';
import { LedgerStoreError } from './errors.js';
import {
  lookupIn,
  readNodes,
  sequencerStatements,
  sqliteDirect,
  type SqliteDirect,
  storedLevel,
  toBytes,
  type EntryRow,
  type NodeRow,
  type SequencerStatements,
} from './tree-store.js';

/** A JSON object that becomes one ledger entry (the audit record). */
export type LedgerRecord = object;

/** The answer to an append: the record is *sequenced* and *integrated* (see docs/ledger.md). */
export interface Sequenced {
  readonly org: string;
  readonly index: number;
  readonly leafHash: Uint8Array;
}

/**
 * Work that must commit together with its audit record. It runs inside the batch transaction after the log is
 * locked; it returns the record to append (which may describe what the work found) and a result for the caller.
 * If it throws, its changes are rolled back (with its batch, which then runs again without it), nothing is
 * appended for it, and the error reaches the caller; the other work in the batch commits as if it had not been
 * there. Work may therefore run more than once: it must do nothing outside its transaction.
 */
export type LedgerWork<T> = (tx: Transaction<Database>) => Promise<{ record: LedgerRecord; result: T }>;

export interface LedgerStoreOptions {
  /** Most units in one transaction. */
  readonly maxBatch?: number;
  /** Most units waiting; beyond it appends fail fast with `ledger-overloaded` (pushback, not a hang). */
  readonly maxPending?: number;
  /** Called after every commit with the logs that grew, so the publisher knows what to sign. */
  readonly onCommit?: (logIds: readonly number[]) => void;
}

/** 512 records a transaction: enough to amortize a commit, small enough to keep p99 latency low. */
export const DEFAULT_MAX_BATCH = 512;
/** 20,000 waiting appends ≈ a few hundred milliseconds of work on this hardware; past that, callers get 503. */
export const DEFAULT_MAX_PENDING = 20_000;
/** Rows per page when streaming entries or hashes out of the database. */
const READ_PAGE = 1000;

/** A unit's work threw: its batch is rolled back and runs again without it. */
class UnitFailed extends Error {
  constructor(
    readonly unit: Unit,
    override readonly cause: unknown,
  ) {
    super('a unit of the batch failed');
  }
}

/** What one batch assigned, before it commits. */
class BatchState {
  readonly ranges = new Map<number, CompactRange>();
  readonly entries: EntryRow[] = [];
  readonly nodes: Array<NodeRow & { logId: number }> = [];
  /** Query-index rows (`audit_events`) of the entries that are audit records. */
  readonly events: AuditIndexRow[] = [];
  readonly answers: Array<{ unit: Unit; sequenced?: Sequenced; result?: unknown; error?: unknown }> = [];

  /**
   * Assigns the record the next index of its log, the subtree hashes it completes (those on stored levels, see
   * `STORED_FROM_LEVEL`), and its query-index row.
   */
  sequence(unit: Unit, record: LedgerRecord | undefined, result: unknown): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeRecord(record);
    } catch (error) {
      this.answers.push({ unit, error });
      return;
    }
    const range = this.ranges.get(unit.logId)!;
    const index = range.size;
    const leaf = leafHash(bytes);
    for (const node of range.append(leaf))
      if (storedLevel(node.level)) this.nodes.push({ logId: unit.logId, ...node });
    this.entries.push({ logId: unit.logId, index, data: bytes });
    const event = auditIndexRow(unit.logId, index, record!);
    if (event) this.events.push(event);
    this.answers.push({ unit, result, sequenced: { org: unit.org, index, leafHash: leaf } });
  }
}

interface Unit {
  readonly org: string;
  logId: number;
  readonly record: LedgerRecord | undefined;
  readonly work: LedgerWork<unknown> | undefined;
  readonly resolve: (value: { sequenced: Sequenced; result: unknown }) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The ledger's storage side: sequencing (group commit), integration (tree hashes written in the same
 * transaction), and the reads that serve entries and proofs. Publication (signed checkpoints) is
 * `CheckpointPublisher`'s job.
 *
 * Sequencing design: every append joins an in-process queue; one batch at a time drains it inside one
 * transaction, which locks the affected logs (an advisory lock on PostgreSQL, the single writer on SQLite), reads
 * each log's size, appends every record with its index, the subtree hashes it completes and its query-index row
 * (`audit_events`, for audit records: see `auditIndexRow`), and commits. Callers
 * are answered only once the commit is durable (on SQLite's fast path, when the write-ahead log's sync that
 * covers it finishes, while the next batch already runs). See docs/ledger.md.
 */
export class LedgerStore {
  private readonly statements: SequencerStatements;
  private readonly direct: SqliteDirect | undefined;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly logIds = new Map<string, number>();
  /** Committed frontier per log; validated against the database's size at the start of every batch. */
  private readonly frontiers = new Map<number, CompactRange>();
  private queue: Unit[] = [];
  private appendCount = 0;
  private appendWaitMs = 0;
  private running = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  /** Committed batches whose callers wait for durability (SQLite fast path). */
  private readonly syncing = new Set<Promise<void>>();
  private markIdle: () => void = () => {};

  constructor(
    readonly storage: Storage,
    private readonly options: LedgerStoreOptions = {},
  ) {
    this.statements = sequencerStatements(storage);
    this.direct = storage.sqlite ? sqliteDirect(storage.sqlite) : undefined;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** Appends one record; resolves once it is durably sequenced. */
  async append(org: string, record: LedgerRecord): Promise<Sequenced> {
    const { sequenced } = await this.enqueue(org, record, undefined);
    return sequenced;
  }

  /** Runs `work` and appends the record it returns, in one transaction. */
  async commit<T>(org: string, work: LedgerWork<T>): Promise<{ sequenced: Sequenced; result: T }> {
    const out = await this.enqueue(org, undefined, work as LedgerWork<unknown>);
    return out as { sequenced: Sequenced; result: T };
  }

  /**
   * Appends answered so far and the time callers spent waiting for them (queue + transaction, including any work
   * run inside it): the cost of auditing, for benchmarks and metrics.
   */
  stats(): { appends: number; waitMs: number } {
    return { appends: this.appendCount, waitMs: this.appendWaitMs };
  }

  /** Waits for queued appends, then refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle;
    await Promise.all(this.syncing);
  }

  private enqueue(
    org: string,
    record: LedgerRecord | undefined,
    work: LedgerWork<unknown> | undefined,
  ): Promise<{ sequenced: Sequenced; result: unknown }> {
    if (this.closed) return Promise.reject(new LedgerStoreError('closed', 'the ledger is closed'));
    if (this.queue.length >= this.maxPending) {
      return Promise.reject(new LedgerStoreError('ledger-overloaded', 'too many audit records are waiting'));
    }
    const queued = performance.now();
    const settled = () => {
      this.appendCount++;
      this.appendWaitMs += performance.now() - queued;
    };
    return new Promise((resolve, reject) => {
      this.queue.push({
        org,
        logId: -1,
        record,
        work,
        resolve: (value) => {
          settled();
          resolve(value);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      });
      if (!this.running) this.drain();
    });
  }

  private drain(): void {
    this.running = true;
    this.idle = new Promise((r) => (this.markIdle = r));
    void (async () => {
      while (this.queue.length > 0) {
        // One turn of the event loop first: requests whose reads just finished join this batch instead of
        // waiting a whole commit for the next one (on SQLite a commit blocks the loop while it syncs).
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.queue.splice(0, this.maxBatch);
        await this.runBatch(batch);
      }
      this.running = false;
      this.markIdle();
    })();
  }

  private async runBatch(batch: Unit[]): Promise<void> {
    let done: BatchState;
    try {
      for (const unit of batch) unit.logId = await this.logIdFor(unit.org);
      const logIds = [...new Set(batch.map((u) => u.logId))].sort((a, b) => a - b);
      const direct = this.direct && batch.every((u) => !u.work) ? this.direct : undefined;
      done = direct
        ? await this.runDirect(direct, batch, logIds)
        : await this.runInTransaction(batch, logIds);
    } catch (error) {
      // Nothing in this batch was sequenced: every caller learns it, and no cached state survives the doubt.
      this.frontiers.clear();
      const failure =
        error instanceof LedgerStoreError
          ? error
          : new LedgerStoreError('ledger-unavailable', 'the audit ledger could not be written', {
              cause: error,
            });
      for (const unit of batch) unit.reject(failure);
      return;
    }
    for (const [id, range] of done.ranges) this.frontiers.set(id, range);
    this.options.onCommit?.([...done.ranges.keys()]);
    const walSync = this.storage.walSync;
    if (!walSync) return answer(done); // PostgreSQL: durable when COMMIT returned
    if (batch.length === 1 && this.queue.length === 0 && this.syncing.size === 0) {
      // A lone writer: nothing could overlap the sync, so it runs here, without a trip to the thread pool.
      try {
        walSync.durableNow();
      } catch (error) {
        return unavailable(done, error);
      }
      return answer(done);
    }
    // SQLite committed without waiting for the disk: callers are answered once the commit is durable, while the
    // next batch already runs (its commit joins the same or the next sync).
    const durable = walSync.durable().then(
      () => answer(done),
      (error: unknown) => unavailable(done, error),
    );
    this.syncing.add(durable);
    void durable.finally(() => this.syncing.delete(durable));
  }

  /**
   * The general path: one Kysely transaction for the whole batch. Optimistic: units run without savepoints (a
   * savepoint costs two statements per unit, two round trips each on PostgreSQL). If a unit's work throws, the
   * whole transaction rolls back, that unit is answered with its error, and the batch runs again without it —
   * the others' work is redone from scratch, so nothing of the failed unit survives.
   */
  private async runInTransaction(batch: Unit[], logIds: number[]): Promise<BatchState> {
    const failed: Array<{ unit: Unit; error: unknown }> = [];
    let units = batch;
    for (;;) {
      try {
        const state = await this.storage.db.transaction().execute(async (tx) => {
          await this.statements.lock(tx, logIds);
          const state = new BatchState();
          for (const id of logIds) state.ranges.set(id, await this.frontier(tx, id));
          for (const unit of units) {
            if (!unit.work) {
              state.sequence(unit, unit.record, undefined);
              continue;
            }
            let out: { record: LedgerRecord; result: unknown };
            try {
              out = await unit.work(tx);
              encodeRecord(out.record); // a record that cannot be encoded fails its unit, and rolls back its work
            } catch (error) {
              throw new UnitFailed(unit, error);
            }
            state.sequence(unit, out.record, out.result);
          }
          await this.statements.insert(tx, state.entries, state.nodes, state.events);
          // SQLite: COMMIT returns without waiting for the disk; callers are answered after the sync (runBatch).
          this.storage.walSync?.deferCommit();
          return state;
        });
        for (const f of failed) state.answers.push(f);
        return state;
      } catch (error) {
        if (!(error instanceof UnitFailed)) throw error;
        failed.push({ unit: error.unit, error: error.cause });
        units = units.filter((u) => u !== error.unit);
        if (units.length === 0) {
          const state = new BatchState();
          for (const f of failed) state.answers.push(f);
          return state;
        }
      }
    }
  }

  /**
   * SQLite's fast path for batches of plain records: one synchronous better-sqlite3 transaction on the writer
   * connection, taken through Kysely's connection mutex so it never interleaves with another transaction.
   */
  private async runDirect(direct: SqliteDirect, batch: Unit[], logIds: number[]): Promise<BatchState> {
    return this.storage.db.connection().execute(async () =>
      direct.transaction(() => {
        const state = new BatchState();
        for (const id of logIds) {
          const size = direct.size(id);
          const cached = this.frontiers.get(id);
          state.ranges.set(
            id,
            cached && cached.size === size
              ? cached.clone()
              : new CompactRange(
                  size,
                  rangeNodeIds(0, size).map((n) => direct.node(id, n.level, n.index)),
                ),
          );
        }
        for (const unit of batch) state.sequence(unit, unit.record, undefined);
        direct.insert(state.entries, state.nodes, state.events);
        return state;
      }),
    );
  }

  /** The committed frontier of a log, from cache when the database agrees on its size, else from stored hashes. */
  private async frontier(tx: Transaction<Database>, logId: number): Promise<CompactRange> {
    const size = await this.statements.size(tx, logId);
    const cached = this.frontiers.get(logId);
    if (cached && cached.size === size) return cached.clone();
    const ids = rangeNodeIds(0, size);
    return new CompactRange(size, ids.map(lookupIn(await readNodes(tx, logId, ids))));
  }

  /** The log id of an organization, creating its log on first use. */
  async logIdFor(org: string): Promise<number> {
    const cached = this.logIds.get(org);
    if (cached !== undefined) return cached;
    await this.storage.db
      .insertInto('ledger_logs')
      .values({ org, created_at: Date.now() })
      .onConflict((oc) => oc.column('org').doNothing())
      .execute();
    const row = await this.storage.db
      .selectFrom('ledger_logs')
      .select('id')
      .where('org', '=', org)
      .executeTakeFirstOrThrow();
    this.logIds.set(org, row.id);
    return row.id;
  }

  // ---- reads (on the reader connection: they never wait behind, or see inside, a write transaction) ----

  /** The log id of an organization that has a log. */
  async existingLogId(org: string): Promise<number> {
    const cached = this.logIds.get(org);
    if (cached !== undefined) return cached;
    const row = await this.storage.reader
      .selectFrom('ledger_logs')
      .select('id')
      .where('org', '=', org)
      .executeTakeFirst();
    if (!row) throw new LedgerStoreError('log-not-found', `no audit log for organization "${org}"`);
    this.logIds.set(org, row.id);
    return row.id;
  }

  /** The log id of an organization, or undefined if nothing was ever recorded for it (an empty log). */
  async findLogId(org: string): Promise<number | undefined> {
    try {
      return await this.existingLogId(org);
    } catch (error) {
      if (error instanceof LedgerStoreError && error.code === 'log-not-found') return undefined;
      throw error;
    }
  }

  /** Every organization that has a log, with its id. */
  async logs(): Promise<Array<{ id: number; org: string }>> {
    return this.storage.reader.selectFrom('ledger_logs').select(['id', 'org']).orderBy('id').execute();
  }

  /** The integrated size: every committed entry is integrated (its hashes commit with it). */
  async size(org: string): Promise<number> {
    return this.readSize(await this.existingLogId(org));
  }

  private async readSize(logId: number): Promise<number> {
    const row = await this.storage.reader
      .selectFrom('ledger_entries')
      .select((eb) => eb.fn.max('idx').as('m'))
      .where('log_id', '=', logId)
      .executeTakeFirst();
    return row?.m === null || row?.m === undefined ? 0 : Number(row.m) + 1;
  }

  /** The latest signed checkpoint (note text), or undefined if none was signed yet. */
  async latestCheckpoint(org: string): Promise<{ size: number; note: string } | undefined> {
    const logId = await this.existingLogId(org);
    return this.storage.reader
      .selectFrom('ledger_checkpoints')
      .select(['size', 'note'])
      .where('log_id', '=', logId)
      .orderBy('size', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** Every checkpoint signed for the log with size in [from, to], oldest first. */
  async checkpoints(
    org: string,
    from = 0,
    to = Number.MAX_SAFE_INTEGER,
  ): Promise<Array<{ size: number; note: string }>> {
    const logId = await this.existingLogId(org);
    return this.storage.reader
      .selectFrom('ledger_checkpoints')
      .select(['size', 'note'])
      .where('log_id', '=', logId)
      .where('size', '>=', from)
      .where('size', '<=', to)
      .orderBy('size')
      .execute();
  }

  /** Entries [start, end) in index order, streamed a page at a time. */
  async *entries(
    org: string,
    start: number,
    end: number,
  ): AsyncGenerator<{ index: number; data: Uint8Array }> {
    const logId = await this.existingLogId(org);
    await this.checkRange(logId, start, end);
    for (let from = start; from < end; from += READ_PAGE) {
      const rows = await this.storage.reader
        .selectFrom('ledger_entries')
        .select(['idx', 'data'])
        .where('log_id', '=', logId)
        .where('idx', '>=', from)
        .where('idx', '<', Math.min(end, from + READ_PAGE))
        .orderBy('idx')
        .execute();
      for (const row of rows) yield { index: row.idx, data: toBytes(row.data) };
    }
  }

  /** The stored leaf hashes [start, end), as the server claims them (verifiers authenticate them against a root). */
  async *leafHashes(
    org: string,
    start: number,
    end: number,
  ): AsyncGenerator<{ index: number; hash: Uint8Array }> {
    const logId = await this.existingLogId(org);
    await this.checkRange(logId, start, end);
    for (let from = start; from < end; from += READ_PAGE) {
      const rows = await this.storage.reader
        .selectFrom('ledger_hashes')
        .select(['idx', 'hash'])
        .where('log_id', '=', logId)
        .where('level', '=', 0)
        .where('idx', '>=', from)
        .where('idx', '<', Math.min(end, from + READ_PAGE))
        .orderBy('idx')
        .execute();
      for (const row of rows) yield { index: row.idx, hash: toBytes(row.hash) };
    }
  }

  /** RFC 6962 inclusion proof of entry `index` in the tree of size `treeSize`, from O(log n) stored hashes. */
  async inclusionProof(
    org: string,
    index: number,
    treeSize: number,
  ): Promise<{ leafHash: Uint8Array; hashes: Uint8Array[] }> {
    const logId = await this.existingLogId(org);
    const size = await this.readSize(logId);
    if (treeSize > size)
      throw outOfRange('treeSize', `treeSize ${treeSize} exceeds the integrated size ${size}`);
    if (index >= treeSize) throw outOfRange('index', `index ${index} is not below treeSize ${treeSize}`);
    const plan = planInclusionProof(index, treeSize);
    const ids = [{ level: 0, index }, ...plan.nodeIds];
    const found = await readNodes(this.storage.reader, logId, ids);
    const lookup = lookupIn(found);
    return { leafHash: lookup({ level: 0, index }), hashes: plan.build(lookup) };
  }

  /** RFC 6962 consistency proof between tree sizes `from` and `to`. */
  async consistencyProof(org: string, from: number, to: number): Promise<Uint8Array[]> {
    const logId = await this.existingLogId(org);
    const size = await this.readSize(logId);
    if (to > size) throw outOfRange('to', `to ${to} exceeds the integrated size ${size}`);
    if (from > to) throw outOfRange('from', `from ${from} exceeds to ${to}`);
    const plan = planConsistencyProof(from, to);
    const found = await readNodes(this.storage.reader, logId, plan.nodeIds);
    return plan.build(lookupIn(found));
  }

  /** The RFC 6962 root of the tree of size `treeSize` (≤ integrated size), from stored hashes. */
  async rootAt(org: string, treeSize: number): Promise<Uint8Array> {
    const logId = await this.existingLogId(org);
    return rootFromStore(this.storage.reader, logId, treeSize);
  }

  private async checkRange(logId: number, start: number, end: number): Promise<void> {
    if (start > end) throw outOfRange('start', `start ${start} exceeds end ${end}`);
    const size = await this.readSize(logId);
    if (end > size) throw outOfRange('end', `end ${end} exceeds the log size ${size}`);
  }
}

/** The root of the first `size` leaves, from the stored frontier nodes of that size. */
export async function rootFromStore(
  db: Storage['reader'] | Transaction<Database>,
  logId: number,
  size: number,
): Promise<Uint8Array> {
  const ids = rangeNodeIds(0, size);
  const found = await readNodes(db, logId, ids);
  return new CompactRange(size, ids.map(lookupIn(found))).root();
}

/** Answers a committed (and durable) batch's callers. */
function answer(done: BatchState): void {
  for (const a of done.answers) {
    if (a.sequenced) a.unit.resolve({ sequenced: a.sequenced, result: a.result });
    else a.unit.reject(a.error);
  }
}

/** A committed batch that could not be made durable: its callers fail (closed), nothing is acknowledged. */
function unavailable(done: BatchState, error: unknown): void {
  const failure = new LedgerStoreError('ledger-unavailable', 'the audit ledger could not be written', {
    cause: error,
  });
  for (const a of done.answers) a.unit.reject(a.sequenced ? failure : a.error);
}

function outOfRange(param: string, message: string): LedgerStoreError<'out-of-range'> {
  const error = new LedgerStoreError('out-of-range', message);
  (error as LedgerStoreError<'out-of-range'> & { param: string }).param = param;
  return error;
}

function encodeRecord(record: LedgerRecord | undefined): Uint8Array {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new LedgerStoreError('record-invalid', 'an audit record must be a JSON object');
  }
  try {
    return canonicalBytes(record);
  } catch (error) {
    throw new LedgerStoreError('record-invalid', 'the audit record is not canonical-JSON encodable', {
      cause: error,
    });
  }
}
