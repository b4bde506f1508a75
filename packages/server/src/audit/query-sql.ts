import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Dialect } from '../storage/storage.js';
import type { QueryNode } from './query-language.js';

/**
 * Which indexes a compiled condition lets the planner use. SQLite keeps no statistics, and PostgreSQL has none
 * until a table is analyzed: offered an index on a filter's column, either may read every matching entry and
 * sort them (O(matches)), or, offered two, walk the wrong one. The caller names the one index a page walks
 * (`audit-query.ts`); every other column is read through a no-op expression that no index serves (`+a.col` on
 * SQLite; `a.col || ''`, `a.time + 0` on PostgreSQL, which has no unary plus on text).
 */
export interface IndexUse {
  readonly dialect: Dialect;
  /** Columns whose indexes the planner may use. */
  readonly indexed: ReadonlySet<Column>;
}

/**
 * Compiles a parsed query to a condition on `audit_events` (aliased `a`). Values are bound parameters, columns
 * `sql.ref`s: nothing the caller wrote becomes SQL text. The same SQL runs on SQLite and PostgreSQL (but for the
 * no-op expressions of `IndexUse`).
 *
 * Every term is TRUE or FALSE, never NULL: a column that may be NULL is tested `IS NOT NULL AND …`, so `-term`
 * selects exactly the entries `term` does not (`-project:app` includes entries that name no project).
 */
export function compileQuery(node: QueryNode, use?: IndexUse): RawBuilder<SqlBool> {
  const column = (name: Column): RawBuilder<unknown> => {
    const ref = sql.ref(`a.${name}`);
    if (!use || use.indexed.has(name)) return ref;
    if (use.dialect === 'sqlite') return sql`+${ref}`;
    // PostgreSQL has no unary plus on text or bytea: a no-op expression of the column serves the same end.
    if (name === 'time') return sql`(${ref} + 0)`;
    return name === 'source_ip_key' ? sql`(${ref} || ''::bytea)` : sql`(${ref} || '')`;
  };
  const equals = (name: Column, value: string): RawBuilder<SqlBool> => {
    const ref = column(name);
    return sql<SqlBool>`(${ref} IS NOT NULL AND ${ref} = ${value})`;
  };
  const compile = (node: QueryNode): RawBuilder<SqlBool> => {
    switch (node.kind) {
      case 'and':
        return sql<SqlBool>`(${sql.join(node.terms.map(compile), sql` AND `)})`;
      case 'or':
        return sql<SqlBool>`(${sql.join(node.terms.map(compile), sql` OR `)})`;
      case 'not':
        return sql<SqlBool>`(NOT ${compile(node.term)})`;
      case 'actor':
        return equals('actor_login', node.login);
      case 'event':
        return node.ids.length === 1
          ? equals('event', node.ids[0]!)
          : sql<SqlBool>`(${column('event')} IN (${sql.join(node.ids)}))`;
      case 'project':
        return equals('project', node.project);
      case 'environment':
        return node.project === undefined
          ? equals('environment', node.environment)
          : sql<SqlBool>`(${equals('project', node.project)} AND ${equals('environment', node.environment)})`;
      case 'token':
        return equals('token_name', node.name);
      case 'outcome':
        return equals('outcome', node.outcome);
      case 'ip': {
        const key = column('source_ip_key');
        // One address is an equality (an index walk in idx order); a block a range.
        if (Buffer.compare(node.low, node.high) === 0)
          return sql<SqlBool>`(${key} IS NOT NULL AND ${key} = ${Buffer.from(node.low)})`;
        // Both engines compare byte strings bytewise (SQLite: memcmp on BLOBs; PostgreSQL: bytea).
        return sql<SqlBool>`(${key} IS NOT NULL AND ${key} >= ${Buffer.from(node.low)} AND ${key} <= ${Buffer.from(node.high)})`;
      }
      case 'time': {
        const bounds = [
          ...(node.fromMs === undefined ? [] : [sql`${column('time')} >= ${node.fromMs}`]),
          ...(node.untilMs === undefined ? [] : [sql`${column('time')} < ${node.untilMs}`]),
        ];
        return sql<SqlBool>`(${sql.join(bounds, sql` AND `)})`;
      }
      case 'text': {
        // Both sides are lower case already (JavaScript's toLowerCase, stored by the sequencer), so LIKE's case
        // rules (SQLite: ASCII-insensitive; PostgreSQL: sensitive) cannot make the engines disagree.
        const description = column('description_folded');
        return sql<SqlBool>`(${description} IS NOT NULL AND ${description} LIKE ${`%${likeEscape(node.needle)}%`} ESCAPE '\\')`;
      }
    }
  };
  return compile(node);
}

export type Column =
  | 'actor_login'
  | 'event'
  | 'project'
  | 'environment'
  | 'token_name'
  | 'outcome'
  | 'source_ip_key'
  | 'time'
  | 'description_folded';

/** A LIKE pattern matching `text` literally: `\`, `%` and `_` escaped with `\`. */
export function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
