// Two delivery processes on one PostgreSQL database share a log stream through its lease: while this process
// appends thousands of audit records, every index reaches a real (HMAC-checking) receiver at least once, batches
// from different processes never overlap in time, duplicates only come with a hand-over, and the durable cursor
// ends at the log's size. Killing the lease holder with SIGKILL mid-batch stalls the stream only until its lease
// expires; then the other process resends that batch and carries on.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseExportLine } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import type { LogStreamTables } from '../src/audit/log-stream-store.js';
import { loadConfig } from '../src/config/config.js';
import { LedgerStore } from '../src/ledger/ledger-store.js';
import { createServer } from '../src/server.js';
import { until } from './auditlog-stream-support.js';
import { POSTGRES_AVAILABLE, testDatabase } from './support/databases.js';
import { ADMIN_TOKEN, testServerEnv } from './support/server.js';

const WORKER = fileURLToPath(new URL('./fixtures/stream-worker.ts', import.meta.url));
const ORG = 'acme';
const LEASE_MS = 1500;
/** Records appended before the crash, then during it. */
const BEFORE = 2000;
const DURING = 1000;

/** One request the receiver got: who sent it, when (this process's monotonic clock), and what. */
interface Batch {
  readonly worker: string;
  readonly start: number;
  /** When the receiver answered (or, for the batch whose sender was killed, when its connection dropped). */
  end: number;
  /** `Date.now()` at arrival, to compare with the lease's expiry in the database. */
  readonly wallStart: number;
  readonly indexes: number[];
  acked: boolean;
}

