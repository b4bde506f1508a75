import type { Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/** Environment schedules (secret rotation), their runs and history (issue #5). */
export function schedulesMigration(_dialect: Dialect): Migration {
  return { async up() {} };
}
