// Reading the audit log at scale (issue #6): one organization's log loaded with realistic records through the real
// sequencer (`LedgerStore.append`), then a server in its own process on that database answers, one request at a
// time: the newest page, the filters, `q`, a time range and a deep page, at the full size and at 10,000 events (a
// second database holding the first 10,000 records, with a server of its own; the two take turns, see `bench`),
// for the growth ratio; the whole log as CSV (rows/s, the server's CPU a row and peak RSS growth); and a webhook
// log stream's delivery lag at 1,000 audited requests/s. Baselines from the same run: a plain `SELECT … ORDER BY
// idx DESC LIMIT 100` of the same log's entries on a connection of the bench's own, a plain keyset SELECT streaming
// every entry, the audited request's own latency.
//
// The bench loads with the server stopped and measures with its storage closed: a SQLite database has one server
// process (storage.ts, `ownDatabase`), so the bench never writes beside it.
//
//   node --conditions=vigil-source --import tsx bench/auditlog.ts [--events 1000000] [--only sqlite|postgres]
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { LedgerStore } from '../packages/server/src/ledger/ledger-store.js';
import type { Database } from '../packages/server/src/storage/schema.js';
import { openStorage, SQLITE_FILE, type StorageOptions } from '../packages/server/src/storage/storage.js';
import { BENCH_TOKEN, cpuSeconds, startServerProcess } from './support/server-process.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    // A p95 is the 25th-slowest of 500 requests: of 200 (the 10th), it moved by a third between runs of one case.
    requests: { type: 'string', default: '500' },
    only: { type: 'string' },
    parts: { type: 'string', default: 'listings,export,lag' },
  },
});
const EVENTS = Number(args.events);
/** Which measurements to run (`--parts=export`: only the exports, after loading every event). */
const PARTS = new Set(args.parts.split(','));
for (const part of PARTS)
  if (!['listings', 'export', 'lag'].includes(part))
    throw new Error(`--parts takes listings, export and lag, separated by commas: not "${part}"`);
const SMALL = Math.min(10_000, EVENTS);
const REQUESTS = Number(args.requests);
const PG_URL = process.env.VIGIL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = BENCH_TOKEN;
const ORG = 'acme';
const DAY = 86_400_000;
const SPAN = 90 * DAY;
/** Loaded records span the 90 days before the run started. */
const T0 = Date.now() - SPAN - DAY;
const LAG_RATE = 1000;
const LAG_SECONDS = 10;

// ---------------------------------------------------------------- records

const LOGINS = Array.from({ length: 200 }, (_, i) => `user-${String(i).padStart(3, '0')}`);
/**
 * Automation identities (deploy pipelines): few, and busy, as in a real organization's log, where most opens come
 * from CI. Each does 10% of everything, so a filter on one of them fills a page at 10,000 events as at 1,000,000:
 * the like-for-like case for growth (a person's filter returns a dozen rows at 10,000 and a full page at 1,000,000).
 */
const BOTS = ['ci-deploy-0', 'ci-deploy-1', 'ci-deploy-2'];
const ENVS = Array.from({ length: 500 }, (_, i) => ({
  project: `svc-${i % 50}`,
  environment: `stage-${Math.floor(i / 50)}`,
}));
/** Five hot environments (production ones, say): 30% of the records about an environment, 6% each. */
const HOT_ENVS = ENVS.slice(0, 5);
const OTHER_ENVS = ENVS.slice(5);
/** [event, weight, is about an environment] */
const EVENTS_MIX: ReadonlyArray<readonly [string, number, boolean]> = [
  ['environment-open', 30, true],
  ['environment-read', 20, true],
  ['environment-read-open', 8, true],
  ['environment-updated', 8, true],
  ['environment-decrypted', 4, true],
  ['environment-created', 2, true],
  ['environment-deleted', 1, true],
  ['environment-revision-tag-created', 2, true],
  ['environment-revision-tag-open', 2, true],
  ['environment-tag-created', 1, true],
  ['environment-rotated', 2, true],
  ['environment-unauthorized-open', 2, true],
  ['auth-failure-environment', 2, true],
  ['user-login', 8, false],
  ['user-login-failed', 2, false],
  ['personal-token-created', 2, false],
  ['personal-token-deleted', 1, false],
  ['organization-token-created', 1, false],
];
const WEIGHTED = EVENTS_MIX.flatMap((e) => Array<(typeof EVENTS_MIX)[number]>(e[1]).fill(e));
const AGENTS = [
  'esc-sdk/0.12.4',
  'pulumi-cli/3.140.0',
  'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0',
  'curl/8.5',
];