/** An HTTP receiver that checks the signature, answers after a few milliseconds, and can hold one request. */
async function receiver() {
  const batches: Batch[] = [];
  let badSignatures = 0;
  let trap: ((batch: Batch) => void) | undefined;
  const state = { secret: '' };
  const server = createHttpServer((request, response) => {
    const start = performance.now();
    const wallStart = Date.now();
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', state.secret).update(body).digest('hex')}`);
      const given = Buffer.from(String(request.headers['x-vigil-signature'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        badSignatures++;
        response.writeHead(401).end();
        return;
      }
      const indexes = body
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => parseExportLine(Buffer.from(line))!.index);
      const batch: Batch = {
        worker: String(request.headers['x-test-worker']),
        start,
        end: Infinity,
        wallStart,
        indexes,
        acked: false,
      };
      batches.push(batch);
      const caught = trap;
      if (caught) {
        // Never answered: its sender is killed while it waits.
        trap = undefined;
        response.on('close', () => (batch.end = performance.now()));
        caught(batch);
        return;
      }
      setTimeout(() => {
        batch.end = performance.now();
        batch.acked = true;
        response.writeHead(204).end();
      }, 3);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    state,
    batches,
    get badSignatures() {
      return badSignatures;
    },
    /** Holds the next request unanswered; resolves with it. */
    hold: () => new Promise<Batch>((resolve) => (trap = resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Child {
  readonly name: string;
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<unknown>;
}

describe.skipIf(!POSTGRES_AVAILABLE)(
  'log streams with several server processes on one PostgreSQL database',
  () => {
    it('deliver every event at least once, never concurrently, and survive a killed lease holder', async () => {
      const db = testDatabase('postgres');
      const env = testServerEnv(db);
      const hook = await receiver();
      const workers: Child[] = [];
      const storage = await db.open();
      const ledger = new LedgerStore(storage);
      try {
        // The stream, created through the API by a server whose own delivery loop stays idle.
        const setup = await createServer(loadConfig(env), {
          schema: db.schema,
          streams: { intervalMs: 3_600_000 },
        });
        const url = await setup.app.fastify.listen({ port: 0, host: '127.0.0.1' });
        const response = await fetch(`${url}/api/orgs/${ORG}/auditlogs/streams`, {
          method: 'POST',
          headers: { authorization: `token ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'siem', kind: 'webhook', url: hook.url, from: 'beginning' }),
        });
        expect(response.status, await response.clone().text()).toBe(201);
        const created = (await response.json()) as { id: string; secret: string };
        hook.state.secret = created.secret;
        await setup.close();

        for (const name of ['a', 'b']) {
          const child = spawn(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', WORKER], {
            env: {
              ...process.env,
              ...env,
              WORKER_SCHEMA: db.schema!,
              WORKER_NAME: name,
              WORKER_LEASE_MS: String(LEASE_MS),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          workers.push({
            name,
            child,
            ready: new Promise<void>((resolve) =>
              child.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve()),
            ),
            exited: new Promise((resolve) => child.on('exit', resolve)),
          });
        }
        await Promise.all(workers.map((w) => w.ready));

        /** Appends `count` audit records in rounds of 25 about 20 ms apart. */
        let n = 0;
        const append = async (count: number) => {
          for (let done = 0; done < count; done += 25) {
            await Promise.all(
              [...Array(Math.min(25, count - done))].map(() =>
                ledger.append(ORG, { event: 'load-test', time: Date.now(), n: n++ }),
              ),
            );
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        const delivered = () => new Set(hook.batches.filter((b) => b.acked).flatMap((b) => b.indexes));
        const caughtUp = async () => delivered().size === (await ledger.size(ORG));

        await append(BEFORE);
        await until(caughtUp, 20_000);
        const beforeCrash = hook.batches.length;

        // Hold the next batch, kill its sender (the lease holder) while it waits, keep appending.
        const held = hook.hold();
        const appending = append(DURING);
        const victimBatch = await held;
        const victim = workers.find((w) => w.name === victimBatch.worker)!;
        const survivor = workers.find((w) => w !== victim)!;
        victim.child.kill('SIGKILL');
        await victim.exited;
        const lease = await storage.db
          .withTables<LogStreamTables>()
          .selectFrom('audit_log_streams')
          .select(['lease_owner', 'lease_until'])
          .where('id', '=', created.id)
          .executeTakeFirstOrThrow();
        expect(lease.lease_owner).not.toBeNull(); // the dead process still holds it
        await appending;
        await until(caughtUp, 20_000);
        await new Promise((r) => setTimeout(r, 500)); // let any late or parallel send show itself
        survivor.child.kill('SIGTERM');
        await survivor.exited;

        const size = await ledger.size(ORG);
        expect(size).toBeGreaterThan(BEFORE + DURING);
        expect(hook.badSignatures).toBe(0);

        // At least once: every index, in acknowledged batches; each batch is consecutive indexes in order.
        expect([...delivered()].sort((x, y) => x - y)).toEqual([...Array(size).keys()]);
        for (const b of hook.batches) expect(b.indexes).toEqual(b.indexes.map((_, i) => b.indexes[0]! + i));

        // Never concurrently: each request arrived after the previous one was answered (or its sender died).
        const order = [...hook.batches].sort((x, y) => x.start - y.start);
        for (let i = 1; i < order.length; i++)
          expect(order[i]!.start).toBeGreaterThanOrEqual(order[i - 1]!.end);

        // Both processes delivered before the crash: the lease changed hands, not just stuck with one.
        const early = hook.batches.slice(0, beforeCrash);
        expect(new Set(early.map((b) => b.worker))).toEqual(new Set(['a', 'b']));
        const handOvers = order.filter((b, i) => i > 0 && b.worker !== order[i - 1]!.worker).length;

        // The survivor took over only once the dead holder's lease expired, and resent the batch it died on.
        const after = order.filter((b) => b.start > victimBatch.start);
        expect(after.length).toBeGreaterThan(0);
        expect(after.every((b) => b.worker === survivor.name)).toBe(true);
        expect(after[0]!.wallStart).toBeGreaterThanOrEqual(Number(lease.lease_until));
        expect(after[0]!.indexes[0]).toBe(victimBatch.indexes[0]);

        // Duplicates: only the batch the killed holder never got acknowledged is sent again (by the survivor, in
        // its first batch); a hand-over between live processes resends nothing.
        const seen = new Set<number>();
        let duplicates = 0;
        for (const b of order) {
          const again = b.indexes.filter((x) => seen.has(x));
          for (const x of b.indexes) seen.add(x);
          duplicates += again.length;
          if (again.length > 0)
            expect(b, `a resend of ${again[0]}.. other than the crashed batch`).toBe(after[0]);
        }
        expect(duplicates).toBe(victimBatch.indexes.length);
        console.log(
          `${size} events in ${order.length} batches, ${handOvers} hand-overs, ${duplicates} duplicate deliveries`,
        );

        // The durable cursor ends at the log's size, and nobody holds the lease.
        const row = await storage.db
          .withTables<LogStreamTables>()
          .selectFrom('audit_log_streams')
          .select(['cursor', 'lease_owner', 'failures'])
          .where('id', '=', created.id)
          .executeTakeFirstOrThrow();
        expect(Number(row.cursor)).toBe(size);
        expect(row.lease_owner).toBeNull();
        expect(Number(row.failures)).toBe(0);
      } finally {
        for (const w of workers) w.child.kill('SIGKILL');
        await Promise.all(workers.map((w) => w.exited));
        await ledger.close();
        await storage.close();
        await hook.close();
        await db.drop();
      }
    }, 90_000);
  },
);
