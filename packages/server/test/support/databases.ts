import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStorage, type Dialect, type Storage } from '../../src/storage/storage.js';

/** The PostgreSQL the suites use; CI and this machine run one on 127.0.0.1:5432 with trust auth. */
export const POSTGRES_URL = process.env.VIGIL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

const unreachable = await probePostgres();
if (unreachable !== undefined) {
  const message = `PostgreSQL at ${POSTGRES_URL} is unreachable (${unreachable})`;
  // CI must exercise PostgreSQL: failing here is the point. A laptop without it skips those suites, loudly.
  if (process.env.CI) throw new Error(`${message}; CI runs the PostgreSQL suites and cannot skip them`);
  console.warn(`\n⚠ ${message}: SKIPPING the PostgreSQL suites. Set VIGIL_TEST_DATABASE_URL to run them.\n`);
}

/** The engines every storage-level suite runs against (`for (const dialect of DIALECTS)`, as Kysely does). */
export const DIALECTS: readonly Dialect[] = unreachable === undefined ? ['sqlite', 'postgres'] : ['sqlite'];
export const POSTGRES_AVAILABLE = unreachable === undefined;

/** A database of its own for one test: a temporary SQLite file, or a fresh PostgreSQL schema. */
export interface TestDatabase {
  readonly dialect: Dialect;
  /** SQLite: the data directory; PostgreSQL: the schema. */
  readonly dataDir: string;
  readonly schema: string | undefined;
  readonly databaseUrl: string | undefined;
  open(options?: { poolSize?: number }): Promise<Storage>;
  /** Removes the file or schema. */
  drop(): Promise<void>;
}

export function testDatabase(dialect: Dialect): TestDatabase {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-test-'));
  const schema = dialect === 'postgres' ? `vt_${randomBytes(6).toString('hex')}` : undefined;
  const databaseUrl = dialect === 'postgres' ? POSTGRES_URL : undefined;
  return {
    dialect,
    dataDir,
    schema,
    databaseUrl,
    open: (options) => openStorage({ databaseUrl, dataDir, schema, poolSize: options?.poolSize }),
    async drop() {
      rmSync(dataDir, { recursive: true, force: true });
      if (schema) {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
    },
  };
}

/** Runs raw SQL as an attacker with database access would (no application in the way). */
export async function rawSql(db: TestDatabase, statements: string[]): Promise<void> {
  if (db.dialect === 'sqlite') {
    const { default: SQLite } = await import('better-sqlite3');
    const handle = new SQLite(join(db.dataDir, 'vigil.db'));
    try {
      for (const s of statements) handle.exec(s);
    } finally {
      handle.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${db.schema}` });
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}
