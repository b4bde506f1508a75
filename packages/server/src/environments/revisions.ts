import { environmentEtag } from './etag.js';
import { EnvironmentStoreError } from './errors.js';
import { LATEST_TAG } from './environment-lifecycle.js';
import {
  actorColumns,
  atomically,
  liveEnvironment,
  optional,
  toInfo,
  type EnvironmentRow,
  type StoreContext,
} from './internal.js';
import { checkRevisionNumber, parseVersion, type EnvironmentRef } from './names.js';
import { pageSize } from './paging.js';
import type { Actor, Executor, Retraction, RevisionContent, RevisionInfo } from './types.js';

export interface RetractResult {
  readonly revision: number;
  readonly retraction: Retraction;
  /** Revision tags moved from the retracted revision to the replacement. */
  readonly retagged: readonly string[];
}

/**
 * Revisions and retraction.
 *
 * Retraction semantics (Pulumi's `esc env version retract`, decided where Pulumi is silent):
 * - the revision stays in the list with `retracted: {replacement, at, byLogin, byName, reason}`; its YAML stays
 *   stored (revisions are append-only) but is never served again;
 * - reading or opening it resolves to its replacement (following chains, since a replacement can itself be
 *   retracted later); `getRevision(…, {followRetracted: false})` refuses with 'retracted' instead, for callers
 *   that prefer Pulumi's documented "can no longer be read or opened";
 * - tags pointing at it move to the replacement;
 * - the replacement defaults to the newest non-retracted revision before it ('invalid-revision' if there is none:
 *   name one); an explicit replacement may be any other non-retracted revision, older or newer;
 * - the newest revision can never be retracted ('latest-tag-immutable'): `latest` must keep naming the newest
 *   revision. As Pulumi says, write a new revision first (e.g. a rollback), then retract the old one.
 */
