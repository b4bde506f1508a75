import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PREPARED_PER_CONNECTION } from '../src/storage/prepared-statements.js';
import type { Storage } from '../src/storage/storage.js';
import { POSTGRES_AVAILABLE, testDatabase, type TestDatabase } from './support/databases.js';

describe.skipIf(!POSTGRES_AVAILABLE)('PostgreSQL statements prepared once per connection', () => {
  let db: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage.close();
    await db.drop();
  });

  /** The statements the (single) connection holds: Vigil's, named by their text's hash. */
  const held = async () =>
    (
      await sql<{
        name: string;
        statement: string;
      }>`SELECT name, statement FROM pg_prepared_statements`.execute(storage.db)
    ).rows.filter((r) => r.name.startsWith('vigil_'));

  it('prepares each statement with parameters once and reuses it; transaction control and DDL run unnamed', async () => {
    db = testDatabase('postgres');
    storage = await db.open({ poolSize: 1 });
    const find = (login: string) =>
      storage.db.selectFrom('iam_users').select(['login']).where('login_key', '=', login).execute();
    expect(await find('nobody')).toEqual([]);
    await storage.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('iam_users')
        .values({ login: 'Alice', login_key: 'alice', name: 'Alice', created_at: 1, updated_at: 1 })
        .execute();
    });
    expect(await find('alice')).toEqual([{ login: 'Alice' }]);
    expect(await find('alice')).toEqual([{ login: 'Alice' }]);
    const statements = await held();
    // The select once, however often it ran, and the insert (besides the migrations' own); no BEGIN or COMMIT.
    expect(statements.map((s) => s.statement).filter((t) => t.includes('"iam_users"'))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^insert into "iam_users"/),
        expect.stringMatching(/^select "login" from "iam_users"/),
      ]),
    );
    expect(statements.filter((s) => s.statement.includes('"iam_users"'))).toHaveLength(2);
    expect(statements.filter((s) => /^\s*(begin|commit|rollback)/i.test(s.statement))).toEqual([]);
    expect(new Set(statements.map((s) => s.name)).size).toBe(statements.length);
  });

  it(`holds at most ${PREPARED_PER_CONNECTION} statements a connection, and runs the others unnamed`, async () => {
    db = testDatabase('postgres');
    storage = await db.open({ poolSize: 1 });
    for (let k = 0; k < PREPARED_PER_CONNECTION + 20; k++) {
      // A statement built with a literal: a new text each time.
      const { rows } = await sql<{ n: number }>`SELECT ${sql.lit(k)}::int + ${1}::int AS n`.execute(
        storage.db,
      );
      expect(rows).toEqual([{ n: k + 1 }]);
    }
    expect(await held()).toHaveLength(PREPARED_PER_CONNECTION);
  });

  it('after another instance changes a table, fails a prepared SELECT * once, then runs it unnamed', async () => {
    db = testDatabase('postgres');
    storage = await db.open({ poolSize: 1 });
    await sql`CREATE TABLE prepared_probe (a integer)`.execute(storage.db);
    await sql`INSERT INTO prepared_probe VALUES (${1})`.execute(storage.db);
    const all = () =>
      storage.db
        .selectFrom('prepared_probe' as never)
        .selectAll()
        .where('a' as never, '=', 1 as never)
        .execute();
    expect(await all()).toEqual([{ a: 1 }]);
    // Another process migrates the table.
    const other = new pg.Client({ connectionString: db.databaseUrl, options: `-c search_path=${db.schema}` });
    await other.connect();
    await other.query('ALTER TABLE prepared_probe ADD COLUMN b integer');
    await other.end();
    await expect(all()).rejects.toMatchObject({ code: '0A000' });
    expect(await all()).toEqual([{ a: 1, b: null }]);
    expect(await all()).toEqual([{ a: 1, b: null }]);
  });
});