/** A deterministic pseudo-random number in [0, 1) for record `n`, stream `k`. */
function rnd(n: number, k: number): number {
  let x = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k + 1, 0xc2b2ae35);
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}
const pick = <T>(list: readonly T[], n: number, k: number): T => list[Math.floor(rnd(n, k) * list.length)]!;

/** Loaded record `n` of `EVENTS`: the shape packages/protocol/src/audit-record.ts describes. */
function record(n: number, time = T0 + Math.floor((n * SPAN) / EVENTS), requestId = `req-${n}`) {
  const [event, , aboutEnv] = pick(WEIGHTED, n, 0);
  const bot = rnd(n, 10) < 0.3;
  const login = bot ? pick(BOTS, n, 1) : pick(LOGINS, n, 1);
  const env = pick(rnd(n, 11) < 0.3 ? HOT_ENVS : OTHER_ENVS, n, 2);
  const revision = 1 + Math.floor(rnd(n, 3) * 200);
  const denied =
    event.includes('unauthorized') || event.startsWith('auth-failure') || event.endsWith('-failed');
  return {
    v: 1,
    time,
    org: ORG,
    event,
    description: aboutEnv
      ? `${event} of environment "${env.project}/${env.environment}" at revision ${revision}`
      : `${event} by ${login}`,
    actor: {
      kind: 'user',
      login,
      name: bot ? `Deploy pipeline ${login.slice(10)}` : `User ${login.slice(5)}`,
      ...(bot || rnd(n, 4) < 0.5
        ? { tokenId: `tok_${login}`, tokenName: 'ci-deploy', tokenKind: 'personal' }
        : {}),
    },
    sourceIP:
      rnd(n, 5) < 0.9
        ? `10.${Math.floor(rnd(n, 6) * 4)}.${Math.floor(rnd(n, 7) * 250)}.${1 + Math.floor(rnd(n, 8) * 250)}`
        : `2001:db8::${Math.floor(rnd(n, 6) * 65535).toString(16)}`,
    userAgent: pick(AGENTS, n, 9),
    requestId,
    ...(aboutEnv ? { resource: { project: env.project, environment: env.environment, revision } } : {}),
    outcome: denied ? 'denied' : 'success',
    ...(denied ? { authFailure: true } : {}),
  };
}

/** Appends records `from` … `to − 1` with many concurrent appends (the sequencer batches them). */
async function load(ledger: LedgerStore, from: number, to: number): Promise<number> {
  const start = performance.now();
  let next = from;
  await Promise.all(
    [...Array(4096)].map(async () => {
      while (next < to) await ledger.append(ORG, record(next++));
    }),
  );
  return ((to - from) * 1000) / (performance.now() - start);
}

// ---------------------------------------------------------------- figures

interface Latency {
  p50: number;
  p95: number;
  /** Rows in the last answer, for listings. */
  rows?: number;
}

function percentiles(samples: number[]): Latency {
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95) };
}

/** Requests a side takes in a row before the next side's turn (`timedSides`). */
const BATCH = 10;

/** The order the sides take their turns in round `round`: rotated every round, so that none always goes first. */
function turns(sides: number, round: number): number[] {
  return Array.from({ length: sides }, (_, k) => (k + round) % sides);
}

/**
 * Times `times` calls of each side's `op` (after 10 untimed ones each), the sides taking turns `BATCH` calls at a
 * time: whatever the machine does meanwhile falls on every side alike.
 */
