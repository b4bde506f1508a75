import type { Selectable } from 'kysely';
import type { EnvironmentsTable } from '../storage/schema.js';
import { environmentEtag } from './etag.js';
import { EnvironmentStoreError } from './errors.js';
import { checkEnvironmentRef, type EnvironmentRef } from './names.js';
import type { EnvironmentInfo, Executor } from './types.js';
import type { SecretBox } from './secret-box.js';

/** What every part of the store shares. */
export interface StoreContext {
  readonly now: () => number;
  readonly secrets: SecretBox;
}

export type EnvironmentRow = Selectable<EnvironmentsTable>;

/**
 * Runs `work` atomically: inside the caller's transaction when given one (the kernel's audited transaction),
 * else in a transaction of its own. Multi-statement writes always go through here.
 */
export function atomically<T>(db: Executor, work: (tx: Executor) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/** The live environment named `ref`, or 'not-found'. Deleted environments are invisible here. */
export async function liveEnvironment(db: Executor, ref: EnvironmentRef): Promise<EnvironmentRow> {
  checkEnvironmentRef(ref);
  const row = await db
    .selectFrom('environments')
    .selectAll()
    .where('org', '=', ref.org)
    .where('project', '=', ref.project)
    .where('name', '=', ref.name)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw notFound(ref);
  return row;
}

export function notFound(ref: EnvironmentRef): EnvironmentStoreError<'not-found'> {
  return new EnvironmentStoreError(
    'not-found',
    `environment ${ref.org}/${ref.project}/${ref.name} not found`,
  );
}

export function toInfo(row: EnvironmentRow): EnvironmentInfo {
  return {
    id: row.id,
    org: row.org,
    project: row.project,
    name: row.name,
    revision: row.head_revision,
    etag: environmentEtag(row.id, row.head_revision),
    created: row.created_at,
    modified: row.modified_at,
    deletionProtected: row.deletion_protected === 1,
    ...(row.deleted_at !== null ? { deletedAt: row.deleted_at } : {}),
    ...(row.created_by !== null ? { createdBy: row.created_by } : {}),
  };
}

/** `{login, name}` columns from an actor. */
export function actorColumns(actor: { login: string; name?: string } | undefined): {
  login: string | null;
  name: string | null;
} {
  return { login: actor?.login ?? null, name: actor?.name ?? null };
}

/** Copies a nullable column into an optional property (`{}` when null). */
export function optional<K extends string, V>(key: K, value: V | null): { [P in K]?: V } {
  return (value === null ? {} : { [key]: value }) as { [P in K]?: V };
}

/** A unique or primary-key violation, on either engine: a concurrent writer won a race for a name. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * A map keyed by user-chosen names. Null-prototype, so names like `__proto__` or `constructor` are plain keys
 * (a `{}` literal would let a tag named `__proto__` replace the object's prototype).
 */
export function dictionary<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}
