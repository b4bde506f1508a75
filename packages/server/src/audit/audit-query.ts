import type { EventId } from '@vigil/protocol';
import type { LedgerStore } from '../ledger/ledger-store.js';
import { toBytes } from '../ledger/tree-store.js';
import type { QueryNode } from './query-language.js';
import { compileQuery } from './query-sql.js';
import { sql } from 'kysely';

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

/** Rows read per query when an export streams the whole selection. */
export const EXPORT_READ_PAGE = 1000;

/**
 * Reads the `audit_events` index, newest first, joined to the entries it points at. Keyset paging on the log
 * index: a page is "the `limit` highest indexes below `before`", so pages neither skip nor repeat entries however
 * many share a timestamp, and entries appended meanwhile (higher indexes) never shift a later page.
 */
/** How far in the past an upper time bound may lie and still count as "the present" (clock skew, slow clients). */
export const PRESENT_SKEW_MS = 5 * 60_000;

function reachesPresent(untilMs: number | undefined): boolean {
  return untilMs === undefined || untilMs >= Date.now() - PRESENT_SKEW_MS;
}

export function createAuditQuery(ledger: LedgerStore) {
  const reader = ledger.storage.reader;

  /** The log's id, or undefined for an organization nothing was ever recorded for (an empty log). */
  const logId = (org: string): Promise<number | undefined> => ledger.findLogId(org);

  async function read(id: number, selection: AuditSelection, limit: number): Promise<SelectedEntry[]> {
    let query = reader
      .selectFrom('audit_events as a')
      .innerJoin('ledger_entries as l', (join) =>
        join.onRef('l.log_id', '=', 'a.log_id').onRef('l.idx', '=', 'a.idx'),
      )
      .select(['a.idx', 'l.data'])
      .where('a.log_id', '=', id);
    if (selection.before !== undefined) query = query.where('a.idx', '<', selection.before);
    // A range that reaches the present (the newest page, V1's `startTime=now`) is read newest-first along the
    // primary key: `+a.time` keeps SQLite from choosing the time index, which would read the whole range and
    // sort it (O(log size) instead of O(1) per page). A range that ends in the past keeps the time index.
    const time = reachesPresent(selection.untilMs) ? sql<number>`+a.time` : sql<number>`a.time`;
    if (selection.fromMs !== undefined) query = query.where(time, '>=', selection.fromMs);
    if (selection.untilMs !== undefined) query = query.where(time, '<', selection.untilMs);
    if (selection.login !== undefined)
      query = query.where('a.actor_login', '=', selection.login.toLowerCase());
    if (selection.event !== undefined) query = query.where('a.event', '=', selection.event);
    // In SQL, so the keyset stays exact: a page is the `limit` highest matching indexes below `before`.
    if (selection.query !== undefined) query = query.where(compileQuery(selection.query));
    const rows = await query.orderBy('a.idx', 'desc').limit(limit).execute();
    return rows.map((r) => ({ index: Number(r.idx), data: toBytes(r.data) }));
  }

  return {
    /** Up to `size` entries, newest first, and the keyset of the next page when there may be more. */
    async page(
      org: string,
      selection: AuditSelection,
      size: number,
    ): Promise<{ entries: SelectedEntry[]; next?: number }> {
      const id = await logId(org);
      if (id === undefined) return { entries: [] };
      const rows = await read(id, selection, size + 1);
      if (rows.length <= size) return { entries: rows };
      const entries = rows.slice(0, size);
      return { entries, next: entries.at(-1)!.index };
    },

    /**
     * Every selected entry, newest first, read `EXPORT_READ_PAGE` rows at a time: memory stays constant however
     * large the selection, and a consumer that stops early (a client that went away) stops the reads.
     */
    async *all(org: string, selection: AuditSelection): AsyncGenerator<SelectedEntry> {
      const id = await logId(org);
      if (id === undefined) return;
      let before = selection.before;
      for (;;) {
        const rows = await read(
          id,
          { ...selection, ...(before === undefined ? {} : { before }) },
          EXPORT_READ_PAGE,
        );
        yield* rows;
        if (rows.length < EXPORT_READ_PAGE) return;
        before = rows.at(-1)!.index;
      }
    },
  };
}

export type AuditQuery = ReturnType<typeof createAuditQuery>;