async function timedSides(
  times: number,
  ops: ReadonlyArray<(i: number) => Promise<unknown>>,
): Promise<Latency[]> {
  for (const op of ops) for (let i = 0; i < Math.min(10, times); i++) await op(i);
  const samples: number[][] = ops.map(() => []);
  for (let done = 0, round = 0; done < times; done += BATCH, round++)
    for (const s of turns(ops.length, round))
      for (let i = done; i < Math.min(times, done + BATCH); i++) {
        const t = performance.now();
        await ops[s]!(i);
        samples[s]!.push(performance.now() - t);
      }
  return samples.map(percentiles);
}

/** A duration for a column, with a space before it however wide it is. */
const ms = (x: number) => ` ${`${x.toFixed(2)} ms`.padStart(9)}`;
const count = (x: number) => Math.round(x).toLocaleString('en-US');

/**
 * One figure's row. Growth (10k → 1M) is printed on p95, and on p50 beside it: a p95 of a few hundred requests of a
 * few milliseconds moves by a fifth to a third between two runs of the same case, so the p95 ratio of two such figures can land
 * either side of 2× by chance; the medians' ratio is the steadier reading of how latency grows with the log.
 * Growth compares like with like: a listing that returned fewer rows at 10,000 events than at 1,000,000 (a person's
 * dozen rows against a full page) measures the answer's size as much as the log's, so its ratio is printed as such
 * and not held to the goal; the automation identities' and hot environments' cases are the same filters with a
 * full page at both sizes.
 */
function latencyRow(label: string, f: Latency, base: Latency, goal: string, before?: Latency): void {
  const ratios = before
    ? `×${(f.p95 / before.p95).toFixed(2)} on p95, ×${(f.p50 / before.p50).toFixed(2)} on p50`
    : '';
  const growth = !before
    ? ''
    : before.rows === f.rows
      ? `  growth ${ratios} (goal ≤ 2×)`
      : `  ${ratios}, not like for like: ${before.rows} rows at ${count(SMALL)} events`;
  const rows = f.rows === undefined ? '' : ` (${f.rows} rows)`;
  console.log(
    `  ${(label + rows).padEnd(44)} p50${ms(f.p50)}  p95${ms(f.p95)}  ×${(f.p95 / base.p95).toFixed(1)} of baseline` +
      `   (goal p95 ≤ ${goal})${growth}`,
  );
}

// ---------------------------------------------------------------- the server

const headers = { authorization: `token ${TOKEN}` };

/** One connection, kept open, for the sequential requests (as a client that pages through the log keeps one). */
const sequential = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * A listing, through node:http and `JSON.parse`, as the export and stream-lag loads are made: `fetch` (undici,
 * web streams) took 2.2–2.9 ms of the bench's CPU a request here against 1.2–1.3 ms, on the two cores the server
 * shares, and added 0.5–2 ms to the latency measured.
 */
function getJson(url: string): Promise<{ auditLogEvents: unknown[]; continuationToken?: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { agent: sequential, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode !== 200) reject(new Error(`${url}: HTTP ${response.statusCode} ${text}`));
        else resolve(JSON.parse(text) as { auditLogEvents: unknown[]; continuationToken?: string });
      });
    })
      .on('error', reject)
      .end();
  });
}

