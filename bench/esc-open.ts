// Audited secret reads under load: 64 concurrent clients each repeat `POST …/open` then `GET …/open/{id}` (both
// reveal secrets, so both wait for their audit record to be durably sequenced: fail closed). The server runs in
// its own process; autocannon drives it. Baseline from the same server in the same run: the unaudited /healthz.
// The first seconds of the audited load (a cold server: JIT, caches) are printed apart; the figures after them are
// the steady state the goal is about.
//
//   node --conditions=vigil-source --import tsx bench/esc-open.ts [--seconds 10] [--only sqlite|postgres]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { BENCH_TOKEN, cpuSeconds, startServerProcess } from './support/server-process.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    only: { type: 'string' },
    connections: { type: 'string', default: '64' },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
/** Audited requests run on the fresh server before the measured ones (see `bench`). */
const WARM_UP_SECONDS = 3;
const PG_URL = process.env.VIGIL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = BENCH_TOKEN;
const E = '/api/esc/environments/acme/payments/prod';
const headers = { authorization: `token ${TOKEN}`, 'content-type': 'application/x-yaml' };

async function metrics(url: string): Promise<{ appends: number; waitSeconds: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
  return {
    appends: read('vigil_ledger_appends_total'),
    waitSeconds: read('vigil_ledger_append_wait_seconds_total'),
  };
}

/** Server CPU per request in µs over a phase: a figure the load generator's share of the machine barely moves. */
function cpuPerRequest(before: number | undefined, after: number | undefined, requests: number): string {
  return before === undefined || after === undefined
    ? 'n/a'
    : `${Math.round(((after - before) * 1e6) / requests)} µs CPU/req`;
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts }, (error, result) =>
      error ? reject(error) : resolve(result),
    );
  });
}

async function bench(label: string, env: Record<string, string>): Promise<void> {
  const server = await startServerProcess(env);
  try {
    const { url } = server;
    const call = (method: string, path: string, body?: string) =>
      fetch(`${url}${path}`, { method, headers, ...(body ? { body } : {}) });
    await call('POST', '/api/esc/environments/acme', '{"project":"payments","name":"prod"}');
    const yaml =
      'values:\n  db:\n    user: app\n    password:\n      fn::secret: s3cr3t-value\n  url: postgres://app@db/prod\n';
    if ((await call('PATCH', E, yaml)).status !== 200) throw new Error('could not write the environment');

    const cpu0 = cpuSeconds(server.pid);
    const baseline = await run({ url: `${url}/healthz` });
    const cpuBaseline = cpuSeconds(server.pid);
    const requests: autocannon.Request[] = [
      {
        method: 'POST',
        path: `${E}/open`,
        headers,
        onResponse: (status, body, context) => {
          if (status === 200) (context as { id?: string }).id = (JSON.parse(body) as { id: string }).id;
        },
      },
      {
        method: 'GET',
        headers,
        setupRequest: (request, context) => ({
          ...request,
          path: `${E}/open/${String((context as { id?: string }).id)}`,
        }),
      },
    ];
    // The server has not run this path yet: its first seconds compile it (JIT) and fill its caches. Those seconds
    // are measured apart, and the figures and the goal are the steady state after them.
    const cold = await run({ url, requests, duration: WARM_UP_SECONDS });
    const cpu1 = cpuSeconds(server.pid);
    const before = await metrics(url);
    const audited = await run({ url, requests });
    const cpu2 = cpuSeconds(server.pid);
    const after = await metrics(url);
    const errors = audited.non2xx + audited.errors;
    const auditShare =
      (after.waitSeconds - before.waitSeconds) / ((audited.latency.mean / 1000) * audited.requests.total);
    console.log(`${label}, ${CONNECTIONS} connections, ${SECONDS} s each`);
    console.log(
      `  baseline: GET /healthz (unaudited)        ${Math.round(baseline.requests.average).toLocaleString('en-US').padStart(7)} req/s  p99 ${baseline.latency.p99} ms  ${cpuPerRequest(cpu0, cpuBaseline, baseline.requests.total)}`,
    );
    console.log(
      `  first ${WARM_UP_SECONDS} s on the cold server (not counted)  ${Math.round(cold.requests.average).toLocaleString('en-US').padStart(7)} req/s  p99 ${cold.latency.p99} ms  max ${cold.latency.max} ms`,
    );
    console.log(
      `  open + read-open (audited, fail closed)  ${Math.round(audited.requests.average).toLocaleString('en-US').padStart(7)} req/s  p99 ${audited.latency.p99} ms` +
        `  ${cpuPerRequest(cpu1, cpu2, audited.requests.total)}` +
        `  ×${(audited.requests.average / baseline.requests.average).toFixed(2)} of baseline` +
        `   (goal on SQLite: ≥ 3,000/s at p99 ≤ 20 ms)`,
    );
    const l = audited.latency;
    console.log(
      `    latency ms: p50 ${l.p50}  p90 ${l.p90}  p97.5 ${l.p97_5}  p99 ${l.p99}  p99.9 ${l.p99_9}  max ${l.max}`,
    );
    console.log(
      `  share of request time spent appending the audit record: ${(auditShare * 100).toFixed(1)}%` +
        `  (${after.appends - before.appends} records; ${errors} errors; ${server.logged()} bytes of server log)`,
    );
  } finally {
    await server.stop();
  }
}

if (args.only !== 'postgres') {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'vigil-bench-'));
  try {
    await bench('SQLite', { VIGIL_DATA_DIR: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (args.only !== 'sqlite') {
  const schema = `vbench_esc_${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  try {
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    await bench('PostgreSQL', { VIGIL_DATA_DIR: dir, VIGIL_DATABASE_URL: url.toString() });
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  }
}
