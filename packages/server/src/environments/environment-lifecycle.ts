import { randomUUID } from 'node:crypto';
import { environmentEtag, etagMatches } from './etag.js';
import { EnvironmentStoreError } from './errors.js';
import {
  actorColumns,
  atomically,
  dictionary,
  isUniqueViolation,
  liveEnvironment,
  notFound,
  toInfo,
  type EnvironmentRow,
  type StoreContext,
} from './internal.js';
import {
  checkEnvironmentName,
  checkEnvironmentRef,
  checkOrgName,
  checkProjectName,
  checkRevisionNumber,
  type EnvironmentRef,
} from './names.js';
import { decodeToken, encodeToken, pageSize } from './paging.js';
import type {
  Actor,
  EnvironmentDefinition,
  EnvironmentInfo,
  EnvironmentPage,
  EnvironmentSummary,
  Executor,
} from './types.js';

/**
 * The definition of revision 1 of every new environment: the empty document. Pulumi documents that a new
 * environment "starts with an empty YAML definition", and the SDK's acceptance test opens a just-created
 * environment to exactly `{}` — which the evaluator yields for an empty document. (A body of `{}` would be worse:
 * axios parses it as JSON and the SDK's `getEnvironment` returns garbage; see the reference §3.5.)
 */
export const EMPTY_DEFINITION = '';

/** How long a soft-deleted environment stays restorable: 30 days (Pulumi documents no number; ours, stated). */
export const DELETED_ENVIRONMENT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** Marks the revision tag that always names the newest revision. */
export const LATEST_TAG = 'latest';

export interface CloneOptions {
  /** Destination project; defaults to the source's. */
  readonly project?: string;
  readonly name: string;
  /** The source revision to clone; defaults to the newest. */
  readonly version?: number;
  /** Copy revisions 1..version (numbers, creators, times and retractions kept) instead of one new revision 1. */
  readonly preserveHistory?: boolean;
  /**
   * Copy team grants. Grants live in the identity tables, which this store does not touch: the flag is returned
   * as `preserveAccess` for the caller to act on.
   */
  readonly preserveAccess?: boolean;
  /** Copy the key/value environment tags. */
  readonly preserveEnvironmentTags?: boolean;
  /**
   * Copy revision tags that point into the cloned versions: with history, every tag at a revision ≤ version;
   * without, the tags at `version` itself, which then point at the clone's revision 1.
   */
  readonly preserveRevisionTags?: boolean;
  /**
   * Rewrites each copied definition before it is stored (the ESC service re-seals its secrets, which are bound
   * to the environment's name). Runs inside the transaction: no I/O of its own.
   */
  readonly reseal?: (yaml: string) => Promise<string>;
}

export interface CloneResult {
  readonly environment: EnvironmentInfo;
  /** When true, the caller copies the source's team grants (identity layer; the ESC service does). */
  readonly preserveAccess: boolean;
}

const ENVIRONMENTS_TOKEN = 'environments';
const DELETED_TOKEN = 'deleted-environments';