/** A GET with the bench's token through `agent`; resolves with the status once the body has been read. */
function get(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** Resident set size of a process, in bytes. */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

// ---------------------------------------------------------------- the measurements

type Queries = Record<string, Latency>;

const TIME_RANGE = 'startTime/endTime (1% of the log)';
const envQuery = (env: { project: string; environment: string }) =>
  encodeURIComponent(`env:${env.project}/${env.environment}`);
const actorOpens = (login: string) => encodeURIComponent(`actor:${login} event:environment-open`);

/** One database under measurement during the listings: the log's size, its server, and a reader beside it. */
interface Side {
  readonly loaded: number;
  readonly url: string;
  readonly reader: Kysely<Database>;
  readonly logId: number;
}

/**
 * Sequential requests: each listing, and the plain-SELECT baseline of the same number of rows, on every side (the
 * 10,000-event log and the full one) in turn, `BATCH` requests at a time (`timedSides`).
 */
async function listings(sides: readonly Side[]): Promise<void> {
  const timeAt = (n: number) => Math.floor((T0 + Math.floor((n * SPAN) / EVENTS)) / 1000);
  const figures: Queries[] = sides.map(() => ({}));
  const first: number[] = [];
  const bases = await timedSides(
    REQUESTS,
    sides.map(
      ({ reader, logId }) =>
        () =>
          reader
            .selectFrom('ledger_entries')
            .select(['idx', 'data'])
            .where('log_id', '=', logId)
            .orderBy('idx', 'desc')
            .limit(100)
            .execute(),
    ),
  );
  sides.forEach((_, s) => (figures[s]!.baseline = bases[s]!));
  const cases: Array<[string, string, (i: number, side: Side) => string]> = [
    ['newest page of 100', '10 ms', () => `?startTime=0`],
    ['userFilter=<person>', '50 ms', (i) => `?startTime=0&userFilter=${LOGINS[i % LOGINS.length]}`],
    ['userFilter=<pipeline>', '50 ms', (i) => `?startTime=0&userFilter=${BOTS[i % BOTS.length]}`],
    ['eventFilter=environment-updated', '50 ms', () => `?startTime=0&eventFilter=environment-updated`],
    ['q=env:<environment>', '50 ms', (i) => `?startTime=0&q=${envQuery(OTHER_ENVS[i % OTHER_ENVS.length]!)}`],
    ['q=env:<hot environment>', '50 ms', (i) => `?startTime=0&q=${envQuery(HOT_ENVS[i % HOT_ENVS.length]!)}`],
    [
      TIME_RANGE,
      '50 ms',
      (_, side) => `?startTime=${timeAt(side.loaded * 0.495)}&endTime=${timeAt(side.loaded * 0.505)}`,
    ],
    [
      'q=actor:<person> event:environment-open',
      '50 ms',
      (i) => `?startTime=0&q=${actorOpens(LOGINS[i % LOGINS.length]!)}`,
    ],
    [
      'q=actor:<pipeline> event:environment-open',
      '50 ms',
      (i) => `?startTime=0&q=${actorOpens(BOTS[i % BOTS.length]!)}`,
    ],
  ];
  const v2 = (side: Side) => `${side.url}/api/orgs/${ORG}/auditlogs/v2`;
  for (const side of sides) {
    // The first time-bounded request brings the log's time summary up to date (audit-query.ts): once per log and
    // server process, then block by block as the log grows. Timed alone, after requests with no time bound.
    for (let i = 0; i < 20; i++) await getJson(`${v2(side)}?userFilter=${LOGINS[i]}`);
    const t = performance.now();
    await getJson(v2(side) + cases.find(([label]) => label === TIME_RANGE)![2](0, side));
    first.push(performance.now() - t);
    // Warm the server up (JIT, caches) on every query before timing any.
    for (const [, , path] of cases) for (let i = 0; i < 20; i++) await getJson(v2(side) + path(i, side));
  }
  for (const [label, , path] of cases) {
    const rows = sides.map(() => 0);
    const latencies = await timedSides(
      REQUESTS,
      sides.map(
        (side, s) => async (i: number) =>
          (rows[s] = (await getJson(v2(side) + path(i, side))).auditLogEvents.length),
      ),
    );
    sides.forEach((_, s) => (figures[s]![label] = { ...latencies[s]!, rows: rows[s] }));
  }
  // A deep page: follow the continuation token 50 pages back, every page timed; a round of 50 on each side in turn.
  const pages: number[][] = sides.map(() => []);
  for (let round = 0; round < Math.max(1, Math.round(REQUESTS / 50)); round++) {
    for (const s of turns(sides.length, round)) {
      let token: string | undefined;
      for (let page = 0; page < 50; page++) {
        const t = performance.now();
        const body = await getJson(
          `${v2(sides[s]!)}?startTime=0${token ? `&continuationToken=${token}` : ''}`,
        );
        pages[s]!.push(performance.now() - t);
        token = body.continuationToken;
        if (!token) break;
      }
    }
  }
  sides.forEach((_, s) => (figures[s]!.deep = percentiles(pages[s]!)));

  sides.forEach((side, s) => {
    const own = figures[s]!;
    const before = s > 0 ? figures[0] : undefined;
    const base = own.baseline!;
    console.log(`at ${count(side.loaded)} events:`);
    console.log(
      `  ${'baseline: SELECT … ORDER BY idx DESC LIMIT 100'.padEnd(44)} p50${ms(base.p50)}  p95${ms(base.p95)}   (the bench's own connection)`,
    );
    console.log(
      `  ${'first time-bounded request (summary catch-up)'.padEnd(44)}    ${ms(first[s]!)}   (once per log and process)`,
    );
    for (const [label, goal] of cases) latencyRow(label, own[label]!, base, goal, before?.[label]);
    latencyRow('pages 1–50 by continuation token', own.deep!, base, '10 ms', before?.deep);
  });
}

async function exportCsv(reader: Kysely<Database>, logId: number, url: string, pid: number): Promise<void> {
  // Baseline: a plain keyset SELECT streaming every entry of the log, 1,000 rows a query.
  let start = performance.now();
  let plain = 0;
  let before: number | undefined;
  for (;;) {
    let query = reader
      .selectFrom('ledger_entries')
      .select(['idx', 'data'])
      .where('log_id', '=', logId)
      .orderBy('idx', 'desc')
      .limit(1000);
    if (before !== undefined) query = query.where('idx', '<', before);
    const rows = await query.execute();
    plain += rows.length;
    if (rows.length < 1000) break;
    before = Number(rows.at(-1)!.idx);
  }
  const plainRate = (plain * 1000) / (performance.now() - start);
  console.log(
    `  ${'baseline: plain SELECT streaming every entry'.padEnd(44)} ${count(plainRate).padStart(9)} rows/s`,
  );

  // The server's first export (it starts the render thread), then another from the warm server.
  for (const label of ['CSV export', 'CSV export again']) {
    const rssBefore = rss(pid);
    let peak = rssBefore;
    const poll = setInterval(() => (peak = Math.max(peak, rss(pid))), 20);
    const cpuBefore = cpuSeconds(pid);
    start = performance.now();
    const { lines, bytes } = await exportLines(`${url}/api/orgs/${ORG}/auditlogs/v2/export?format=csv`);
    const seconds = (performance.now() - start) / 1000;
    const cpuAfter = cpuSeconds(pid);
    clearInterval(poll);
    const rows = lines - 1;
    // The server's CPU a row (every thread): the machine's load moves it less than the rate.
    const cpu =
      cpuBefore === undefined || cpuAfter === undefined
        ? ''
        : `, server CPU ${(((cpuAfter - cpuBefore) * 1e6) / rows).toFixed(2)} µs a row`;
    console.log(
      `  ${`${label} (${count(rows)} rows, ${(bytes / 2 ** 20).toFixed(0)} MiB gzip)`.padEnd(44)} ${count(rows / seconds).padStart(9)} rows/s` +
        `  ×${(rows / seconds / plainRate).toFixed(2)} of baseline   (goal ≥ 200,000 rows/s${cpu})`,
    );
    console.log(
      `  ${'  server peak RSS growth during the export'.padEnd(44)} ${((peak - rssBefore) / 1e6).toFixed(1).padStart(9)} MB` +
        `   (goal ≤ 64 MB, 10^6 bytes; ${((peak - rssBefore) / 2 ** 20).toFixed(1)} MiB; RSS before: ${(rssBefore / 1e6).toFixed(0)} MB)`,
    );
  }
}

/**
 * Downloads an export and counts its lines (every CSV line ends in "\n"; the descriptions have none). A lean
 * client — node:http and a gunzip stream, not fetch's web streams — so that the load generator takes as little of
 * the machine's two cores as it can from the server it measures.
 */
function exportLines(url: string): Promise<{ lines: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`export: HTTP ${response.statusCode}`));
        response.resume();
        return;
      }
      let lines = 0;
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      // A body the server ended early (an export that failed midway) never ends the gunzip stream.
      response.on('close', () => {
        if (!response.complete) reject(new Error('export: the server ended the response early'));
      });
      const text = response.pipe(createGunzip());
      text.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      });
      text.on('end', () => resolve({ lines, bytes }));
      text.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Webhook delivery lag: a receiver here, a stream to it, 1,000 audited requests/s for 10 s (`GET` of an
 * environment, each recorded as `environment-read`): lag is the record's arrival less its time. A server that
 * cannot answer 1,000 requests/s records fewer a second (the rate it kept is printed). On PostgreSQL the stream
 * then gets 1,000 records/s for 10 s from a second instance too (a `LedgerStore` of the bench's own on the same
 * database, as several servers share one): the lag at the full rate, the server's polling included.
 */
