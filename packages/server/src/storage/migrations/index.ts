import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../storage.js';
import { ledgerMigration } from './0001-ledger.js';
import { iamMigration } from './0002-iam.js';
import { environmentsMigration } from './0003-environments.js';
import { auditIndexMigration } from './0004-audit-index.js';
import { rotationMigration } from './0005-rotation.js';
import { schedulesMigration } from './0006-schedules.js';
import { auditQueryMigration } from './0007-audit-query.js';
import { logStreamsMigration } from './0008-log-streams.js';
import { s3StreamsMigration } from './0009-s3-streams.js';
import { auditQueryIndexesMigration } from './0010-audit-query-indexes.js';
import { auditActorIndexMigration } from './0011-audit-actor-index.js';

/**
 * One set of migrations for both engines, one file each. Where the engines differ (byte and big-integer types,
 * identity columns, trigger syntax) a migration asks `dialect`; everything else is Kysely's schema builder.
 * Migrations are append-only: never edit one that has shipped, add the next.
 */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return {
        '0001_ledger': ledgerMigration(dialect),
        '0002_iam': iamMigration(dialect),
        '0003_environments': environmentsMigration(dialect),
        '0004_audit_index': auditIndexMigration(dialect),
        '0005_rotation': rotationMigration(dialect),
        '0006_schedules': schedulesMigration(dialect),
        '0007_audit_query': auditQueryMigration(dialect),
        '0008_log_streams': logStreamsMigration(dialect),
        '0009_s3_streams': s3StreamsMigration(dialect),
        '0010_audit_query_indexes': auditQueryIndexesMigration(),
        '0011_audit_actor_index': auditActorIndexMigration(),
      };
    },
  };
}

export { APPEND_ONLY_TABLES } from './0001-ledger.js';
export { forbidRewrites } from './append-only.js';
