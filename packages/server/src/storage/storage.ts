import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.js';
import { Checkpointer, WRITER_AUTOCHECKPOINT_PAGES } from './checkpointer.js';
import { preparingPool } from './prepared-statements.js';
import { DurableSqliteDialect, WalSync } from './wal-sync.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * An open database. `db` is the writer; `reader` serves reads that must not wait behind (or see inside) a write
 * transaction. On SQLite they are two connections to one WAL database; on PostgreSQL one pool serves both.
 */
export interface Storage {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  readonly reader: Kysely<Database>;
  /**
   * Reads of the audit log's index (lists, exports; `audit/audit-query.ts`). SQLite: the reader. PostgreSQL: a
   * small pool of its own whose sessions leave the planner only index walks (`enable_bitmapscan` and
   * `enable_sort` off): without statistics (a table not yet analyzed) PostgreSQL would otherwise guess that few
   * entries match a page's filter, read them all through a bitmap and sort them: O(size) a page, not O(page).
   * Setting that per session, not per read, spares every read a transaction of three more round trips.
   */
  readonly auditReader: Kysely<Database>;
  /** SQLite only: the writer's raw handle, for the ledger's prepared statements inside `db` transactions. */
  readonly sqlite: SQLite.Database | undefined;
  /**
   * SQLite only: the reader's raw handle (the connection under `reader`), for reads that stream many rows
   * (exports): prepared statements in raw mode, no query built per page. Synchronous, so never interleaved with
   * a `reader` query.
   */
  readonly sqliteReader: SQLite.Database | undefined;
  /** PostgreSQL only: the pool, for callers that need a dedicated connection (e.g. LISTEN). */
  readonly pool: pg.Pool | undefined;
  /**
   * PostgreSQL only: the pool under `auditReader`, for reads that stream many rows (exports): rows as arrays, no
   * query built per page.
   */
  readonly auditPool: pg.Pool | undefined;
  /**
   * SQLite only: makes commits durable off the event loop (the writer runs `synchronous=NORMAL`). Commits made
   * through `db` are durable when their promise resolves; writes on the raw `sqlite` handle (the ledger's fast
   * path) must wait for `walSync.durable()` before they are acknowledged. PostgreSQL's COMMIT is durable when it
   * returns.
   */
  readonly walSync: WalSync | undefined;
  close(): Promise<void>;
}

export interface StorageOptions {
  /** `postgres://…`; undefined selects SQLite in `dataDir`. */
  readonly databaseUrl?: string | undefined;
  readonly dataDir?: string;
  /** SQLite file path; overrides `dataDir`. `:memory:` is refused: the reader could not see the writer's data. */
  readonly sqlitePath?: string;
  /** PostgreSQL schema to use (created if missing). Tests give each suite its own. */
  readonly schema?: string;
  /** PostgreSQL pool size. */
  readonly poolSize?: number;
}

/** The SQLite file inside the data directory. */
export const SQLITE_FILE = 'vigil.db';
/** Enough connections for a batch writer, publisher and concurrent readers without starving PostgreSQL. */
export const DEFAULT_POOL_SIZE = 16;

// BIGINT arrives from pg as a string; every BIGINT of ours (indexes, sizes, epoch milliseconds) fits 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${value} exceeds 2^53`);
  return n;
});

export async function openStorage(options: StorageOptions): Promise<Storage> {
  const storage = options.databaseUrl ? openPostgres(options.databaseUrl, options) : openSqlite(options);
  try {
    await migrate(storage);
  } catch (error) {
    await storage.close();
    throw error;
  }
  return storage;
}

function openSqlite(options: StorageOptions): Storage {
  const path = options.sqlitePath ?? join(options.dataDir ?? '.', SQLITE_FILE);
  if (path === ':memory:')
    throw new Error('SQLite storage needs a file: the reader connection must see the writer');
  if (!options.sqlitePath && options.dataDir) mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const owner = ownDatabase(path);
  const writer = new SQLite(path);
  // WAL lets the reader run beside the writer. synchronous=NORMAL: a COMMIT writes the log and returns without
  // waiting for the disk; WalSync makes it durable off the event loop before anything is acknowledged.
  const mode = writer.pragma('journal_mode = WAL', { simple: true }) as string;
  if (mode !== 'wal') {
    writer.close();
    owner.close();
    throw new Error(`SQLite at ${path} cannot use write-ahead logging (journal_mode is ${mode})`);
  }
  writer.pragma('synchronous = NORMAL');
  // Checkpoints run on a thread of their own (Checkpointer); the writer's own is only a fallback.
  writer.pragma(`wal_autocheckpoint = ${WRITER_AUTOCHECKPOINT_PAGES}`);
  writer.pragma('foreign_keys = ON');
  writer.pragma('busy_timeout = 5000');
  const reader = new SQLite(path);
  reader.pragma('busy_timeout = 5000');
  reader.pragma('query_only = ON');
  const walSync = new WalSync(`${path}-wal`);
  const checkpointer = new Checkpointer(path);
  const db = new Kysely<Database>({
    dialect: new DurableSqliteDialect({ database: withStatementCache(writer) }, writer, walSync),
  });
  const readerDb = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(reader) }),
  });
  return {
    dialect: 'sqlite',
    db,
    reader: readerDb,
    auditReader: readerDb,
    sqlite: writer,
    sqliteReader: reader,
    pool: undefined,
    auditPool: undefined,
    walSync,
    async close() {
      await checkpointer.stop();
      await readerDb.destroy();
      await walSync.close();
      await db.destroy();
      owner.close();
    },
  };
}