async function streamLag(url: string, secondInstance?: StorageOptions): Promise<void> {
  const lags: number[] = [];
  const fromSecond: number[] = [];
  const receiver: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const arrived = Date.now();
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (!line) continue;
        const entry = (JSON.parse(line) as { entry: LagEntry }).entry;
        if (entry.event === 'environment-read' && entry.resource?.project === 'lag')
          lags.push(arrived - entry.time);
        if (entry.event === 'environment-read' && entry.resource?.project === 'lag-second')
          fromSecond.push(arrived - entry.time);
      }
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const json = { ...headers, 'content-type': 'application/json' };
    const created = await fetch(`${url}/api/esc/environments/${ORG}`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ project: 'lag', name: 'env' }),
    });
    if (created.status !== 200)
      throw new Error(`environment: HTTP ${created.status} ${await created.text()}`);
    const port = (receiver.address() as AddressInfo).port;
    const stream = await fetch(`${url}/api/orgs/${ORG}/auditlogs/streams`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        name: 'bench',
        kind: 'webhook',
        url: `http://127.0.0.1:${port}/hook`,
        from: 'now',
      }),
    });
    if (stream.status !== 201) throw new Error(`stream: HTTP ${stream.status} ${await stream.text()}`);
    const total = LAG_RATE * LAG_SECONDS;
    // At most 64 requests in flight, on kept-alive connections: a server that falls behind queues them here
    // (their latency shows it) rather than facing thousands of new connections.
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const requestLatencies: number[] = [];
    // The rate the server kept: below LAG_RATE, the requests queued here (their latency shows it) and the lag is
    // that of a slower stream of records.
    const answered = await atLagRate(async () => {
      const t = performance.now();
      const status = await get(agent, `${url}/api/esc/environments/${ORG}/lag/env`);
      if (status !== 200) throw new Error(`read: HTTP ${status}`);
      requestLatencies.push(performance.now() - t);
    });
    agent.destroy();
    await arrival(lags, total);
    const request = percentiles(requestLatencies);
    console.log(
      `  ${'baseline: the audited request itself'.padEnd(44)} p50${ms(request.p50)}  p95${ms(request.p95)}` +
        `   (${count(total)} sent at ${count(LAG_RATE)}/s, answered at ${count(answered)}/s)`,
    );
    const lag = percentiles(lags);
    const max = lags.reduce((a, b) => Math.max(a, b), 0);
    console.log(
      `  ${`stream lag, requests at ${count(Math.min(LAG_RATE, answered))}/s (${count(lags.length)}/${count(total)} arrived)`.padEnd(44)}` +
        ` p50${ms(lag.p50)}  p95${ms(lag.p95)}  max ${max} ms  ×${(lag.p95 / request.p95).toFixed(0)} of baseline   (goal ≤ 2 s)`,
    );
    if (secondInstance) await secondInstanceLag(secondInstance, fromSecond);
  } finally {
    await new Promise((r) => receiver.close(r));
  }
}

