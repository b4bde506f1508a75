import type { EventId } from '@vigil/protocol';
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import pg from 'pg';
import { sql, type RawBuilder } from 'kysely';
import type { LedgerStore } from '../ledger/ledger-store.js';
import { toBytes } from '../ledger/tree-store.js';
import { sessionSettings } from '../storage/storage.js';
import { copyOut, copySocket, type EntryBlock } from './copy-rows.js';
import { utf8 } from './pulumi-event.js';
import type { QueryNode } from './query-language.js';
import { compileQuery, type Column } from './query-sql.js';

/**
 * Which entries of an organization's log a list or export selects. Positions and times are the log's: `before`
 * is a ledger index (exclusive), times are epoch milliseconds, half-open `[fromMs, untilMs)`.
 */
export interface AuditSelection {
  /** Only entries with an index below this one (the keyset a continuation token carries). */
  readonly before?: number;
  readonly fromMs?: number;
  readonly untilMs?: number;
  /** The actor's login, any case. */
  readonly login?: string;
  readonly event?: EventId;
  /** A parsed `q=` query (`query-language.ts`), ANDed with the filters above. */
  readonly query?: QueryNode;
}

/** One selected entry: its index and its stored bytes (what the tree hashes; answers are rendered from them). */
export interface SelectedEntry {
  readonly index: number;
  readonly data: Uint8Array;
}

/**
 * One selected entry as text: its bytes decoded as UTF-8, each invalid sequence a U+FFFD, exactly as
 * `Buffer.toString('utf8')` decodes them. What the rendered exports (CSV, CEF, OCSF) read: they parse the text
 * anyway, and a string read as text costs no buffer per row (bench/auditlog.ts).
 */
export interface SelectedText {
  readonly index: number;
  readonly data: string;
}

/** A page of a rendered export: entries as text, or (PostgreSQL, a whole log) a block of them as COPY sent them. */
export type TextPage = SelectedText[] | EntryBlock;

/** How a read returns each entry's record: its exact bytes, or their text. */
type Shape = 'bytes' | 'text';
type Entry = SelectedEntry | SelectedText;

/**
 * Rows read per query when an export streams the whole selection. SQLite reads on the event loop: a thousand rows
 * hold it about 2 ms. PostgreSQL's reads wait off the loop (one round trip a page, the next page read while one
 * renders): larger pages, though not 4,000 as before: a first export at 300k events grew the server by 137 MiB
 * with 4,000, 101 MiB with 2,000, at the same speed; with 1,000 it ran 7% slower (bench/auditlog.ts).
 */
export const EXPORT_READ_PAGE = { sqlite: 1000, postgres: 2000 } as const;
/**
 * PostgreSQL: exports of a whole log (no filter) stream as one `COPY … TO STDOUT (FORMAT binary)` on a connection
 * of their own, at most this many at once per process (more read page by page through the audit pool). One
 * statement, one snapshot; no query per page, no row objects: reading 1M entries cost 1.3–1.6 µs of this thread's
 * time an entry, against 3.3 µs in pages of 2,000 rows as arrays (a bench of its own, same table, same run), and
 * the entries cross to the render thread as the bytes COPY sent. bench/auditlog.ts, 1M events: the first export's
 * peak growth 59–88 MB against 104–109 MB before, and 99–106k rows/s against 82–98k.
 */
export const EXPORT_COPY_STREAMS = 4;
/** How an export's COPY connection names itself to PostgreSQL (`pg_stat_activity.application_name`). */
export const EXPORT_APPLICATION_NAME = 'vigil-audit-export';
/** Bytes of COPY tuples gathered into one export page (about 700 entries). */
const COPY_BLOCK_BYTES = 256 * 1024;
/** Indexes per block of the time summary (see `createTimeSummary`). */
export const TIME_BLOCK = 1024;
/** Blocks summarized per statement while a summary catches up (bounds how long one read holds SQLite). */
const SUMMARY_CHUNK_BLOCKS = 64;
/** Longest a time summary goes without looking for newly completed blocks (it stays exact: see `createTimeSummary`). */
const SUMMARY_REFRESH_MS = 1000;
/** Index intervals read one by one for a time-bounded page; further candidate blocks are read as one interval. */
const MAX_INTERVALS = 16;

