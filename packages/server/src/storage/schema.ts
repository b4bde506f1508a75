import type { Generated } from 'kysely';

/**
 * The database as Kysely sees it. Integers that may exceed 2^31 are BIGINT in PostgreSQL and are parsed into JS
 * numbers (see `storage.ts`); byte columns are BLOB / BYTEA and arrive as Buffers.
 */
export interface Database {
  ledger_logs: LedgerLogsTable;
  ledger_entries: LedgerEntriesTable;
  ledger_hashes: LedgerHashesTable;
  ledger_checkpoints: LedgerCheckpointsTable;
  ledger_signing_keys: LedgerSigningKeysTable;
}

/** One append-only log per organization. */
export interface LedgerLogsTable {
  id: Generated<number>;
  org: string;
  created_at: number;
}

/** Entry `idx` of log `log_id`: the exact RFC 8785 bytes that are hashed. Dense: 0..size-1. */
export interface LedgerEntriesTable {
  log_id: number;
  idx: number;
  data: Uint8Array;
}

/**
 * Hashes of complete subtrees: level L, index k covers leaves [k·2^L, (k+1)·2^L). Level 0 holds leaf hashes.
 * Written in the same transaction as the entries they cover, so a committed entry is always integrated.
 */
export interface LedgerHashesTable {
  log_id: number;
  level: number;
  idx: number;
  hash: Uint8Array;
}

/** Every checkpoint the server signed, kept forever: the signed note text and the root it commits to. */
export interface LedgerCheckpointsTable {
  log_id: number;
  size: number;
  root: Uint8Array;
  note: string;
  created_at: number;
}

/** The note verifier keys that have signed checkpoints in this database; one instance refuses to mix keys. */
export interface LedgerSigningKeysTable {
  verifier_key: string;
  created_at: number;
}