/** 1,000 records/s for 10 s appended by a second instance; `arrivals` fills with their lags as they arrive. */
async function secondInstanceLag(options: StorageOptions, arrivals: number[]): Promise<void> {
  const storage = await openStorage(options);
  const ledger = new LedgerStore(storage);
  try {
    const total = LAG_RATE * LAG_SECONDS;
    let n = 0;
    const appended = await atLagRate(() =>
      ledger.append(ORG, {
        v: 1,
        time: Date.now(),
        org: ORG,
        event: 'environment-read',
        description: 'environment-read of environment "lag-second/env" at revision 1',
        actor: { kind: 'user', login: 'user-000', name: 'User 000' },
        sourceIP: '10.0.0.1',
        userAgent: 'esc-sdk/0.12.4',
        requestId: `lag-second-${n++}`,
        resource: { project: 'lag-second', environment: 'env', revision: 1 },
        outcome: 'success',
      }),
    );
    await arrival(arrivals, total);
    const lag = percentiles(arrivals);
    const max = arrivals.reduce((a, b) => Math.max(a, b), 0);
    console.log(
      `  ${`stream lag, a second instance appending (${count(arrivals.length)}/${count(total)} arrived)`.padEnd(44)}` +
        ` p50${ms(lag.p50)}  p95${ms(lag.p95)}  max ${max} ms   (appended at ${count(appended)}/s; goal ≤ 2 s)`,
    );
  } finally {
    await ledger.close();
    await storage.close();
  }
}