/**
 * A half-open interval of log indexes `[lo, hi)` (`hi` undefined: no upper bound) that may hold selected entries;
 * `inside`: every entry in it is known to lie within the time bounds, which need no test there.
 */
interface Interval {
  readonly lo: number;
  readonly hi: number | undefined;
  readonly inside: boolean;
}

/**
 * Reads the `audit_events` index, newest first, joined to the entries it points at. Keyset paging on the log
 * index: a page is "the `limit` highest indexes below `before`", so pages neither skip nor repeat entries however
 * many share a timestamp, and entries appended meanwhile (higher indexes) never shift a later page.
 *
 * Every page walks one index in index order and stops once it has the page, whatever the log's size: the primary
 * key, or the index of the one filter that drives the page (`drivingIndex`); time bounds become index intervals
 * through the time summary.
 */
export function createAuditQuery(ledger: LedgerStore) {
  // On PostgreSQL a pool whose sessions leave the planner only index walks (see `Storage.auditReader`).
  const { auditReader: reader, dialect } = ledger.storage;
  const times = createTimeSummary(ledger);
  const copyPool = dialect === 'postgres' ? ledger.storage.auditPool : undefined;
  let copyStreams = 0;

  /** The log's id, or undefined for an organization nothing was ever recorded for (an empty log). */
  const logId = (org: string): Promise<number | undefined> => ledger.findLogId(org);

  /** Up to `limit` entries with indexes in `interval` that meet `condition`, newest first. */
  async function readInterval(
    id: number,
    condition: QueryNode | undefined,
    driver: Driver | undefined,
    interval: Interval,
    limit: number,
    shape: Shape,
  ): Promise<Entry[]> {
    if (!condition) return readUnfiltered(id, interval, limit, shape);
    const where = [
      sql`a.log_id = ${id}`,
      ...(interval.lo > 0 ? [sql`a.idx >= ${interval.lo}`] : []),
      ...(interval.hi === undefined ? [] : [sql`a.idx < ${interval.hi}`]),
      // In SQL, so the keyset stays exact: a page is the `limit` highest matching indexes below `before`.
      compileQuery(condition, { dialect, indexed: new Set(driver?.columns ?? []) }),
    ];
    // SQLite has no statistics to choose by (offered the actor index for `actor:… event:…`, it walks the primary
    // key and tests both): it is told the driving index.
    const hint = driver && dialect === 'sqlite' ? sql` INDEXED BY ${sql.id(driver.index)}` : sql``;
    // The page's indexes first, then only their entries: the join never steers the plan.
    const { rows } = await sql<{ idx: number; data: Uint8Array | string }>`
      SELECT p.idx, ${dataColumn(dialect, shape, 'l.data')} AS data
      FROM (SELECT a.idx FROM audit_events AS a${hint} WHERE ${sql.join(where, sql` AND `)}
            ORDER BY a.idx DESC LIMIT ${limit}) AS p
      JOIN ledger_entries AS l ON l.log_id = ${id} AND l.idx = p.idx
      ORDER BY p.idx DESC`.execute(reader);
    return rows.map((r) => entry(Number(r.idx), r.data, shape));
  }

  /**
   * `readInterval` without a filter (a whole export, an unfiltered listing): the entries of the interval that are
   * audit records, newest first (`UnfilteredReads`).
   */
  async function readUnfiltered(
    id: number,
    interval: Interval,
    limit: number,
    shape: Shape,
  ): Promise<Entry[]> {
    const rows = await ranges.audited(id, interval.lo, interval.hi ?? Number.MAX_SAFE_INTEGER, limit, shape);
    return rows.map(([index, data]) => entry(index, data, shape));
  }

  const ranges: UnfilteredReads = ledger.storage.sqliteReader
    ? sqliteRanges(ledger.storage.sqliteReader)
    : postgresRanges(ledger.storage.auditPool!);

  /**
   * On PostgreSQL, text is the bytes converted by the server, which refuses bytes that are not UTF-8 (or hold a
   * NUL): only a tampered entry does. Its page is then read again as bytes and decoded here, as SQLite's are.
   */
  async function read(id: number, selection: AuditSelection, limit: number, shape: Shape): Promise<Entry[]> {
    if (shape === 'bytes' || dialect === 'sqlite') return readShaped(id, selection, limit, shape);
    try {
      return await readShaped(id, selection, limit, 'text');
    } catch (error) {
      if (!NOT_UTF8.has((error as { code?: unknown }).code as string)) throw error;
      const entries = (await readShaped(id, selection, limit, 'bytes')) as SelectedEntry[];
      return entries.map((e) => ({ index: e.index, data: utf8(e.data) }));
    }
  }

  async function readShaped(
    id: number,
    selection: AuditSelection,
    limit: number,
    shape: Shape,
  ): Promise<Entry[]> {
    const terms = conjuncts(selection);
    const { fromMs, untilMs } = timeBounds(terms);
    if (fromMs !== undefined && untilMs !== undefined && fromMs >= untilMs) return [];
    const intervals =
      fromMs === undefined && untilMs === undefined
        ? [{ lo: 0, hi: selection.before, inside: true }]
        : await times.intervals(id, { fromMs, untilMs, before: selection.before });
    const and = (ts: QueryNode[]) => (ts.length === 0 ? undefined : { kind: 'and' as const, terms: ts });
    const condition = and(terms);
    // Where the time bounds are known to hold, the rows are not tested against them (and a filter's index stays
    // covering: `time` is in none).
    const timeless = and(terms.filter((t) => t.kind !== 'time'));
    const driver = drivingIndex(terms);
    const out: Entry[] = [];
    for (const interval of intervals) {
      const found = await readInterval(
        id,
        interval.inside ? timeless : condition,
        driver,
        interval,
        limit - out.length,
        shape,
      );
      out.push(...found);
      if (out.length >= limit) break;
    }
    return out;
  }

  return {
    /**
     * Up to `size` entries, newest first, and the keyset of the next page when there may be more. PostgreSQL sends
     * an entry's bytes as hex text, twice their size, which is then decoded here: pages read the text instead (a
     * tampered entry that is not UTF-8 falls back to its bytes, see `read`).
     */
    async page(
      org: string,
      selection: AuditSelection,
      size: number,
    ): Promise<{ entries: Array<SelectedEntry | SelectedText>; next?: number }> {
      const id = await logId(org);
      if (id === undefined) return { entries: [] };
      const rows = await read(id, selection, size + 1, dialect === 'postgres' ? 'text' : 'bytes');
      if (rows.length <= size) return { entries: rows };
      const entries = rows.slice(0, size);
      return { entries, next: entries.at(-1)!.index };
    },

    /**
     * Every selected entry, newest first, in pages of up to `EXPORT_READ_PAGE` rows (one read each): memory stays
     * constant however large the selection, and a consumer that stops early (a client that went away) stops the
     * reads. Pages, not entries: an export handles a page in one go, with no promise per entry.
     */
    pages(org: string, selection: AuditSelection): AsyncGenerator<SelectedEntry[]> {
      return pagesOf(org, selection, 'bytes') as AsyncGenerator<SelectedEntry[]>;
    },

    /**
     * `pages`, each entry as its text (`SelectedText`): what the rendered exports read. On PostgreSQL a selection
     * with no filter streams through COPY instead, in blocks (`EntryBlock`), while fewer than
     * `EXPORT_COPY_STREAMS` do.
     */
    textPages(org: string, selection: AuditSelection): AsyncGenerator<TextPage> {
      if (copyPool && conjuncts(selection).length === 0 && copyStreams < EXPORT_COPY_STREAMS)
        return copyPages(copyPool, org, selection.before);
      return pagesOf(org, selection, 'text') as AsyncGenerator<SelectedText[]>;
    },
  };

  async function* copyPages(
    pool: pg.Pool,
    org: string,
    before: number | undefined,
  ): AsyncGenerator<EntryBlock> {
    copyStreams++;
    let client: pg.Client | undefined;
    try {
      const id = await logId(org);
      if (id === undefined) return;
      // The audit pool's sessions (search path, index walks only), and no JIT: its compile costs more than a merge
      // of two index walks gains from it.
      const { connectionString, options } = sessionSettings(pool);
      client = new pg.Client({
        connectionString,
        options: `${options ?? ''} -c jit=off`,
        application_name: EXPORT_APPLICATION_NAME,
        stream: copySocket,
      });
      client.on('error', () => {});
      await client.connect();
      // COPY takes no parameters: both numbers are safe integers of ours (a log id, a continuation token's index).
      const below = before === undefined ? '' : ` AND e.idx < ${safeInteger(before)}`;
      yield* copyOut(
        client,
        `COPY (SELECT e.idx, e.data FROM ledger_entries AS e
          WHERE e.log_id = ${safeInteger(id)}${below}
            AND EXISTS (SELECT 1 FROM audit_events AS a WHERE a.log_id = e.log_id AND a.idx = e.idx)
          ORDER BY e.idx DESC) TO STDOUT (FORMAT binary)`,
        COPY_BLOCK_BYTES,
      );
    } finally {
      copyStreams--;
      // Stopped midway (a client that went away), the connection is still inside the COPY: it is closed, and the
      // server ends the statement.
      await client?.end().catch(() => {});
    }
  }

  async function* pagesOf(org: string, selection: AuditSelection, shape: Shape): AsyncGenerator<Entry[]> {
    const id = await logId(org);
    if (id === undefined) return;
    let before = selection.before;
    for (;;) {
      const rows = await read(
        id,
        { ...selection, ...(before === undefined ? {} : { before }) },
        EXPORT_READ_PAGE[dialect],
        shape,
      );
      if (rows.length > 0) yield rows;
      if (rows.length < EXPORT_READ_PAGE[dialect]) return;
      before = rows.at(-1)!.index;
    }
  }
}

