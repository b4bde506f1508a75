// Durable audit appends: one sequential writer and 64 concurrent writers, on SQLite (synchronous=FULL) and
// PostgreSQL, each beside a baseline measured in the same run: a plain INSERT of the same bytes, one row per
// transaction, with the same concurrency.
//
//   node --conditions=vigil-source --import tsx bench/ledger-append.ts [--seconds 5] [--only sqlite|postgres]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { canonicalBytes, leafHash } from '@vigil/ledger';
import { sql } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { auditIndexRow, type AuditIndexRow } from '../packages/server/src/audit/index-row.js';
import { LedgerStore } from '../packages/server/src/ledger/ledger-store.js';
import {
  sqliteDirect,
  storedLevel,
  type EntryRow,
  type NodeRow,
} from '../packages/server/src/ledger/tree-store.js';
import { openStorage, type Storage } from '../packages/server/src/storage/storage.js';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '4' }, only: { type: 'string' } },
});
const SECONDS = Number(args.seconds);
const PG_URL = process.env.VIGIL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A realistic audit record: ≈ 300 bytes of canonical JSON. */
function record(n: number) {
  return {
    event: 'environment-open',
    time: 1764000000000 + n,
    description: `Opened environment "payments/prod" at revision ${n % 97}`,
    actor: { login: 'alice', name: 'Alice Example', tokenId: 'tok_4b1d', tokenName: 'ci-deploy' },
    sourceIP: '203.0.113.42',
    userAgent: 'esc-sdk/0.12.4',
    requestId: `req-${n}`,
    resource: { project: 'payments', environment: 'prod', revision: n % 97 },
    outcome: 'success',
  };
}

/** Record numbers are unique across the whole run (the baseline table's primary key). */
let n = 0;