/**
 * Calls `send` LAG_RATE times a second for LAG_SECONDS, keeping to the schedule (every call due by now is made, 10
 * per 10 ms at 1,000/s) however long the calls take; resolves once all have completed, with the rate they completed
 * at (rejects with the first failure).
 */
async function atLagRate(send: () => Promise<unknown>): Promise<number> {
  const total = LAG_RATE * LAG_SECONDS;
  const pending: Promise<unknown>[] = [];
  const start = performance.now();
  let last = start;
  for (let n = 0; n < total;) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * LAG_RATE) / 1000));
    for (; n < due; n++) pending.push(send().then(() => (last = performance.now())));
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  return (total * 1000) / (last - start);
}

/** Waits (at most 30 s) until `lags` holds `total` arrivals. */
async function arrival(lags: number[], total: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (lags.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

interface LagEntry {
  time: number;
  event: string;
  resource?: { project?: string };
}

/** A database under test: how the bench loads it (a storage of its own) and reads it beside the server. */
interface Target {
  readonly storage: StorageOptions;
  readonly serverEnv: Record<string, string>;
  /** A read connection of the bench's own for the baselines (never a second writer). */
  readonly reader: () => { db: Kysely<Database>; close: () => Promise<void> };
  /**
   * After a load: brings the database to the state a log that grew over weeks is in. PostgreSQL: `VACUUM
   * (ANALYZE)` of the schema's tables, which autovacuum runs on its own a while after such a change; measured
   * straight after loading a million rows in a minute, the planner has no statistics yet (an unfiltered export's
   * COPY took 2.5 s in PostgreSQL alone, 1.2 s once analyzed) and index-only scans still visit the heap.
   */
  readonly settle?: () => Promise<void>;
  /** Removes the database. */
  readonly drop: () => Promise<void>;
}

/** An engine: its name, and a database of its own for each name asked for. */
interface Engine {
  readonly label: string;
  readonly target: (name: string) => Target;
}

/** A loaded database, its server, and the bench's reader beside it. */
interface Running extends Side {
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Loads `events` records into `target` with the server stopped (a storage of the bench's own, closed afterwards),
 * settles the database, then starts its server and a reader.
 */
async function loaded(target: Target, events: number): Promise<Running> {
  const storage = await openStorage(target.storage);
  const ledger = new LedgerStore(storage);
  try {
    console.log(`  ${count(events)} events loaded at ${count(await load(ledger, 0, events))}/s`);
  } finally {
    await ledger.close();
    await storage.close();
  }
  if (target.settle) {
    const start = performance.now();
    await target.settle();
    console.log(
      `  (VACUUM (ANALYZE) after loading, as autovacuum would run: ${((performance.now() - start) / 1000).toFixed(1)} s)`,
    );
  }
  const reader = target.reader();
  const server = await startServerProcess(target.serverEnv).catch(async (error: unknown) => {
    await reader.close();
    throw error;
  });
  const stop = async () => {
    await server.stop();
    await reader.close();
  };
  try {
    const { id } = await reader.db
      .selectFrom('ledger_logs')
      .select('id')
      .where('org', '=', ORG)
      .executeTakeFirstOrThrow();
    return { loaded: events, url: server.url, reader: reader.db, logId: id, pid: server.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One engine: the full log in one database and, for the growth figures, its first 10,000 events in another, each
 * with its own server. Both are loaded before either is measured, and the listings take turns between them: two
 * figures measured minutes apart (one before and one after loading a million rows, as the bench once did) also
 * compare the machine's moments — a checkpoint writing the load out, another tenant, the CPU's clock — and today's
 * growth ratio is only fair when both sizes share them.
 */
async function bench(engine: Engine): Promise<void> {
  console.log(
    `${engine.label}, ${count(EVENTS)} events in organization "${ORG}", ${REQUESTS} sequential requests a figure`,
  );
  const full = engine.target('full');
  const small = PARTS.has('listings') && EVENTS > SMALL ? engine.target('small') : undefined;
  const running: Running[] = [];
  try {
    if (small) running.push(await loaded(small, SMALL));
    running.push(await loaded(full, EVENTS));
    const server = running.at(-1)!;
    if (PARTS.has('listings')) await listings(running);
    // The exports and the stream have the machine to themselves.
    if (small) await running.shift()!.stop();
    if (!PARTS.has('listings')) console.log(`at ${count(EVENTS)} events:`);
    if (PARTS.has('export')) await exportCsv(server.reader, server.logId, server.url, server.pid);
    if (PARTS.has('lag')) await streamLag(server.url, full.storage.databaseUrl ? full.storage : undefined);
  } finally {
    for (const r of running) await r.stop();
    await full.drop();
    await small?.drop();
  }
}

if (args.only !== 'postgres') {
  const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'vigil-bench-'));
  try {
    await bench({
      label: 'SQLite (WAL)',
      target: (name) => {
        const dir = join(root, name);
        mkdirSync(dir);
        return {
          storage: { dataDir: dir },
          serverEnv: { VIGIL_DATA_DIR: dir },
          reader: () => {
            const handle = new SQLite(join(dir, SQLITE_FILE), { readonly: true });
            const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
            return { db, close: () => db.destroy() };
          },
          drop: async () => rmSync(dir, { recursive: true, force: true }),
        };
      },
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
if (args.only !== 'sqlite') {
  const root = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  /** Runs `statement` on a connection of its own. */
  const admin = async <R extends pg.QueryResultRow>(statement: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return (await client.query<R>(statement, values)).rows;
    } finally {
      await client.end();
    }
  };
  try {
    await bench({
      label: `PostgreSQL (${PG_URL.replace(/\/\/[^@]*@/, '//')})`,
      target: (name) => {
        const schema = `vbench_audit_${process.pid}_${name}`;
        const dir = join(root, name);
        mkdirSync(dir);
        const url = new URL(PG_URL);
        url.searchParams.set('options', `-c search_path=${schema}`);
        return {
          storage: { databaseUrl: PG_URL, schema, poolSize: 64 },
          serverEnv: { VIGIL_DATA_DIR: dir, VIGIL_DATABASE_URL: url.toString() },
          reader: () => {
            const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
            const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
            return { db, close: () => db.destroy() };
          },
          settle: async () => {
            const tables = await admin<{ name: string }>(
              `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = $1`,
              [schema],
            );
            for (const { name } of tables) await admin(`VACUUM (ANALYZE) ${name}`);
          },
          drop: async () => {
            await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          },
        };
      },
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
