import { nodeHash, nodeKey } from '@vigil/ledger';
import { sql, SqliteAdapter, type CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { AuditIndexRow } from '../audit/index-row.js';
import { LedgerStoreError } from './errors.js';
import type { Database } from '../storage/schema.js';
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import type { Storage } from '../storage/storage.js';

/** A stored complete subtree: level L, index k covers leaves [k·2^L, (k+1)·2^L). */
export interface NodeRow {
  readonly level: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

export interface EntryRow {
  readonly logId: number;
  readonly index: number;
  readonly data: Uint8Array;
}

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * The lowest level of stored subtrees above the leaves. Levels 1 to `STORED_FROM_LEVEL − 1` are not stored: a node
 * there covers at most 8 leaves and is hashed from their stored leaf hashes whenever a read needs it. Appending
 * then writes 1.125 hash rows an entry on average instead of 2, and dirties one leaf page of `ledger_hashes` instead
 * of about two (each level's rows lie in a key range of their own); a proof or a root reads at most 8 leaf hashes
 * more for each of its (at most 3) nodes on those levels. Databases written before keep their rows on those levels;
 * nothing reads them.
 */
export const STORED_FROM_LEVEL = 4;

/** Whether the subtree hashes of `level` are stored (the leaves, and every level from `STORED_FROM_LEVEL` up). */
export function storedLevel(level: number): boolean {
  return level === 0 || level >= STORED_FROM_LEVEL;
}

/** The stored rows a node's hash comes from: itself, or the leaves under it on an unstored level. */
function storedIds(id: { level: number; index: number }): Array<{ level: number; index: number }> {
  if (storedLevel(id.level)) return [id];
  const width = 2 ** id.level;
  return Array.from({ length: width }, (_, i) => ({ level: 0, index: id.index * width + i }));
}

/** The hash of a node from stored rows (`storedIds`), or undefined if one of them is missing. */
function hashFrom(
  stored: Map<string, Uint8Array>,
  id: { level: number; index: number },
): Uint8Array | undefined {
  if (storedLevel(id.level)) return stored.get(nodeKey(id));
  const left = hashFrom(stored, { level: id.level - 1, index: 2 * id.index });
  const right = hashFrom(stored, { level: id.level - 1, index: 2 * id.index + 1 });
  return left && right && nodeHash(left, right);
}

/**
 * The few statements the sequencer runs inside its transaction. Each engine owns its own locking and bulk
 * writes (a shared "storage interface" would hide the differences that matter here); both share the queries'
 * meaning and are held to it by the same conformance suite.
 */
export interface SequencerStatements {
  /** Serializes appenders of these logs across processes until the transaction ends. Ids are sorted. */
  lock(tx: Transaction<Database>, logIds: readonly number[]): Promise<void>;
  /** The number of committed entries (max index + 1). */
  size(tx: Executor, logId: number): Promise<number>;
  /** The entries, the subtree hashes they complete, and the query-index rows of those that are audit records. */
  insert(
    tx: Transaction<Database>,
    entries: readonly EntryRow[],
    nodes: readonly (NodeRow & { logId: number })[],
    events: readonly AuditIndexRow[],
  ): Promise<void>;
}

/**
 * The hashes of a set of nodes, read in one round trip, each stored row found through the primary key (O(log n)
 * per node, whatever the log's size); a node on an unstored level is hashed from its leaves (`STORED_FROM_LEVEL`).
 * A node missing from the answer means the stored tree is damaged. The two engines need different spellings for
 * the read: SQLite plans `(level, idx) IN (VALUES …)` as one primary-key search per row but an OR of pairs as a
 * scan of the whole log; PostgreSQL turns the OR into a bitmap of primary-key searches.
 */
export async function readNodes(
  db: Executor,
  logId: number,
  ids: readonly { level: number; index: number }[],
): Promise<Map<string, Uint8Array>> {
  const wanted = new Map<string, { level: number; index: number }>();
  for (const id of ids) for (const s of storedIds(id)) wanted.set(nodeKey(s), s);
  const rowIds = [...wanted.values()];
  const stored = new Map<string, Uint8Array>();
  // A proof needs O(log n) rows; chunk anyway so that no statement exceeds the engines' parameter limits.
  for (let i = 0; i < rowIds.length; i += 200) {
    const { rows } = await db.executeQuery(nodesQuery(db, logId, rowIds.slice(i, i + 200)));
    for (const row of rows) stored.set(nodeKey({ level: row.level, index: row.idx }), toBytes(row.hash));
  }
  const found = new Map<string, Uint8Array>();
  for (const id of ids) {
    const hash = hashFrom(stored, id);
    if (hash) found.set(nodeKey(id), hash);
  }
  return found;
}

/** The statement `readNodes` runs for one chunk of stored rows' ids (exported for the query-plan test). */
export function nodesQuery(
  db: Executor,
  logId: number,
  ids: readonly { level: number; index: number }[],
): CompiledQuery<{ level: number; idx: number; hash: Uint8Array }> {
  if (db.getExecutor().adapter instanceof SqliteAdapter)
    return sql<{ level: number; idx: number; hash: Uint8Array }>`
      SELECT level, idx, hash FROM ledger_hashes WHERE log_id = ${logId}
        AND (level, idx) IN (VALUES ${sql.join(ids.map((id) => sql`(${id.level}, ${id.index})`))})`.compile(
      db,
    );
  return db
    .selectFrom('ledger_hashes')
    .select(['level', 'idx', 'hash'])
    .where('log_id', '=', logId)
    .where((eb) => eb.or(ids.map((id) => eb.and([eb('level', '=', id.level), eb('idx', '=', id.index)]))))
    .compile();
}

/** A lookup over nodes read by `readNodes`; a missing node means the stored tree is damaged. */
export function lookupIn(
  found: Map<string, Uint8Array>,
): (id: { level: number; index: number }) => Uint8Array {
  return (id) => {
    const hash = found.get(nodeKey(id));
    if (!hash) throw new LedgerStoreError('ledger-unavailable', `stored tree is missing node ${nodeKey(id)}`);
    return hash;
  };
}

export function sequencerStatements(storage: Storage): SequencerStatements {
  return storage.dialect === 'sqlite' ? sqliteStatements(storage) : postgresStatements();
}

/**
 * SQLite: one writer connection per database, so the transaction itself is the lock. Writes go through prepared
 * statements on the writer's handle (inside the Kysely transaction that holds that same connection): at tens of
 * thousands of rows a second, compiling a query per row would cost more than the disk.
 */
function sqliteStatements(storage: Storage): SequencerStatements {
  if (!storage.sqlite) throw new Error('sqlite statements need the writer handle');
  const direct = sqliteDirect(storage.sqlite);
  return {
    async lock() {},
    async size(_tx, logId) {
      return direct.size(logId);
    },
    async insert(_tx, entries, nodes, events) {
      direct.insert(entries, nodes, events);
    },
  };
}

/** Synchronous statements on SQLite's writer connection. Callers hold that connection (Kysely's mutex). */
export interface SqliteDirect {
  size(logId: number): number;
  node(logId: number, level: number, index: number): Uint8Array;
  insert(
    entries: readonly EntryRow[],
    nodes: readonly (NodeRow & { logId: number })[],
    events: readonly AuditIndexRow[],
  ): void;
  /** Runs `fn` in a BEGIN IMMEDIATE transaction; commits on return, rolls back on throw. */
  transaction<T>(fn: () => T): T;
}

export function sqliteDirect(handle: SQLiteDatabase): SqliteDirect {
  const sizeStmt = handle.prepare('SELECT max(idx) AS m FROM ledger_entries WHERE log_id = ?');
  const nodeStmt = handle.prepare(
    'SELECT hash FROM ledger_hashes WHERE log_id = ? AND level = ? AND idx = ?',
  );
  const leavesStmt = handle.prepare(
    'SELECT idx, hash FROM ledger_hashes WHERE log_id = ? AND level = 0 AND idx >= ? AND idx < ?',
  );
  const insertEntry = handle.prepare('INSERT INTO ledger_entries (log_id, idx, data) VALUES (?, ?, ?)');
  const insertNode = handle.prepare(
    'INSERT INTO ledger_hashes (log_id, level, idx, hash) VALUES (?, ?, ?, ?)',
  );
  const insertEvent = handle.prepare(
    `INSERT INTO audit_events (log_id, idx, time, event, actor_login, token_name, project, environment, source_ip,
       outcome, description_folded, source_ip_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const inTransaction = handle.transaction((fn: () => unknown) => fn());
  return {
    size(logId) {
      const row = sizeStmt.get(logId) as { m: number | null };
      return row.m === null ? 0 : row.m + 1;
    },
    node(logId, level, index) {
      const stored = new Map<string, Uint8Array>();
      if (storedLevel(level)) {
        const row = nodeStmt.get(logId, level, index) as { hash: Uint8Array } | undefined;
        if (row) stored.set(nodeKey({ level, index }), row.hash);
      } else {
        const width = 2 ** level;
        const rows = leavesStmt.all(logId, index * width, (index + 1) * width) as Array<{
          idx: number;
          hash: Uint8Array;
        }>;
        for (const row of rows) stored.set(nodeKey({ level: 0, index: row.idx }), row.hash);
      }
      const hash = hashFrom(stored, { level, index });
      if (!hash)
        throw new LedgerStoreError('ledger-unavailable', `stored tree is missing node ${level}/${index}`);
      return hash;
    },
    insert(entries, nodes, events) {
      for (const e of entries) insertEntry.run(e.logId, e.index, e.data);
      for (const n of nodes) insertNode.run(n.logId, n.level, n.index, n.hash);
      for (const r of events) {
        insertEvent.run(
          r.logId,
          r.index,
          r.time,
          r.event,
          r.actorLogin,
          r.tokenName,
          r.project,
          r.environment,
          r.sourceIp,
          r.outcome,
          r.descriptionFolded,
          r.sourceIpKey && Buffer.from(r.sourceIpKey),
        );
      }
    },
    // One transaction function for every batch: better-sqlite3 builds a wrapper per `transaction()` call.
    transaction: <T>(fn: () => T) => inTransaction.immediate(fn) as T,
  };
}

/**
 * PostgreSQL: several server processes may share the database. A transaction-scoped advisory lock per log
 * serializes appenders of that log (the sequencer holds it for a whole batch, so the lock is paid per batch, not
 * per record); rows go in with one `unnest` INSERT per table, all in one statement, whatever the batch size.
 */
function postgresStatements(): SequencerStatements {
  return {
    async lock(tx, logIds) {
      for (const id of logIds)
        await sql`SELECT pg_advisory_xact_lock(${LOCK_CLASS_SEQUENCER}, ${id})`.execute(tx);
    },
    async size(tx, logId) {
      const { rows } = await sql<{ m: number | null }>`
        SELECT max(idx) AS m FROM ledger_entries WHERE log_id = ${logId}`.execute(tx);
      const m = rows[0]?.m ?? null;
      return m === null ? 0 : Number(m) + 1;
    },
    async insert(tx, entries, nodes, events) {
      if (entries.length === 0) return;
      // One round trip for the three tables: data-modifying CTEs insert the entries and their query-index rows,
      // the outer INSERT the hashes.
      const column = <K extends keyof AuditIndexRow>(key: K) => events.map((r) => r[key]);
      await sql`WITH entries AS (
          INSERT INTO ledger_entries (log_id, idx, data)
          SELECT * FROM unnest(${entries.map((e) => e.logId)}::integer[], ${entries.map((e) => e.index)}::bigint[],
                               ${entries.map((e) => Buffer.from(e.data))}::bytea[])),
        events AS (
          INSERT INTO audit_events (log_id, idx, time, event, actor_login, token_name, project, environment,
                                    source_ip, outcome, description_folded, source_ip_key)
          SELECT * FROM unnest(${column('logId')}::integer[], ${column('index')}::bigint[],
                               ${column('time')}::bigint[], ${column('event')}::text[],
                               ${column('actorLogin')}::text[], ${column('tokenName')}::text[],
                               ${column('project')}::text[], ${column('environment')}::text[],
                               ${column('sourceIp')}::text[], ${column('outcome')}::text[],
                               ${column('descriptionFolded')}::text[],
                               ${events.map((r) => (r.sourceIpKey ? Buffer.from(r.sourceIpKey) : null))}::bytea[]))
        INSERT INTO ledger_hashes (log_id, level, idx, hash)
        SELECT * FROM unnest(${nodes.map((n) => n.logId)}::integer[], ${nodes.map((n) => n.level)}::integer[],
                             ${nodes.map((n) => n.index)}::bigint[], ${nodes.map((n) => Buffer.from(n.hash))}::bytea[])`.execute(
        tx,
      );
    },
  };
}

/** Advisory-lock classes (first key of the two-key form), so Vigil's locks never collide with each other. */
export const LOCK_CLASS_SEQUENCER = 0x5601;
export const LOCK_CLASS_PUBLISHER = 0x5602;

export function toBytes(value: Uint8Array): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayLike<number>);
}
