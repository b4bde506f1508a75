import type { Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/** Secret rotation history and schedules (issue #5). */
export function rotationMigration(_dialect: Dialect): Migration {
  return { async up() {} };
}
