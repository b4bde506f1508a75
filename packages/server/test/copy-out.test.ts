import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockEntries, copyOut, copySocket } from '../src/audit/copy-rows.js';
import { POSTGRES_AVAILABLE, POSTGRES_URL } from './support/databases.js';

const SCHEMA = `vt_copy_out_${process.pid}`;
const options = `-c search_path=${SCHEMA}`;

/** Rows of every size a block meets: tiny, ordinary, larger than a block, non-ASCII, and bytes that are not UTF-8. */
function entry(i: number): Buffer {
  if (i % 97 === 13) return Buffer.from('x'.repeat(3000 + i));
  if (i % 89 === 7) return Buffer.from([0xff, 0xfe, i & 0xff]);
  if (i % 5 === 0) return Buffer.from(`ünïcødé 🔐 ${i}`);
  return Buffer.from(`{"i":${i}}`);
}
const ROWS = 2000;

async function connect(socket: boolean): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: POSTGRES_URL,
    options,
    ...(socket ? { stream: copySocket } : {}),
  });
  await client.connect();
  return client;
}

async function read(client: pg.Client, text: string, blockBytes: number) {
  const out: Array<{ index: number; data: string }> = [];
  const sizes: Array<{ bytes: number; count: number }> = [];
  for await (const block of copyOut(client, text, blockBytes)) {
    sizes.push({ bytes: block.bytes.byteLength, count: block.count });
    out.push(...blockEntries(block));
  }
  return { out, sizes };
}

const ALL = 'COPY (SELECT idx, data FROM entries ORDER BY idx DESC) TO STDOUT (FORMAT binary)';
const expected = Array.from({ length: ROWS }, (_, k) => ROWS - 1 - k).map((i) => ({
  index: i,
  data: entry(i).toString('utf8'),
}));

describe.skipIf(!POSTGRES_AVAILABLE)('COPY out of PostgreSQL', () => {
  beforeAll(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA ${SCHEMA}`);
    await client.query(`CREATE TABLE ${SCHEMA}.entries (idx bigint PRIMARY KEY, data bytea NOT NULL)`);
    const indexes = Array.from({ length: ROWS }, (_, i) => i);
    await client.query(`INSERT INTO ${SCHEMA}.entries SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
      indexes,
      indexes.map(entry),
    ]);
    // A function that sends a notice for some rows: NoticeResponse messages amid the COPY's data.
    await client.query(`CREATE FUNCTION ${SCHEMA}.noisy(i bigint) RETURNS bigint LANGUAGE plpgsql AS $$
      BEGIN IF i % 500 = 0 THEN RAISE NOTICE 'row %', i; END IF; RETURN i; END $$`);
    await client.end();
  });

  afterAll(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await client.end();
  });

  for (const socket of [true, false])
    describe(socket ? 'through a copySocket (reads into one buffer)' : "through pg's own socket", () => {
      it('yields every row in order, in blocks of whole rows, whatever the block size; the client is usable after', async () => {
        const client = await connect(socket);
        try {
          for (const blockBytes of [64, 4096, 256 * 1024]) {
            const { out, sizes } = await read(client, ALL, blockBytes);
            expect(out).toEqual(expected);
            // A block holds at most blockBytes, unless it is one row larger than that.
            for (const { bytes, count } of sizes) if (bytes > blockBytes) expect(count).toBe(1);
            expect(sizes.length).toBeGreaterThan(blockBytes === 64 ? ROWS / 2 : 0);
            // The connection is back in the client's hands.
            expect((await client.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
          }
          // Notices amid the data are skipped; an empty result is a header and a trailer.
          const noisy = await read(
            client,
            'COPY (SELECT noisy(idx), data FROM entries ORDER BY idx DESC) TO STDOUT (FORMAT binary)',
            4096,
          );
          expect(noisy.out).toEqual(expected);
          expect(
            (
              await read(
                client,
                'COPY (SELECT idx, data FROM entries WHERE false) TO STDOUT (FORMAT binary)',
                4096,
              )
            ).out,
          ).toEqual([]);
        } finally {
          await client.end();
        }
      });

      it("throws the server's error when the statement fails midway, and the client is usable after", async () => {
        const client = await connect(socket);
        try {
          const text =
            'COPY (SELECT idx / (idx - 700), data FROM entries ORDER BY idx DESC) TO STDOUT (FORMAT binary)';
          const seen: number[] = [];
          const error = await (async () => {
            for await (const block of copyOut(client, text, 4096))
              seen.push(...blockEntries(block).map((e) => e.index));
          })().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect((error as { code?: string }).code).toBe('22012'); // division_by_zero
          expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
          // What was yielded before the error is whole rows.
          for (const index of seen) expect(index).toBeGreaterThanOrEqual(0);
        } finally {
          await client.end();
        }
      });

      it('stops when the consumer stops: ending the client closes the connection and the server ends the statement', async () => {
        const client = await connect(socket);
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        // A long COPY (a million rows), read one block and abandoned.
        const text =
          "COPY (SELECT g::bigint, convert_to(repeat('x', 200), 'UTF8') FROM generate_series(1, 1000000) AS g) TO STDOUT (FORMAT binary)";
        for await (const block of copyOut(client, text, 4096)) {
          expect(block.count).toBeGreaterThan(0);
          break;
        }
        await client.end();
        const observer = new pg.Client({ connectionString: POSTGRES_URL });
        await observer.connect();
        try {
          for (let tries = 0; ; tries++) {
            const { rowCount } = await observer.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
            if (rowCount === 0) break;
            if (tries > 200) throw new Error(`backend ${pid} still there`);
            await new Promise((r) => setTimeout(r, 50));
          }
        } finally {
          await observer.end();
        }
      });
    });
});
