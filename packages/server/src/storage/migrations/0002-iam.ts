import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../storage.js';

/**
 * Identity: organizations, users, members, teams, team environment grants, tokens and sessions.
 * Logins and team names are unique case-insensitively through a lower-cased `*_key` column (one plain unique
 * constraint that both engines and `ON CONFLICT` understand). Tokens are stored only as SHA-256 hashes.
 */
export function iamMigration(dialect: Dialect): Migration {
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const big = dialect === 'postgres' ? sql`bigint` : sql`integer`;
  const roles = sql`('admin', 'member', 'auditor')`;
  const permissions = sql`('none', 'read', 'open', 'write', 'admin')`;
  return {
    async up(db: Kysely<unknown>) {
      const identity = (table: string) => {
        const t = db.schema.createTable(table);
        return dialect === 'postgres'
          ? t.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
          : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
      };

      await identity('iam_organizations')
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('login_key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('default_environment_permission', 'text', (c) =>
          c
            .notNull()
            .defaultTo('read')
            .check(sql`default_environment_permission IN ${permissions}`),
        )
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .execute();

      await identity('iam_users')
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('login_key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('avatar_url', 'text')
        // `scrypt$N$r$p$salt$hash`, or null for a user without a local password.
        .addColumn('password_hash', 'text')
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('iam_members')
        .addColumn('org_id', 'integer', (c) =>
          c.notNull().references('iam_organizations.id').onDelete('cascade'),
        )
        .addColumn('user_id', 'integer', (c) => c.notNull().references('iam_users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ${roles}`))
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('iam_members_pk', ['org_id', 'user_id'])
        .execute();
      await db.schema.createIndex('iam_members_user').on('iam_members').column('user_id').execute();

      await identity('iam_teams')
        .addColumn('org_id', 'integer', (c) =>
          c.notNull().references('iam_organizations.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addUniqueConstraint('iam_teams_org_name', ['org_id', 'name_key'])
        .execute();

      await db.schema
        .createTable('iam_team_members')
        .addColumn('team_id', 'integer', (c) => c.notNull().references('iam_teams.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('iam_users.id').onDelete('cascade'))
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('iam_team_members_pk', ['team_id', 'user_id'])
        .execute();
      await db.schema.createIndex('iam_team_members_user').on('iam_team_members').column('user_id').execute();

      // `environment = '*'` grants the permission on every environment of the project.
      await db.schema
        .createTable('iam_team_grants')
        .addColumn('team_id', 'integer', (c) => c.notNull().references('iam_teams.id').onDelete('cascade'))
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('permission', 'text', (c) => c.notNull().check(sql`permission IN ${permissions}`))
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('iam_team_grants_pk', ['team_id', 'project', 'environment'])
        .execute();

      // Personal, team and organization access tokens, and sign-in sessions. `hash` = SHA-256(token text).
      await db.schema
        .createTable('iam_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) =>
          c.notNull().check(sql`kind IN ('personal', 'team', 'organization', 'session')`),
        )
        .addColumn('hash', bytes, (c) => c.notNull().unique())
        .addColumn('org_id', 'integer', (c) => c.references('iam_organizations.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.references('iam_users.id').onDelete('cascade'))
        .addColumn('team_id', 'integer', (c) => c.references('iam_teams.id').onDelete('cascade'))
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big)
        .addColumn('last_used_at', big)
        .addColumn('revoked_at', big)
        // Each kind names exactly its owner; a session always expires.
        .addCheckConstraint(
          'iam_tokens_owner',
          sql`(kind IN ('personal', 'session') AND user_id IS NOT NULL AND org_id IS NULL AND team_id IS NULL)
            OR (kind = 'organization' AND org_id IS NOT NULL AND user_id IS NULL AND team_id IS NULL)
            OR (kind = 'team' AND org_id IS NOT NULL AND team_id IS NOT NULL AND user_id IS NULL)`,
        )
        .addCheckConstraint('iam_tokens_session_expires', sql`kind <> 'session' OR expires_at IS NOT NULL`)
        .execute();
      await db.schema.createIndex('iam_tokens_user').on('iam_tokens').column('user_id').execute();
      await db.schema.createIndex('iam_tokens_org').on('iam_tokens').column('org_id').execute();
      await db.schema.createIndex('iam_tokens_team').on('iam_tokens').column('team_id').execute();
    },
  };
}