export function revisions(ctx: StoreContext) {
  /** The number a version selector names, before following retractions. */
  async function selectRevision(
    db: Executor,
    env: EnvironmentRow,
    version: string | number,
  ): Promise<number> {
    const selector =
      typeof version === 'number' ? { revision: checkRevisionNumber(version) } : parseVersion(version);
    if ('tag' in selector) {
      const tag = await db
        .selectFrom('environment_revision_tags')
        .select('revision')
        .where('env_id', '=', env.id)
        .where('name', '=', selector.tag)
        .executeTakeFirst();
      if (!tag)
        throw new EnvironmentStoreError('tag-not-found', `no revision tag ${JSON.stringify(selector.tag)}`);
      return tag.revision;
    }
    if (selector.revision > env.head_revision)
      throw new EnvironmentStoreError(
        'revision-not-found',
        `environment ${env.org}/${env.project}/${env.name} has no revision ${selector.revision}`,
      );
    return selector.revision;
  }

  async function retractionOf(db: Executor, envId: string, number: number): Promise<Retraction | undefined> {
    const row = await db
      .selectFrom('environment_retractions')
      .selectAll()
      .where('env_id', '=', envId)
      .where('number', '=', number)
      .executeTakeFirst();
    return row && toRetraction(row);
  }

  return {
    /** Revisions newest first; `before` is an exclusive upper bound (as the Go client's `before=rev+1&count=1`). */
    async listRevisions(
      db: Executor,
      ref: EnvironmentRef,
      options: { before?: number; count?: number } = {},
    ): Promise<RevisionInfo[]> {
      const env = await liveEnvironment(db, ref);
      const limit = pageSize(options.count);
      let query = db
        .selectFrom('environment_revisions as r')
        .leftJoin('environment_retractions as x', (join) =>
          join.onRef('x.env_id', '=', 'r.env_id').onRef('x.number', '=', 'r.number'),
        )
        .select([
          'r.number',
          'r.created_at',
          'r.creator_login',
          'r.creator_name',
          'x.replacement',
          'x.reason',
          'x.retracted_at',
          'x.by_login',
          'x.by_name',
        ])
        .where('r.env_id', '=', env.id);
      if (options.before !== undefined) {
        if (!Number.isSafeInteger(options.before))
          throw new EnvironmentStoreError('invalid-argument', '`before` is a revision number');
        query = query.where('r.number', '<', options.before);
      }
      const rows = await query.orderBy('r.number', 'desc').limit(limit).execute();
      const tags = new Map<number, string[]>();
      if (rows.length > 0) {
        const tagRows = await db
          .selectFrom('environment_revision_tags')
          .select(['name', 'revision'])
          .where('env_id', '=', env.id)
          .where('revision', '<=', rows[0]!.number)
          .where('revision', '>=', rows.at(-1)!.number)
          .orderBy('name')
          .execute();
        for (const t of tagRows) tags.set(t.revision, [...(tags.get(t.revision) ?? []), t.name]);
      }
      return rows.map((r) => ({
        number: r.number,
        created: r.created_at,
        ...optional('creatorLogin', r.creator_login),
        ...optional('creatorName', r.creator_name),
        tags: tags.get(r.number) ?? [],
        ...(r.replacement !== null && r.retracted_at !== null
          ? {
              retracted: toRetraction({
                replacement: r.replacement,
                reason: r.reason,
                retracted_at: r.retracted_at,
                by_login: r.by_login,
                by_name: r.by_name,
              }),
            }
          : {}),
      }));
    },

    /**
     * The definition a `version` names: a revision number (`3`, or a path segment starting with a digit) or a
     * tag (`latest`, `prod`). A retracted revision resolves to its replacement (see above) unless
     * `followRetracted` is false.
     */
    async getRevision(
      db: Executor,
      ref: EnvironmentRef,
      version: string | number,
      options: { followRetracted?: boolean } = {},
    ): Promise<RevisionContent> {
      const env = await liveEnvironment(db, ref);
      const requested = await selectRevision(db, env, version);
      let number = requested;
      let first: Retraction | undefined;
      // Each replacement was live when chosen and retraction is permanent, so chains end; the bound guards
      // against a database edited by hand.
      for (let hops = 0; ; hops++) {
        const retraction = await retractionOf(db, env.id, number);
        if (!retraction) break;
        if (options.followRetracted === false)
          throw new EnvironmentStoreError(
            'retracted',
            `revision ${number} is retracted (replaced by ${retraction.replacement})`,
          );
        if (hops > env.head_revision)
          throw new Error(`retraction chain of ${env.id} revision ${requested} loops`);
        first ??= retraction;
        number = retraction.replacement;
      }
      const row = await db
        .selectFrom('environment_revisions')
        .selectAll()
        .where('env_id', '=', env.id)
        .where('number', '=', number)
        .executeTakeFirstOrThrow();
      return {
        environment: toInfo(env),
        revision: number,
        requested,
        ...(first ? { retracted: first } : {}),
        yaml: row.yaml,
        etag: environmentEtag(env.id, number),
        created: row.created_at,
        ...optional('creatorLogin', row.creator_login),
        ...optional('creatorName', row.creator_name),
      };
    },

    /** Retracts the revision `version` names (see the semantics above). */
    async retractRevision(
      db: Executor,
      ref: EnvironmentRef,
      version: string | number,
      options: { replacement?: number; reason?: string; actor?: Actor } = {},
    ): Promise<RetractResult> {
      return atomically(db, async (tx) => {
        const env = await liveEnvironment(tx, ref);
        const number = await selectRevision(tx, env, version);
        if (number === env.head_revision)
          throw new EnvironmentStoreError(
            'latest-tag-immutable',
            `revision ${number} is the latest and cannot be retracted; update the environment first`,
          );
        if (await retractionOf(tx, env.id, number))
          throw new EnvironmentStoreError('retracted', `revision ${number} is already retracted`);
        let replacement: number;
        if (options.replacement !== undefined) {
          replacement = checkRevisionNumber(options.replacement);
          if (replacement === number)
            throw new EnvironmentStoreError('invalid-revision', `a revision cannot replace itself`);
          if (replacement > env.head_revision)
            throw new EnvironmentStoreError(
              'revision-not-found',
              `no revision ${replacement} to replace it with`,
            );
          if (await retractionOf(tx, env.id, replacement))
            throw new EnvironmentStoreError('retracted', `replacement revision ${replacement} is retracted`);
        } else {
          const previous = await tx
            .selectFrom('environment_revisions as r')
            .select('r.number')
            .where('r.env_id', '=', env.id)
            .where('r.number', '<', number)
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom('environment_retractions as x')
                    .select('x.number')
                    .whereRef('x.env_id', '=', 'r.env_id')
                    .whereRef('x.number', '=', 'r.number'),
                ),
              ),
            )
            .orderBy('r.number', 'desc')
            .limit(1)
            .executeTakeFirst();
          if (!previous)
            throw new EnvironmentStoreError(
              'invalid-revision',
              `no earlier non-retracted revision can replace revision ${number}; name a replacement`,
            );
          replacement = previous.number;
        }
        const now = ctx.now();
        const who = actorColumns(options.actor);
        const reason = options.reason === undefined || options.reason === '' ? null : options.reason;
        await tx
          .insertInto('environment_retractions')
          .values({
            env_id: env.id,
            number,
            replacement,
            reason,
            retracted_at: now,
            by_login: who.login,
            by_name: who.name,
          })
          .execute();
        const moved = await tx
          .updateTable('environment_revision_tags')
          .set({ revision: replacement, modified_at: now, editor_login: who.login, editor_name: who.name })
          .where('env_id', '=', env.id)
          .where('revision', '=', number)
          .where('name', '<>', LATEST_TAG)
          .returning('name')
          .execute();
        return {
          revision: number,
          retraction: toRetraction({
            replacement,
            reason,
            retracted_at: now,
            by_login: who.login,
            by_name: who.name,
          }),
          retagged: moved.map((m) => m.name).sort(),
        };
      });
    },
  };
}

function toRetraction(row: {
  replacement: number;
  reason: string | null;
  retracted_at: number;
  by_login: string | null;
  by_name: string | null;
}): Retraction {
  return {
    replacement: row.replacement,
    at: row.retracted_at,
    ...optional('byLogin', row.by_login),
    ...optional('byName', row.by_name),
    ...optional('reason', row.reason),
  };
}
