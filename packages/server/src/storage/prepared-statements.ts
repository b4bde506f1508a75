import { hash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/** Statements one connection keeps prepared; further ones run unnamed (planned each time), as before. */
export const PREPARED_PER_CONNECTION = 500;
/** Statement texts whose names are remembered (the statements Vigil runs are far fewer; bounded all the same). */
const NAMES_REMEMBERED = 4096;

/**
 * A pool for Kysely's PostgreSQL dialect whose connections prepare each statement once and reuse it. Kysely sends
 * every query unnamed, so PostgreSQL parses and plans it on every execution: for the token lookup (a join of four
 * tables) planning took longer than running it — 0.53–0.66 ms a query unnamed against 0.19–0.26 ms prepared, on
 * this 2-core machine. A prepared statement is planned for its first executions and then, when PostgreSQL finds a
 * generic plan as good, never again.
 *
 * Only statements with parameters are prepared: transaction control and migrations (DDL, several statements in
 * one text) run as before. Each connection prepares at most `PREPARED_PER_CONNECTION` distinct texts, so a query
 * built with literals cannot fill the server's memory. A statement is named by a hash of its text, so one name
 * never stands for two texts.
 *
 * After another instance changes a table's columns (a migration), PostgreSQL refuses a prepared `SELECT *` on it
 * with "cached plan must not change result type" (0A000): that query fails once on each connection that held it,
 * and the connection runs it unnamed from then on.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => preparing(await pool.connect()) as unknown as PostgresPoolClient,
    end: () => pool.end(),
  };
}

const STATE = Symbol('vigil.prepared');

interface PreparingClient {
  [STATE]?: { prepared: Set<string>; unnamed: Set<string> };
}

function preparing(client: pg.PoolClient): pg.PoolClient {
  const patched = client as pg.PoolClient & PreparingClient;
  if (patched[STATE]) return client;
  const state = { prepared: new Set<string>(), unnamed: new Set<string>() };
  patched[STATE] = state;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const [text, values, callback] = args;
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined)
      return query(...args);
    const name = statementName(text);
    if (
      state.unnamed.has(name) ||
      (!state.prepared.has(name) && state.prepared.size >= PREPARED_PER_CONNECTION)
    )
      return query(text, values);
    state.prepared.add(name);
    return (query({ name, text, values }) as Promise<unknown>).catch((error: unknown) => {
      if ((error as { code?: string }).code === '0A000') {
        state.prepared.delete(name);
        state.unnamed.add(name);
      }
      throw error;
    });
  }) as typeof client.query;
  return client;
}

const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= NAMES_REMEMBERED) names.clear();
    name = `vigil_${hash('sha256', text, 'base64url').slice(0, 22)}`;
    names.set(text, name);
  }
  return name;
}