interface Figures {
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Runs `writers` loops of `op` for SECONDS; returns throughput and latency percentiles (ms). */
async function measure(writers: number, op: (n: number) => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    [...Array(writers)].map(async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op(n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
  return { count: latencies.length, perSecond: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

function row(label: string, f: Figures, base?: Figures, goal?: string): void {
  const ratio = base ? `  ×${(f.perSecond / base.perSecond).toFixed(2)} of baseline` : '';
  console.log(
    `  ${label.padEnd(38)} ${Math.round(f.perSecond).toLocaleString('en-US').padStart(9)}/s` +
      `  p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms${ratio}${goal ? `   (goal ${goal})` : ''}`,
  );
}

async function baselineTable(storage: Storage): Promise<(n: number) => Promise<unknown>> {
  if (storage.sqlite) {
    // A database file of its own beside Vigil's, WAL with synchronous=FULL: the plain durable way (Vigil's writer
    // runs NORMAL and syncs the log itself before acknowledging; see WalSync). better-sqlite3 autocommits each
    // statement: one durable transaction per row.
    const plain = new SQLite(join(storage.sqlite.name, '..', 'plain.db'));
    plain.pragma('journal_mode = WAL');
    plain.pragma('synchronous = FULL');
    plain.exec('CREATE TABLE bench_plain (id integer primary key, data blob not null)');
    const insert = plain.prepare('INSERT INTO bench_plain (id, data) VALUES (?, ?)');
    return async (n) => insert.run(n, canonicalBytes(record(n)));
  }
  await sql`CREATE TABLE bench_plain (id integer primary key, data bytea not null)`.execute(storage.db);
  const pool = storage.pool!;
  return (n) =>
    pool.query('INSERT INTO bench_plain (id, data) VALUES ($1, $2)', [
      n,
      Buffer.from(canonicalBytes(record(n))),
    ]);
}

/**
 * The floor (see the top): one transaction per call holding `count` appends' rows, written with the sequencer's
 * own statements (`sqliteDirect`) and made durable as the sequencer makes them. Records, hashes and index rows
 * are prepared before the clock starts; indexes continue one log from 0.
 */
async function rawAppends(
  dir: string,
): Promise<{ write: (count: number) => void; close: () => Promise<void> }> {
  const storage = await openStorage({ dataDir: dir });
  const handle = storage.sqlite!;
  const walSync = storage.walSync!;
  handle.prepare("INSERT INTO ledger_logs (org, created_at) VALUES ('floor', 0)").run();
  const logId = Number(handle.prepare("SELECT id FROM ledger_logs WHERE org = 'floor'").pluck().get());
  const direct = sqliteDirect(handle);
  const pool = [...Array(1024).keys()].map((k) => {
    const data = canonicalBytes(record(k));
    return { data, hash: leafHash(data), event: auditIndexRow(logId, 0, record(k))! };
  });
  let size = 0;
  return {
    write(count) {
      const entries: EntryRow[] = [];
      const nodes: Array<NodeRow & { logId: number }> = [];
      const events: AuditIndexRow[] = [];
      for (let k = 0; k < count; k++, size++) {
        const row = pool[size % pool.length]!;
        entries.push({ logId, index: size, data: row.data });
        // The hashes an append writes: its leaf, and each subtree it completes on a stored level.
        for (let level = 0; level === 0 || (size + 1) % 2 ** level === 0; level++)
          if (storedLevel(level))
            nodes.push({ logId, level, index: (size + 1) / 2 ** level - 1, hash: row.hash });
        events.push({ ...row.event, index: size });
      }
      direct.transaction(() => direct.insert(entries, nodes, events));
      walSync.durableNow();
    },
    close: () => storage.close(),
  };
}

async function benchSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  try {
    const storage = await openStorage({ dataDir: dir });
    const plain = await baselineTable(storage);
    const ledger = new LedgerStore(storage);
    console.log(
      `SQLite (WAL; baseline synchronous=FULL; Vigil NORMAL + an fdatasync of the log before answering), ${SECONDS} s per figure`,
    );
    const base1 = await measure(1, plain);
    row('baseline: plain INSERT, 1 writer', base1);
    const floor = await rawAppends(join(dir, 'floor'));
    row("floor: an append's rows, 1 a commit", await measure(1, async () => floor.write(1)), base1);
    const syncs = () => storage.walSync!.count();
    let s0 = syncs();
    const one = await measure(1, (n) => ledger.append('bench-1', record(n)));
    row('ledger append, 1 writer', one, base1, '≥ 5,000/s, p99 ≤ 1 ms');
    console.log(`    ${(one.count / (syncs() - s0)).toFixed(1)} appends per WAL sync`);
    const base64 = await measure(64, plain);
    row('baseline: plain INSERT, 64 writers', base64);
    // 64 appends a commit: what group commit at 64 writers could reach if nothing but the database did work.
    const floor64 = await measure(1, async () => floor.write(64));
    row("floor: 64 appends' rows a commit", { ...floor64, perSecond: floor64.perSecond * 64 }, base64);
    await floor.close();
    s0 = syncs();
    const many = await measure(64, (n) => ledger.append('bench-64', record(n)));
    row('ledger append, 64 writers', many, base64, '≥ 50,000/s, p99 ≤ 5 ms');
    console.log(`    ${(many.count / (syncs() - s0)).toFixed(1)} appends per WAL sync (group commit)`);
    await ledger.close();
    await storage.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(): Promise<void> {
  const schema = `vbench_${process.pid}`;
  const storage = await openStorage({ databaseUrl: PG_URL, schema, poolSize: 64 });
  try {
    const plain = await baselineTable(storage);
    const ledger = new LedgerStore(storage);
    console.log(`PostgreSQL (${PG_URL.replace(/\/\/[^@]*@/, '//')}), ${SECONDS} s per figure`);
    const base1 = await measure(1, plain);
    row('baseline: plain INSERT, 1 writer', base1);
    row('ledger append, 1 writer', await measure(1, (n) => ledger.append('bench-1', record(n))), base1);
    const base64 = await measure(64, plain);
    row('baseline: plain INSERT, 64 writers', base64);
    row(
      'ledger append, 64 writers',
      await measure(64, (n) => ledger.append('bench-64', record(n))),
      base64,
      '≥ 10,000/s',
    );
    await ledger.close();
  } finally {
    await storage.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}

if (args.only !== 'postgres') await benchSqlite();
if (args.only !== 'sqlite') await benchPostgres();
