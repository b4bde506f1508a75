import type { Selectable } from 'kysely';
import type { EnvironmentRevisionTagsTable } from '../storage/schema.js';
import { EnvironmentStoreError } from './errors.js';
import { LATEST_TAG } from './environment-lifecycle.js';
import {
  actorColumns,
  atomically,
  isUniqueViolation,
  liveEnvironment,
  optional,
  type EnvironmentRow,
  type StoreContext,
} from './internal.js';
import { checkRevisionNumber, checkRevisionTagName, type EnvironmentRef } from './names.js';
import { pageSize } from './paging.js';
import type { Actor, Executor, RevisionTag, RevisionTagPage } from './types.js';

/**
 * Revision tags: named pointers to revisions. The built-in `latest` is kept by the store itself (moved on every
 * update) and refuses every change ('latest-tag-immutable'). Tags never point at retracted revisions.
 */
export function revisionTags(ctx: StoreContext) {
  /** The revision a tag may point at: `revision`, default the newest; it must exist and not be retracted. */
  async function target(db: Executor, env: EnvironmentRow, revision: number | undefined): Promise<number> {
    const number = revision === undefined ? env.head_revision : checkRevisionNumber(revision);
    if (number > env.head_revision)
      throw new EnvironmentStoreError(
        'revision-not-found',
        `environment ${env.org}/${env.project}/${env.name} has no revision ${number}`,
      );
    const retracted = await db
      .selectFrom('environment_retractions')
      .select('replacement')
      .where('env_id', '=', env.id)
      .where('number', '=', number)
      .executeTakeFirst();
    if (retracted)
      throw new EnvironmentStoreError(
        'retracted',
        `revision ${number} is retracted (replaced by ${retracted.replacement})`,
      );
    return number;
  }

  function immutable(action: string): EnvironmentStoreError<'latest-tag-immutable'> {
    return new EnvironmentStoreError('latest-tag-immutable', `the latest tag cannot be ${action}`);
  }

  function tagNotFound(name: string): EnvironmentStoreError<'tag-not-found'> {
    return new EnvironmentStoreError('tag-not-found', `no revision tag ${JSON.stringify(name)}`);
  }

  async function find(db: Executor, envId: string, name: string) {
    return db
      .selectFrom('environment_revision_tags')
      .selectAll()
      .where('env_id', '=', envId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  return {
    /** Tags by name; `after` is an exclusive lower bound; `revision` keeps only the tags of one revision. */
    async listRevisionTags(
      db: Executor,
      ref: EnvironmentRef,
      options: { after?: string; count?: number; revision?: number } = {},
    ): Promise<RevisionTagPage> {
      const env = await liveEnvironment(db, ref);
      const limit = pageSize(options.count);
      let query = db.selectFrom('environment_revision_tags').selectAll().where('env_id', '=', env.id);
      if (options.after !== undefined && options.after !== '')
        query = query.where('name', '>', options.after);
      if (options.revision !== undefined)
        query = query.where('revision', '=', checkRevisionNumber(options.revision));
      const rows = await query
        .orderBy('name')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit).map(toRevisionTag);
      return { tags: page, ...(rows.length > limit ? { nextToken: page.at(-1)!.name } : {}) };
    },

    async getRevisionTag(db: Executor, ref: EnvironmentRef, name: string): Promise<RevisionTag> {
      checkRevisionTagName(name);
      const env = await liveEnvironment(db, ref);
      const row = await find(db, env.id, name);
      if (!row) throw tagNotFound(name);
      return toRevisionTag(row);
    },

    /** Creates `name` at `revision` (default the newest). */
    async createRevisionTag(
      db: Executor,
      ref: EnvironmentRef,
      name: string,
      revision?: number,
      actor?: Actor,
    ): Promise<RevisionTag> {
      checkRevisionTagName(name);
      if (name === LATEST_TAG) throw immutable('created');
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        const number = await target(tx, env, revision);
        if (await find(tx, env.id, name))
          throw new EnvironmentStoreError(
            'already-exists',
            `revision tag ${JSON.stringify(name)} already exists`,
          );
        const now = ctx.now();
        const who = actorColumns(actor);
        const row = {
          env_id: env.id,
          name,
          revision: number,
          created_at: now,
          modified_at: now,
          editor_login: who.login,
          editor_name: who.name,
        };
        try {
          await tx.insertInto('environment_revision_tags').values(row).execute();
        } catch (error) {
          if (isUniqueViolation(error))
            throw new EnvironmentStoreError(
              'already-exists',
              `revision tag ${JSON.stringify(name)} already exists`,
            );
          throw error;
        }
        return toRevisionTag(row);
      });
    },

    /** Moves `name` to `revision` (default the newest); returns the tag and the revision it left. */
    async updateRevisionTag(
      db: Executor,
      ref: EnvironmentRef,
      name: string,
      revision?: number,
      actor?: Actor,
    ): Promise<RevisionTag & { previousRevision: number }> {
      checkRevisionTagName(name);
      if (name === LATEST_TAG) throw immutable('moved');
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        const existing = await find(tx, env.id, name);
        if (!existing) throw tagNotFound(name);
        const number = await target(tx, env, revision);
        const who = actorColumns(actor);
        const updated = await tx
          .updateTable('environment_revision_tags')
          .set({ revision: number, modified_at: ctx.now(), editor_login: who.login, editor_name: who.name })
          .where('env_id', '=', env.id)
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirst();
        if (!updated) throw tagNotFound(name);
        return { ...toRevisionTag(updated), previousRevision: existing.revision };
      });
    },

    /** Deletes `name`; returns the tag as it was. */
    async deleteRevisionTag(db: Executor, ref: EnvironmentRef, name: string): Promise<RevisionTag> {
      checkRevisionTagName(name);
      if (name === LATEST_TAG) throw immutable('deleted');
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        const deleted = await tx
          .deleteFrom('environment_revision_tags')
          .where('env_id', '=', env.id)
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirst();
        if (!deleted) throw tagNotFound(name);
        return toRevisionTag(deleted);
      });
    },
  };
}

function toRevisionTag(row: Selectable<EnvironmentRevisionTagsTable>): RevisionTag {
  return {
    name: row.name,
    revision: row.revision,
    created: row.created_at,
    modified: row.modified_at,
    ...optional('editorLogin', row.editor_login),
    ...optional('editorName', row.editor_name),
  };
}
