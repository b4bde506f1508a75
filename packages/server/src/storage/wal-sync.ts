import { closeSync, fdatasyncSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type SQLite from 'better-sqlite3';
import {
  SqliteDialect,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type CompiledQuery,
  type SqliteDialectConfig,
} from 'kysely';

/**
 * Durability for SQLite without blocking the event loop.
 *
 * better-sqlite3 is synchronous: with `synchronous=FULL` every COMMIT waits for the disk inside the call, and the
 * whole process — every other request — waits with it. Vigil runs the writer with `synchronous=NORMAL` instead
 * (in WAL mode a COMMIT then writes its frames to the WAL and returns; SQLite keeps the database consistent
 * after a crash either way) and makes commits durable itself: `durable()` resolves once an `fdatasync` of the WAL
 * file that *started after the call* has finished, on libuv's thread pool. The WAL is append-ordered, so that
 * sync covers every commit that returned before the call. Nothing that needs durability is acknowledged before
 * its `durable()` resolves: the ledger awaits it before answering appends, and `DurableSqliteDialect` awaits it
 * after every COMMIT and every autocommitted write made through Kysely.
 *
 * Calls coalesce (group commit): while one sync runs, every caller that arrives shares the next one.
 * A failed sync is not retried: after `fsync` fails the kernel may have dropped the dirty pages, so nothing
 * written since can be called durable. Every later call fails too, and the server fails closed.
 *
 * What a reader may see: a commit is visible to the reader connection as soon as it returns, up to one sync
 * before it is durable. Only a power loss or an operating-system crash in that window loses it (a process crash
 * does not: the pages are in the kernel's cache). Requests that depend on it wait for the sync that covers them,
 * and the checkpoint publisher signs only sizes that are durable (see docs/ledger.md).
 */
export class WalSync {
  private file: FileHandle | undefined;
  /** A descriptor for `durableNow` (synchronous calls cannot use the FileHandle's). */
  private fd: number | undefined;
  private current: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;
  private failure: Error | undefined;
  private syncs = 0;
  private deferred = false;

  constructor(private readonly walPath: string) {}

  /** Resolves when every commit that returned before this call is on disk. */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    // A sync already waiting starts after this call, so it covers this caller's commits too.
    if (this.waiting) return this.waiting;
    if (!this.current) return this.start();
    this.waiting = this.current
      .catch(() => {})
      .then(() => {
        this.waiting = undefined;
        return this.start();
      });
    return this.waiting;
  }

  /**
   * Makes every commit so far durable now, on this thread: for a lone writer with nothing else to do, the hop to
   * the thread pool and back costs more than it saves.
   */
  durableNow(): void {
    if (this.failure) throw this.failure;
    this.syncs++;
    try {
      if (this.fd === undefined) {
        try {
          this.fd = openSync(this.walPath, 'r');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
      }
      fdatasyncSync(this.fd);
    } catch (error) {
      this.failure = new Error(`cannot sync the SQLite write-ahead log ${this.walPath}`, { cause: error });
      throw this.failure;
    }
  }

  /**
   * Called inside a Kysely transaction, just before it returns: its COMMIT will not wait for the disk, because the
   * caller takes charge of durability and awaits `durable()` (or calls `durableNow()`) before acknowledging
   * anything. The ledger does this so that the next batch can start while this one syncs.
   */
  deferCommit(): void {
    this.deferred = true;
  }

  /** Takes the deferral for the COMMIT that is running (see `deferCommit`). */
  takeDeferral(): boolean {
    const deferred = this.deferred;
    this.deferred = false;
    return deferred;
  }

  /** Syncs performed so far (for benchmarks: appends per sync is the group-commit factor). */
  count(): number {
    return this.syncs;
  }

  async close(): Promise<void> {
    await this.current?.catch(() => {});
    await this.waiting?.catch(() => {});
    await this.file?.close();
    this.file = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const sync = this.sync();
    this.current = sync;
    void sync
      .catch(() => {})
      .finally(() => {
        if (this.current === sync) this.current = undefined;
      });
    return sync;
  }

  private async sync(): Promise<void> {
    this.syncs++;
    try {
      if (!this.file) {
        try {
          this.file = await open(this.walPath, 'r');
        } catch (error) {
          // No WAL file yet: nothing was ever committed in WAL mode, so there is nothing to make durable.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
      }
      await this.file.datasync();
    } catch (error) {
      this.failure = new Error(`cannot sync the SQLite write-ahead log ${this.walPath}`, { cause: error });
      throw this.failure;
    }
  }
}

/**
 * Kysely's SQLite dialect, with every COMMIT and every write outside a transaction made durable (`WalSync`)
 * before its promise resolves. The connection stays held until then, as it would inside a synchronous COMMIT,
 * but the event loop runs meanwhile.
 */
export class DurableSqliteDialect extends SqliteDialect {
  /** `config.database` may wrap `handle` (e.g. a statement cache); `handle` is the connection itself. */
  constructor(
    config: SqliteDialectConfig & { database: SQLite.Database },
    private readonly handle: SQLite.Database,
    private readonly walSync: WalSync,
  ) {
    super(config);
    this.statements = config.database;
  }

  private readonly statements: SQLite.Database;

  override createDriver(): Driver {
    return new DurableDriver(super.createDriver(), this.handle, this.statements, this.walSync);
  }
}

class DurableDriver implements Driver {
  private readonly patched = new WeakSet<DatabaseConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly handle: SQLite.Database,
    private readonly statements: SQLite.Database,
    private readonly walSync: WalSync,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection();
    if (!this.patched.has(connection)) {
      this.patched.add(connection);
      const execute = connection.executeQuery.bind(connection);
      const { handle, statements, walSync } = this;
      connection.executeQuery = async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
        // A transaction that rolls back (Kysely rolls back when its COMMIT fails too) leaves no deferral behind.
        if (query.sql === 'rollback') {
          walSync.takeDeferral();
          return execute<R>(query);
        }
        const result = await execute<R>(query);
        // A write that just became committed: COMMIT itself, or a data change outside any transaction.
        if (!handle.inTransaction && !statements.prepare(query.sql).reader && !walSync.takeDeferral())
          await walSync.durable();
        return result;
      };
    }
    return connection;
  }

  beginTransaction: Driver['beginTransaction'] = (connection, settings) =>
    this.inner.beginTransaction(connection, settings);
  commitTransaction: Driver['commitTransaction'] = (connection) => this.inner.commitTransaction(connection);
  rollbackTransaction: Driver['rollbackTransaction'] = (connection) =>
    this.inner.rollbackTransaction(connection);
  savepoint: NonNullable<Driver['savepoint']> = (connection, name, compile) =>
    this.inner.savepoint!(connection, name, compile);
  rollbackToSavepoint: NonNullable<Driver['rollbackToSavepoint']> = (connection, name, compile) =>
    this.inner.rollbackToSavepoint!(connection, name, compile);
  releaseSavepoint: NonNullable<Driver['releaseSavepoint']> = (connection, name, compile) =>
    this.inner.releaseSavepoint!(connection, name, compile);
  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(connection);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
