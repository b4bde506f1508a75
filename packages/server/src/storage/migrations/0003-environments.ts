import type { Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/** Environments, their immutable revisions, revision tags, environment tags, open sessions. */
export function environmentsMigration(_dialect: Dialect): Migration {
  return { async up() {} };
}
