import type { Selectable } from 'kysely';
import type { EnvironmentTagsTable } from '../storage/schema.js';
import { EnvironmentStoreError } from './errors.js';
import {
  actorColumns,
  atomically,
  dictionary,
  isUniqueViolation,
  liveEnvironment,
  optional,
  type StoreContext,
} from './internal.js';
import {
  checkEnvironmentTagName,
  checkEnvironmentTagValue,
  checkOrgName,
  type EnvironmentRef,
} from './names.js';
import { pageSize } from './paging.js';
import type { Actor, EnvironmentTag, EnvironmentTagPage, Executor } from './types.js';

/** Key/value tags on environments (`region=us-east-1`), for grouping and search. */
export function environmentTags(ctx: StoreContext) {
  function tagNotFound(name: string): EnvironmentStoreError<'tag-not-found'> {
    return new EnvironmentStoreError('tag-not-found', `no environment tag ${JSON.stringify(name)}`);
  }

  function exists(name: string): EnvironmentStoreError<'already-exists'> {
    return new EnvironmentStoreError(
      'already-exists',
      `environment tag ${JSON.stringify(name)} already exists`,
    );
  }

  async function find(db: Executor, envId: string, name: string) {
    return db
      .selectFrom('environment_tags')
      .selectAll()
      .where('env_id', '=', envId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  return {
    /** Tags by name as a map (`{}` when there are none); `after` is an exclusive lower bound on the name. */
    async listTags(
      db: Executor,
      ref: EnvironmentRef,
      options: { after?: string; count?: number } = {},
    ): Promise<EnvironmentTagPage> {
      const env = await liveEnvironment(db, ref);
      const limit = pageSize(options.count);
      let query = db.selectFrom('environment_tags').selectAll().where('env_id', '=', env.id);
      if (options.after !== undefined && options.after !== '')
        query = query.where('name', '>', options.after);
      const rows = await query
        .orderBy('name')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      const tags = dictionary<EnvironmentTag>();
      for (const row of page) tags[row.name] = toEnvironmentTag(row);
      return { tags, ...(rows.length > limit ? { nextToken: page.at(-1)!.name } : {}) };
    },

    async getTag(db: Executor, ref: EnvironmentRef, name: string): Promise<EnvironmentTag> {
      checkEnvironmentTagName(name);
      const env = await liveEnvironment(db, ref);
      const row = await find(db, env.id, name);
      if (!row) throw tagNotFound(name);
      return toEnvironmentTag(row);
    },

    async createTag(
      db: Executor,
      ref: EnvironmentRef,
      tag: { name: string; value: string },
      actor?: Actor,
    ): Promise<EnvironmentTag> {
      checkEnvironmentTagName(tag.name);
      checkEnvironmentTagValue(tag.value);
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        if (await find(tx, env.id, tag.name)) throw exists(tag.name);
        const now = ctx.now();
        const who = actorColumns(actor);
        const row = {
          env_id: env.id,
          name: tag.name,
          value: tag.value,
          created_at: now,
          modified_at: now,
          editor_login: who.login,
          editor_name: who.name,
        };
        try {
          await tx.insertInto('environment_tags').values(row).execute();
        } catch (error) {
          if (isUniqueViolation(error)) throw exists(tag.name);
          throw error;
        }
        return toEnvironmentTag(row);
      });
    },

    /**
     * Renames and/or revalues `name` (ESC's `{currentTag: {value}, newTag: {name, value}}`). `currentValue` is a
     * concurrency check: when given and the stored value differs, 'etag-mismatch'. Renaming onto an existing
     * tag is 'already-exists'. Returns the new tag and the old one.
     */
    async updateTag(
      db: Executor,
      ref: EnvironmentRef,
      name: string,
      change: { currentValue?: string; newName?: string; newValue?: string },
      actor?: Actor,
    ): Promise<EnvironmentTag & { previous: EnvironmentTag }> {
      checkEnvironmentTagName(name);
      const newName = change.newName === undefined || change.newName === '' ? name : change.newName;
      checkEnvironmentTagName(newName);
      if (change.newValue !== undefined) checkEnvironmentTagValue(change.newValue);
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        const existing = await find(tx, env.id, name);
        if (!existing) throw tagNotFound(name);
        if (change.currentValue !== undefined && change.currentValue !== existing.value)
          throw new EnvironmentStoreError(
            'etag-mismatch',
            `environment tag ${JSON.stringify(name)} has changed since it was read`,
          );
        if (newName !== name && (await find(tx, env.id, newName))) throw exists(newName);
        const who = actorColumns(actor);
        let updated;
        try {
          updated = await tx
            .updateTable('environment_tags')
            .set({
              name: newName,
              value: change.newValue ?? existing.value,
              modified_at: ctx.now(),
              editor_login: who.login,
              editor_name: who.name,
            })
            .where('env_id', '=', env.id)
            .where('name', '=', name)
            .where('value', '=', existing.value)
            .returningAll()
            .executeTakeFirst();
        } catch (error) {
          if (isUniqueViolation(error)) throw exists(newName);
          throw error;
        }
        if (!updated)
          throw new EnvironmentStoreError(
            'etag-mismatch',
            `environment tag ${JSON.stringify(name)} has changed since it was read`,
          );
        return { ...toEnvironmentTag(updated), previous: toEnvironmentTag(existing) };
      });
    },

    async deleteTag(db: Executor, ref: EnvironmentRef, name: string): Promise<EnvironmentTag> {
      checkEnvironmentTagName(name);
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        const deleted = await tx
          .deleteFrom('environment_tags')
          .where('env_id', '=', env.id)
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirst();
        if (!deleted) throw tagNotFound(name);
        return toEnvironmentTag(deleted);
      });
    },

    /** Every tag name in the organization's live environments with its distinct values, sorted (`GET …/tags`). */
    async listOrgTagValues(db: Executor, org: string): Promise<Record<string, string[]>> {
      checkOrgName(org);
      const rows = await db
        .selectFrom('environment_tags as t')
        .innerJoin('environments as e', 'e.id', 't.env_id')
        .select(['t.name', 't.value'])
        .distinct()
        .where('e.org', '=', org)
        .where('e.deleted_at', 'is', null)
        .orderBy('t.name')
        .orderBy('t.value')
        .execute();
      const out = dictionary<string[]>();
      for (const { name, value } of rows) (out[name] ??= []).push(value);
      return out;
    },
  };
}

function toEnvironmentTag(row: Selectable<EnvironmentTagsTable>): EnvironmentTag {
  return {
    name: row.name,
    value: row.value,
    created: row.created_at,
    modified: row.modified_at,
    ...optional('editorLogin', row.editor_login),
    ...optional('editorName', row.editor_name),
  };
}
