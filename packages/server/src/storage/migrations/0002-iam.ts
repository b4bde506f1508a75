import type { Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/** Identity: organizations, users, members, teams, tokens, sessions, environment grants. */
export function iamMigration(_dialect: Dialect): Migration {
  return { async up() {} };
}