/**
 * An entry's record as text, per engine. SQLite hands over the stored bytes as they are (a cast checks nothing; the
 * driver decodes them as `Buffer.toString` does); PostgreSQL converts them, refusing any that are not UTF-8 (see
 * `read`). The one definition for the query-built reads (`dataColumn`) and the prepared ones (`*Ranges`).
 */
const TEXT_OF = {
  sqlite: (column: string) => `CAST(${column} AS TEXT)`,
  postgres: (column: string) => `convert_from(${column}, 'UTF8')`,
} as const;

/** The entries' column (`column`, a fixed name of ours) as a read asks for it: its bytes, or `TEXT_OF` them. */
function dataColumn(
  dialect: 'sqlite' | 'postgres',
  shape: Shape,
  column: string,
): RawBuilder<Uint8Array | string> {
  return shape === 'bytes' ? sql<Uint8Array>`${sql.ref(column)}` : sql.raw<string>(TEXT_OF[dialect](column));
}

/** PostgreSQL's errors for bytes that are not text in the database's encoding (22021; 22P05 untranslatable). */
const NOT_UTF8: ReadonlySet<string> = new Set(['22021', '22P05']);

function safeInteger(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not an index: ${n}`);
  return String(n);
}

function entry(index: number, data: unknown, shape: Shape): Entry {
  return shape === 'text' ? { index, data: data as string } : { index, data: toBytes(data as Uint8Array) };
}

/**
 * The entries of `[lo, hi)` that are audit records (those with a row in the index), newest first, as
 * `[index, record]` (bytes, or text: see `TEXT_OF`), at most `limit`. Both engines walk the entries along their
 * primary key and the index's keys of the same range alongside (a covering range scan): two sequential scans
 * instead of a lookup into the entries per row.
 */
interface UnfilteredReads {
  audited(
    id: number,
    lo: number,
    hi: number,
    limit: number,
    shape: Shape,
  ): Promise<Array<[number, Uint8Array | string]>>;
}

/**
 * PostgreSQL: one statement a page (a merge of the two walks; one round trip, where two statements took two),
 * prepared once per connection of the audit pool (named), rows as arrays: a first export of 300k events grew the
 * server by 55 MiB this way, against 101 MiB through Kysely (row objects), and ran 181k rows/s against 163k
 * (bench/auditlog.ts). A bigint arrives as a number (the type parser storage.ts sets).
 */
function postgresRanges(pool: pg.Pool): UnfilteredReads {
  const statement = (shape: Shape, column: string) => ({
    name: `vigil-audit-audited-${shape}`,
    text: `SELECT e.idx, ${column} FROM ledger_entries AS e WHERE e.log_id = $1 AND e.idx >= $2 AND e.idx < $3
      AND EXISTS (SELECT 1 FROM audit_events AS a WHERE a.log_id = e.log_id AND a.idx = e.idx)
      ORDER BY e.idx DESC LIMIT $4`,
    rowMode: 'array' as const,
  });
  const audited = {
    bytes: statement('bytes', 'e.data'),
    text: statement('text', TEXT_OF.postgres('e.data')),
  };
  return {
    async audited(id, lo, hi, limit, shape) {
      const { rows } = await pool.query<[number, Uint8Array | string]>({
        ...audited[shape],
        values: [id, lo, hi, limit],
      });
      return rows;
    },
  };
}

/**
 * SQLite: the two scans one after the other, as prepared raw statements on the reader's handle, rows as arrays
 * (about 40% less per row than building the query and its row objects each page); entries without an index row
 * are dropped, and the scans go on below until the page is full.
 */
function sqliteRanges(handle: SQLiteDatabase): UnfilteredReads {
  const range = (column: string) =>
    handle
      .prepare(
        `SELECT idx, ${column} FROM ledger_entries WHERE log_id = ? AND idx >= ? AND idx < ? ORDER BY idx DESC LIMIT ?`,
      )
      .raw();
  const entries = { bytes: range('data'), text: range(TEXT_OF.sqlite('data')) };
  const indexed = (what: string) =>
    handle.prepare(`SELECT ${what} FROM audit_events WHERE log_id = ? AND idx >= ? AND idx <= ?`).pluck();
  const keys = indexed('idx');
  const counted = indexed('count(*)');
  return {
    async audited(id, lo, hi, limit, shape) {
      const out: Array<[number, Uint8Array | string]> = [];
      while (out.length < limit) {
        const want = limit - out.length;
        const rows = entries[shape].all(id, lo, hi, want) as Array<[number, Uint8Array | string]>;
        if (rows.length === 0) break;
        const low = rows.at(-1)![0];
        const high = rows[0]![0];
        // `rows` are every entry of [low, high]. When they leave no gap (a log's indexes are dense, unless rows
        // were deleted by hand), as many index rows in that range as entries (their key is unique) means one
        // beside every entry: all are records, the usual case. The count costs half of fetching the keys into a
        // set (0.17 against 0.33 µs a row, a 300k-entry log here); the keys are fetched only otherwise.
        if (high - low + 1 === rows.length && counted.get(id, low, high) === rows.length)
          for (const row of rows) out.push(row);
        else {
          const audited = new Set(keys.all(id, low, high) as number[]);
          for (const row of rows) if (audited.has(row[0])) out.push(row);
        }
        if (rows.length < want) break;
        hi = low;
      }
      return out;
    },
  };
}

export type AuditQuery = ReturnType<typeof createAuditQuery>;

/** The selection as terms that must all hold: its filters as query terms, then `q` split at its top-level ANDs. */
function conjuncts(selection: AuditSelection): QueryNode[] {
  const terms: QueryNode[] = [];
  if (selection.fromMs !== undefined || selection.untilMs !== undefined)
    terms.push({
      kind: 'time',
      ...(selection.fromMs === undefined ? {} : { fromMs: selection.fromMs }),
      ...(selection.untilMs === undefined ? {} : { untilMs: selection.untilMs }),
    });
  if (selection.login !== undefined) terms.push({ kind: 'actor', login: selection.login.toLowerCase() });
  if (selection.event !== undefined) terms.push({ kind: 'event', ids: [selection.event] });
  const split = (node: QueryNode): QueryNode[] => (node.kind === 'and' ? node.terms.flatMap(split) : [node]);
  if (selection.query !== undefined) terms.push(...split(selection.query));
  return terms;
}

/** The tightest time bounds the terms impose (each `time` term is also tested row by row). */
function timeBounds(terms: readonly QueryNode[]): { fromMs?: number; untilMs?: number } {
  let fromMs: number | undefined;
  let untilMs: number | undefined;
  for (const t of terms) {
    if (t.kind !== 'time') continue;
    if (t.fromMs !== undefined) fromMs = Math.max(fromMs ?? t.fromMs, t.fromMs);
    if (t.untilMs !== undefined) untilMs = Math.min(untilMs ?? t.untilMs, t.untilMs);
  }
  return { ...(fromMs === undefined ? {} : { fromMs }), ...(untilMs === undefined ? {} : { untilMs }) };
}

/** An index that serves a filter in log-index order, and the columns of the filter. */
interface Driver {
  readonly index: string;
  readonly columns: readonly Column[];
}

/** Drivers, first choice first: the one a page walks is the first that a term of the selection can use. */
const DRIVERS: ReadonlyArray<Driver & { readonly serves: (term: QueryNode) => boolean }> = [
  // Environment filtered inside the index, after idx (migration 0010).
  {
    index: 'audit_events_project',
    columns: ['project', 'environment'],
    serves: (t) => t.kind === 'project' || (t.kind === 'environment' && t.project !== undefined),
  },
  // Holds `event` after idx (migration 0011): an event term is tested on the index entry, not the row. It stays
  // out of `columns` so that PostgreSQL is never offered the event index for it.
  { index: 'audit_events_actor', columns: ['actor_login'], serves: (t) => t.kind === 'actor' },
  {
    index: 'audit_events_ip',
    columns: ['source_ip_key'],
    serves: (t) => t.kind === 'ip' && Buffer.compare(t.low, t.high) === 0,
  },
  {
    index: 'audit_events_event',
    columns: ['event'],
    serves: (t) => t.kind === 'event' && t.ids.length === 1,
  },
];

/**
 * The index that drives a page: the first of `DRIVERS` that one of the terms (all ANDed) can walk in log-index
 * order. None: the primary key, every term tested row by row. A set of event types or an address block never
 * drives: their indexes would read every match and sort them.
 */
function drivingIndex(terms: readonly QueryNode[]): Driver | undefined {
  return DRIVERS.find((d) => terms.some(d.serves));
}

/** Per log: the earliest and latest `time` of each complete block of `TIME_BLOCK` indexes. */
interface LogTimes {
  /** Blocks `[0, blocks)` are summarized; entries from index `blocks · TIME_BLOCK` on (the tail) are always read. */
  blocks: number;
  readonly min: number[];
  readonly max: number[];
  /** The refresh under way: concurrent reads wait for it rather than start their own. */
  refreshing: Promise<void> | undefined;
  /** When the last refresh started (`performance.now()`). */
  refreshedAt: number;
}

/**
 * Turns time bounds into the log-index intervals that can hold matching entries. Times follow indexes only
 * roughly (a record's time is taken before it is sequenced, by any server process, and the log accepts any
 * time), so no index interval can be derived from times alone; a block of `TIME_BLOCK` indexes whose earliest
 * and latest times miss the bounds holds no match, though, and is skipped. A range of the past is thus read from
 * its own blocks, newest first, and a page stops as soon as it is full: O(page + TIME_BLOCK), not O(range) as a
 * time index sorted by log index would be, nor O(newer entries) as a walk from the newest entry would be.
 *
 * Blocks below the newest entry's block are complete (a log's entries commit in index order) and immutable (the
 * index refuses rewrites), so a summary never goes stale; it is kept in memory per log, built on the first
 * time-bounded read (one pass over the index, `SUMMARY_CHUNK_BLOCKS` blocks a statement) and extended with the
 * blocks completed since, at most every `SUMMARY_REFRESH_MS`. Results never depend on it: the tail after it is
 * always read.
 */
function createTimeSummary(ledger: LedgerStore) {
  const reader = ledger.storage.reader;
  const logs = new Map<number, LogTimes>();

  async function refresh(id: number, log: LogTimes): Promise<void> {
    const top = await reader
      .selectFrom('audit_events')
      .select((eb) => eb.fn.max('idx').as('top'))
      .where('log_id', '=', id)
      .executeTakeFirst();
    const complete =
      top?.top === null || top?.top === undefined ? 0 : Math.floor(Number(top.top) / TIME_BLOCK);
    while (log.blocks < complete) {
      const from = log.blocks;
      const until = Math.min(complete, from + SUMMARY_CHUNK_BLOCKS);
      const block = sql<number>`a.idx / ${sql.lit(TIME_BLOCK)}`;
      const rows = await reader
        .selectFrom('audit_events as a')
        .select((eb) => [block.as('block'), eb.fn.min('a.time').as('lo'), eb.fn.max('a.time').as('hi')])
        .where('a.log_id', '=', id)
        .where('a.idx', '>=', from * TIME_BLOCK)
        .where('a.idx', '<', until * TIME_BLOCK)
        .groupBy(block)
        .execute();
      for (let b = from; b < until; b++) {
        log.min[b] = Infinity;
        log.max[b] = -Infinity;
      }
      for (const r of rows) {
        log.min[Number(r.block)] = Number(r.lo);
        log.max[Number(r.block)] = Number(r.hi);
      }
      log.blocks = until;
      // Let requests in between chunks (SQLite reads run on the event loop).
      if (log.blocks < complete) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async function current(id: number): Promise<LogTimes> {
    let log = logs.get(id);
    if (!log) {
      log = { blocks: 0, min: [], max: [], refreshing: undefined, refreshedAt: -Infinity };
      logs.set(id, log);
    }
    // One O(log n) look at the newest index at most every SUMMARY_REFRESH_MS (a round trip on PostgreSQL, which
    // a page need not pay each time: a summary a second old only leaves a longer tail to read); new blocks are
    // summarized when complete.
    const t = performance.now();
    if (!log.refreshing && t - log.refreshedAt >= SUMMARY_REFRESH_MS) {
      const entry = log;
      entry.refreshedAt = t;
      entry.refreshing = refresh(id, entry).finally(() => (entry.refreshing = undefined));
    }
    await log.refreshing;
    return log;
  }

  return {
    /** The intervals below `before` that may hold entries with times in `[fromMs, untilMs)`, newest first. */
    async intervals(
      id: number,
      bounds: { fromMs?: number | undefined; untilMs?: number | undefined; before?: number | undefined },
    ): Promise<Interval[]> {
      const log = await current(id);
      const from = bounds.fromMs ?? -Infinity;
      const until = bounds.untilMs ?? Infinity;
      const before = bounds.before ?? Infinity;
      const end = log.blocks * TIME_BLOCK;
      const out: Interval[] = [];
      // The interval being gathered: its upper end, and whether its blocks lie inside the bounds.
      let open: { hi: number; inside: boolean } | undefined;
      const close = (lo: number) => {
        if (open) out.push({ lo, hi: Number.isFinite(open.hi) ? open.hi : undefined, inside: open.inside });
        open = undefined;
      };
      // The tail, after the summary: always read, every row tested.
      if (before > end) open = { hi: before, inside: false };
      for (let b = Math.min(log.blocks, Math.ceil(before / TIME_BLOCK)) - 1; b >= 0; b--) {
        const min = log.min[b]!;
        const max = log.max[b]!;
        const hit = max >= from && min < until;
        const inside = hit && min >= from && max < until;
        if (open && (!hit || open.inside !== inside)) close((b + 1) * TIME_BLOCK);
        if (hit && !open) open = { hi: Math.min(before, (b + 1) * TIME_BLOCK), inside };
      }
      close(0);
      // Many scattered blocks (times far from index order): the rest as one interval, exact all the same.
      if (out.length > MAX_INTERVALS)
        out.splice(MAX_INTERVALS - 1, Infinity, {
          lo: out.at(-1)!.lo,
          hi: out[MAX_INTERVALS - 1]!.hi,
          inside: false,
        });
      return out;
    },
  };
}