/**
 * One server process per SQLite database: this process is its only writer, and relies on it (the IAM decision
 * cache is invalidated by this process's own writes; WalSync syncs this process's commits). The claim is an
 * exclusive lock on `<file>-owner`, a SQLite database of its own held in a never-ending exclusive transaction:
 * the operating system releases it when the process ends, however it ends (no stale lock file after a kill -9),
 * and a second claim — from another process, or from this one — fails at once.
 */
function ownDatabase(path: string): SQLite.Database {
  const owner = new SQLite(`${path}-owner`, { timeout: 0 });
  try {
    owner.pragma('locking_mode = EXCLUSIVE');
    owner.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    owner.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY')
      throw new Error(
        `the SQLite database ${path} is in use by another Vigil server: one process per SQLite database ` +
          '(several instances share a PostgreSQL database, VIGIL_DATABASE_URL)',
      );
    throw error;
  }
  return owner;
}

/** Prepared statements kept per connection; Kysely prepares each query anew, which costs more than running it. */
export const STATEMENT_CACHE_SIZE = 512;

/**
 * The connection as Kysely sees it, with `prepare` answered from a cache of statements keyed by SQL text (Kysely
 * binds parameters at run time, so a statement serves every call of its query). SQLite re-prepares a cached
 * statement itself if the schema changed under it.
 */
function withStatementCache(handle: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (source: string): SQLite.Statement => {
    let statement = cache.get(source);
    if (statement) {
      cache.delete(source); // most recently used goes last
    } else {
      statement = handle.prepare(source);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, statement);
    return statement;
  };
  return new Proxy(handle, {
    get(target, property, receiver) {
      if (property === 'prepare') return prepare;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function openPostgres(url: string, options: StorageOptions): Storage {
  const schema = options.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`bad schema name ${schema}`);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
  const auditPool = new pg.Pool({
    ...withSessionOptions(url, schema ? [`-c search_path=${schema}`] : [], [
      '-c enable_bitmapscan=off',
      '-c enable_sort=off',
    ]),
    max: AUDIT_POOL_SIZE,
  });
  auditPool.on('error', () => {});
  const auditReader = new Kysely<Database>({ dialect: new PostgresDialect({ pool: auditPool }) });
  let closed = false;
  return {
    dialect: 'postgres',
    db,
    reader: db,
    auditReader,
    sqlite: undefined,
    sqliteReader: undefined,
    pool,
    auditPool,
    walSync: undefined,
    async close() {
      if (closed) return;
      closed = true;
      await auditReader.destroy();
      await db.destroy();
    },
  };
}

/**
 * What a connection of its own needs to be a session like `pool`'s (the database, and the server settings each
 * session starts with: search path, planner options), for readers that must not hold a pool's connection.
 */
export function sessionSettings(pool: pg.Pool): { connectionString: string; options?: string } {
  return pool.options as { connectionString: string; options?: string };
}

/** Connections for audit-log reads on PostgreSQL (lists and exports; most requests never read the log). */
const AUDIT_POOL_SIZE = 4;

/**
 * A pool's connection settings with `options` (server settings for each session) merged with those the URL
 * gives, later ones winning: `defaults`, then the URL's (as for the main pool, where `pg` lets a URL's `options`
 * replace the config's), then `forced`.
 */
function withSessionOptions(
  url: string,
  defaults: readonly string[],
  forced: readonly string[],
): { connectionString: string; options: string } {
  const parsed = new URL(url);
  const given = parsed.searchParams.get('options');
  parsed.searchParams.delete('options');
  const options = [...defaults, ...(given ? [given] : []), ...forced].join(' ');
  return { connectionString: parsed.toString(), options };
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } catch (error) {
    // Two processes creating it at once: one of them loses the race on the catalog's unique index.
    if ((error as { code?: string }).code !== '23505') throw error;
  }
}

async function migrate(storage: Storage): Promise<void> {
  let migrationTableSchema: string | undefined;
  if (storage.pool) {
    const schema = sessionSettings(storage.pool).options?.match(/search_path=(\w+)/)?.[1];
    if (schema) await createSchema(storage.pool, schema);
    // Kysely looks for its migration tables in every schema unless told which: another schema's would do.
    migrationTableSchema = (await storage.pool.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]
      ?.s;
  }
  const migrator = new Migrator({
    db: storage.db,
    provider: migrationProvider(storage.dialect),
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(
      `database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`,
    );
  }
}