export function lifecycle(ctx: StoreContext) {
  async function insertEnvironment(
    tx: Executor,
    ref: EnvironmentRef,
    head: number,
    createdBy: string | undefined,
  ): Promise<EnvironmentRow> {
    const now = ctx.now();
    const row: EnvironmentRow = {
      id: randomUUID(),
      org: ref.org,
      project: ref.project,
      name: ref.name,
      head_revision: head,
      deletion_protected: 0,
      created_at: now,
      modified_at: now,
      deleted_at: null,
      created_by: createdBy ?? null,
    };
    const exists = await tx
      .selectFrom('environments')
      .select('id')
      .where('org', '=', ref.org)
      .where('project', '=', ref.project)
      .where('name', '=', ref.name)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (exists) throw alreadyExists(ref);
    try {
      await tx.insertInto('environments').values(row).execute();
    } catch (error) {
      // A concurrent create of the same name committed between our check and our insert.
      if (isUniqueViolation(error)) throw alreadyExists(ref);
      throw error;
    }
    return row;
  }

  async function insertLatestTag(tx: Executor, envId: string, revision: number, actor: Actor | undefined) {
    const now = ctx.now();
    const who = actorColumns(actor);
    await tx
      .insertInto('environment_revision_tags')
      .values({
        env_id: envId,
        name: LATEST_TAG,
        revision,
        created_at: now,
        modified_at: now,
        editor_login: who.login,
        editor_name: who.name,
      })
      .execute();
  }

  async function summaries(db: Executor, rows: EnvironmentRow[]): Promise<EnvironmentSummary[]> {
    const tags = new Map<string, Record<string, string>>(rows.map((r) => [r.id, dictionary<string>()]));
    if (rows.length > 0) {
      const tagRows = await db
        .selectFrom('environment_tags')
        .select(['env_id', 'name', 'value'])
        .where(
          'env_id',
          'in',
          rows.map((r) => r.id),
        )
        .orderBy('name')
        .execute();
      for (const t of tagRows) tags.get(t.env_id)![t.name] = t.value;
    }
    return rows.map((r) => ({ ...toInfo(r), tags: tags.get(r.id)! }));
  }

  return {
    /** Creates an environment at revision 1 holding {@link EMPTY_DEFINITION}, with `latest` pointing there. */
    async create(db: Executor, ref: EnvironmentRef, actor?: Actor): Promise<EnvironmentDefinition> {
      checkEnvironmentRef(ref);
      return atomically(db, async (tx) => {
        const row = await insertEnvironment(tx, ref, 1, actor?.login);
        const who = actorColumns(actor);
        await tx
          .insertInto('environment_revisions')
          .values({
            env_id: row.id,
            number: 1,
            yaml: EMPTY_DEFINITION,
            created_at: row.created_at,
            creator_login: who.login,
            creator_name: who.name,
          })
          .execute();
        await insertLatestTag(tx, row.id, 1, actor);
        return { ...toInfo(row), yaml: EMPTY_DEFINITION };
      });
    },

    /** The current definition with its revision number and ETag. */
    async get(db: Executor, ref: EnvironmentRef): Promise<EnvironmentDefinition> {
      const row = await liveEnvironment(db, ref);
      const revision = await db
        .selectFrom('environment_revisions')
        .select('yaml')
        .where('env_id', '=', row.id)
        .where('number', '=', row.head_revision)
        .executeTakeFirstOrThrow();
      return { ...toInfo(row), yaml: revision.yaml };
    },

    /** The environment without its definition (HEAD, metadata, settings pages). */
    async getInfo(db: Executor, ref: EnvironmentRef): Promise<EnvironmentInfo> {
      return toInfo(await liveEnvironment(db, ref));
    },

    /**
     * Writes `yaml` as a new immutable revision and moves `latest` to it. With `expectedEtag`, refuses with
     * 'etag-mismatch' unless the environment is still at the revision that ETag names — checked again by the
     * UPDATE itself, so two writers holding the same ETag cannot both succeed.
     */
    async update(
      db: Executor,
      ref: EnvironmentRef,
      yaml: string,
      options: { expectedEtag?: string; actor?: Actor } = {},
    ): Promise<EnvironmentDefinition> {
      if (typeof yaml !== 'string')
        throw new EnvironmentStoreError('invalid-argument', 'a definition is YAML text');
      return atomically(db, async (tx) => {
        const row = await liveEnvironment(tx, ref);
        const guarded = options.expectedEtag !== undefined;
        if (guarded && !etagMatches(options.expectedEtag!, environmentEtag(row.id, row.head_revision)))
          throw etagMismatch(ref);
        const now = ctx.now();
        let update = tx
          .updateTable('environments')
          .set((eb) => ({ head_revision: eb('head_revision', '+', 1), modified_at: now }))
          .where('id', '=', row.id)
          .where('deleted_at', 'is', null);
        if (guarded) update = update.where('head_revision', '=', row.head_revision);
        const updated = await update.returningAll().executeTakeFirst();
        if (!updated) throw guarded ? etagMismatch(ref) : notFound(ref);
        const who = actorColumns(options.actor);
        await tx
          .insertInto('environment_revisions')
          .values({
            env_id: row.id,
            number: updated.head_revision,
            yaml,
            created_at: now,
            creator_login: who.login,
            creator_name: who.name,
          })
          .execute();
        await tx
          .updateTable('environment_revision_tags')
          .set({
            revision: updated.head_revision,
            modified_at: now,
            editor_login: who.login,
            editor_name: who.name,
          })
          .where('env_id', '=', row.id)
          .where('name', '=', LATEST_TAG)
          .execute();
        return { ...toInfo(updated), yaml };
      });
    },

    /** An organization's live environments in (project, name) order, a page at a time. */
    async list(
      db: Executor,
      org: string,
      options: { continuationToken?: string; maxResults?: number } = {},
    ): Promise<EnvironmentPage> {
      checkOrgName(org);
      const limit = pageSize(options.maxResults);
      let query = db
        .selectFrom('environments')
        .selectAll()
        .where('org', '=', org)
        .where('deleted_at', 'is', null);
      if (options.continuationToken) {
        const [project, name] = decodeToken(ENVIRONMENTS_TOKEN, options.continuationToken, [
          'string',
          'string',
        ]);
        query = query.where((eb) => eb(eb.refTuple('project', 'name'), '>', eb.tuple(project, name)));
      }
      const rows = await query
        .orderBy('project')
        .orderBy('name')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        environments: await summaries(db, page),
        ...(rows.length > limit && last
          ? { nextToken: encodeToken(ENVIRONMENTS_TOKEN, [last.project, last.name]) }
          : {}),
      };
    },

    /** Soft-deletes: the environment and all its history stay restorable for the retention window. */
    async delete(db: Executor, ref: EnvironmentRef): Promise<EnvironmentInfo> {
      return atomically(db, async (tx) => {
        const row = await liveEnvironment(tx, ref);
        if (row.deletion_protected === 1)
          throw new EnvironmentStoreError(
            'deletion-protected',
            `deletion protection is enabled for environment ${ref.org}/${ref.project}/${ref.name}`,
          );
        // The deletion time identifies this deletion on restore: keep it unique among the name's deletions.
        const previous = await tx
          .selectFrom('environments')
          .select((eb) => eb.fn.max('deleted_at').as('latest'))
          .where('org', '=', row.org)
          .where('project', '=', row.project)
          .where('name', '=', row.name)
          .where('deleted_at', 'is not', null)
          .executeTakeFirst();
        const latest =
          previous?.latest === null || previous?.latest === undefined ? null : Number(previous.latest);
        const deletedAt = latest !== null && latest >= ctx.now() ? latest + 1 : ctx.now();
        const deleted = await tx
          .updateTable('environments')
          .set({ deleted_at: deletedAt })
          .where('id', '=', row.id)
          .where('deleted_at', 'is', null)
          .returningAll()
          .executeTakeFirst();
        if (!deleted) throw notFound(ref);
        return toInfo(deleted);
      });
    },

    /**
     * Soft-deleted environments of `org` still inside the retention window, in (project, name, deletedAt) order.
     * Each carries `deletedAt`, the `deletionTimestamp` that restores it.
     */
    async listDeleted(
      db: Executor,
      org: string,
      options: { continuationToken?: string; maxResults?: number; retentionMs?: number } = {},
    ): Promise<EnvironmentPage> {
      checkOrgName(org);
      const limit = pageSize(options.maxResults);
      const since = ctx.now() - (options.retentionMs ?? DELETED_ENVIRONMENT_RETENTION_MS);
      let query = db
        .selectFrom('environments')
        .selectAll()
        .where('org', '=', org)
        .where('deleted_at', 'is not', null)
        .where('deleted_at', '>', since);
      if (options.continuationToken) {
        const [project, name, deletedAt] = decodeToken(DELETED_TOKEN, options.continuationToken, [
          'string',
          'string',
          'number',
        ]);
        query = query.where((eb) =>
          eb(eb.refTuple('project', 'name', 'deleted_at'), '>', eb.tuple(project, name, deletedAt)),
        );
      }
      const rows = await query
        .orderBy('project')
        .orderBy('name')
        .orderBy('deleted_at')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        environments: await summaries(db, page),
        ...(rows.length > limit && last
          ? { nextToken: encodeToken(DELETED_TOKEN, [last.project, last.name, last.deleted_at!]) }
          : {}),
      };
    },

    /**
     * Brings back the deletion of `project/name` made at `deletionTimestamp` (epoch ms, or ISO 8601 as the API
     * sends it): 'not-found' if there is none inside the retention window, 'already-exists' if a live
     * environment has taken the name since.
     */
    async restore(
      db: Executor,
      org: string,
      request: { project: string; name: string; deletionTimestamp: number | string },
      options: { retentionMs?: number } = {},
    ): Promise<EnvironmentInfo> {
      const ref = checkEnvironmentRef({ org, project: request.project, name: request.name });
      const deletedAt =
        typeof request.deletionTimestamp === 'number'
          ? request.deletionTimestamp
          : Date.parse(request.deletionTimestamp);
      const missing = () =>
        new EnvironmentStoreError(
          'not-found',
          `no deleted environment ${org}/${ref.project}/${ref.name} at that deletion time`,
        );
      if (!Number.isSafeInteger(deletedAt)) throw missing();
      return atomically(db, async (tx) => {
        const since = ctx.now() - (options.retentionMs ?? DELETED_ENVIRONMENT_RETENTION_MS);
        const row = await tx
          .selectFrom('environments')
          .selectAll()
          .where('org', '=', org)
          .where('project', '=', ref.project)
          .where('name', '=', ref.name)
          .where('deleted_at', '=', deletedAt)
          .where('deleted_at', '>', since)
          .executeTakeFirst();
        if (!row) throw missing();
        const live = await tx
          .selectFrom('environments')
          .select('id')
          .where('org', '=', org)
          .where('project', '=', ref.project)
          .where('name', '=', ref.name)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        if (live) throw alreadyExists(ref);
        try {
          const restored = await tx
            .updateTable('environments')
            .set({ deleted_at: null })
            .where('id', '=', row.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          return toInfo(restored);
        } catch (error) {
          if (isUniqueViolation(error)) throw alreadyExists(ref);
          throw error;
        }
      });
    },

    async getSettings(db: Executor, ref: EnvironmentRef): Promise<{ deletionProtected: boolean }> {
      const row = await liveEnvironment(db, ref);
      return { deletionProtected: row.deletion_protected === 1 };
    },

    /** Changes settings; returns the new and previous values (the audit event depends on the transition). */
    async updateSettings(
      db: Executor,
      ref: EnvironmentRef,
      settings: { deletionProtected?: boolean },
    ): Promise<{ deletionProtected: boolean; previous: { deletionProtected: boolean } }> {
      return atomically(db, async (tx) => {
        const row = await liveEnvironment(tx, ref);
        const previous = { deletionProtected: row.deletion_protected === 1 };
        if (settings.deletionProtected === undefined) return { ...previous, previous };
        if (typeof settings.deletionProtected !== 'boolean')
          throw new EnvironmentStoreError('invalid-argument', 'deletionProtected is a boolean');
        await tx
          .updateTable('environments')
          .set({ deletion_protected: settings.deletionProtected ? 1 : 0 })
          .where('id', '=', row.id)
          .execute();
        return { deletionProtected: settings.deletionProtected, previous };
      });
    },

    /**
     * Clones `source` (at `version`, default newest) to a new environment in the same organization. A retracted
     * `version` is refused ('retracted'): clone its replacement instead.
     */
    async clone(
      db: Executor,
      source: EnvironmentRef,
      options: CloneOptions,
      actor?: Actor,
    ): Promise<CloneResult> {
      return atomically(db, async (tx) => {
        const src = await liveEnvironment(tx, source);
        const dest: EnvironmentRef = {
          org: src.org,
          project: checkProjectName(options.project ?? src.project),
          name: checkEnvironmentName(options.name),
        };
        const version =
          options.version === undefined ? src.head_revision : checkRevisionNumber(options.version);
        if (version > src.head_revision)
          throw new EnvironmentStoreError(
            'revision-not-found',
            `environment ${source.org}/${source.project}/${source.name} has no revision ${version}`,
          );
        const retracted = await tx
          .selectFrom('environment_retractions')
          .select('replacement')
          .where('env_id', '=', src.id)
          .where('number', '=', version)
          .executeTakeFirst();
        if (retracted)
          throw new EnvironmentStoreError(
            'retracted',
            `revision ${version} is retracted (replaced by ${retracted.replacement})`,
          );

        const history = options.preserveHistory === true;
        const head = history ? version : 1;
        const reseal = options.reseal ?? (async (yaml: string) => yaml);
        const row = await insertEnvironment(tx, dest, head, actor?.login);
        if (history) {
          const copied = await tx
            .selectFrom('environment_revisions')
            .select(['number', 'yaml', 'created_at', 'creator_login', 'creator_name'])
            .where('env_id', '=', src.id)
            .where('number', '<=', version)
            .orderBy('number')
            .execute();
          for (const revision of copied) {
            await tx
              .insertInto('environment_revisions')
              .values({ ...revision, env_id: row.id, yaml: await reseal(revision.yaml) })
              .execute();
          }
          // A retraction whose replacement lies beyond the cloned range is redirected to the clone's newest
          // revision, which is live (`version` is not retracted).
          await tx
            .insertInto('environment_retractions')
            .columns(['env_id', 'number', 'replacement', 'reason', 'retracted_at', 'by_login', 'by_name'])
            .expression((eb) =>
              eb
                .selectFrom('environment_retractions')
                .select((s) => [
                  s.val(row.id).as('env_id'),
                  'number',
                  s
                    .case()
                    .when('replacement', '>', version)
                    .then(version)
                    .else(s.ref('replacement'))
                    .end()
                    .as('replacement'),
                  'reason',
                  'retracted_at',
                  'by_login',
                  'by_name',
                ])
                .where('env_id', '=', src.id)
                .where('number', '<=', version),
            )
            .execute();
        } else {
          const content = await tx
            .selectFrom('environment_revisions')
            .select('yaml')
            .where('env_id', '=', src.id)
            .where('number', '=', version)
            .executeTakeFirstOrThrow();
          const who = actorColumns(actor);
          await tx
            .insertInto('environment_revisions')
            .values({
              env_id: row.id,
              number: 1,
              yaml: await reseal(content.yaml),
              created_at: row.created_at,
              creator_login: who.login,
              creator_name: who.name,
            })
            .execute();
        }
        await insertLatestTag(tx, row.id, head, actor);
        if (options.preserveRevisionTags === true) {
          const tags = await tx
            .selectFrom('environment_revision_tags')
            .selectAll()
            .where('env_id', '=', src.id)
            .where('name', '<>', LATEST_TAG)
            .where('revision', history ? '<=' : '=', version)
            .execute();
          if (tags.length > 0)
            await tx
              .insertInto('environment_revision_tags')
              .values(tags.map((t) => ({ ...t, env_id: row.id, revision: history ? t.revision : 1 })))
              .execute();
        }
        if (options.preserveEnvironmentTags === true) {
          await tx
            .insertInto('environment_tags')
            .columns(['env_id', 'name', 'value', 'created_at', 'modified_at', 'editor_login', 'editor_name'])
            .expression((eb) =>
              eb
                .selectFrom('environment_tags')
                .select((s) => [
                  s.val(row.id).as('env_id'),
                  'name',
                  'value',
                  'created_at',
                  'modified_at',
                  'editor_login',
                  'editor_name',
                ])
                .where('env_id', '=', src.id),
            )
            .execute();
        }
        return { environment: toInfo(row), preserveAccess: options.preserveAccess === true };
      });
    },
  };
}

function alreadyExists(ref: EnvironmentRef): EnvironmentStoreError<'already-exists'> {
  return new EnvironmentStoreError(
    'already-exists',
    `environment ${ref.org}/${ref.project}/${ref.name} already exists`,
  );
}

function etagMismatch(ref: EnvironmentRef): EnvironmentStoreError<'etag-mismatch'> {
  return new EnvironmentStoreError(
    'etag-mismatch',
    `environment ${ref.org}/${ref.project}/${ref.name} has changed since it was read`,
  );
}
