// Delivery of log streams to real receivers: webhook (HMAC-signed JSON Lines) and syslog (RFC 5424 in RFC 5425
// octet-counted frames, over TCP and TLS). At least once from a durable cursor, deduplicated by index.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffMs } from '../src/audit/log-stream-delivery.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';
import {
  createEnv,
  FAST_STREAMS,
  health,
  indexesOf,
  json,
  logSize,
  ORG,
  parseSyslog,
  startStreaming,
  syslogReceiver,
  until,
  webhookReceiver,
  type StreamingServer,
} from './auditlog-stream-support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const S = `/api/orgs/${ORG}/auditlogs/streams`;
const ENVS = `/api/esc/environments/${ORG}`;

const opensslAvailable = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('backoff', () => {
  it('doubles from the base up to the cap, with up to half of it random', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, { baseMs: 100, maxMs: 500 }, () => 1))).toEqual([
      100, 200, 400, 500,
    ]);
    expect([1, 2, 3, 12].map((n) => backoffMs(n, { baseMs: 100, maxMs: 500 }, () => 0))).toEqual([
      50, 100, 200, 250,
    ]);
  });
});

for (const dialect of DIALECTS) {
  describe(`log-stream delivery (${dialect})`, () => {
    const cleanup: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const step of cleanup.splice(0).reverse()) await step();
    });

    async function setup(streams = FAST_STREAMS): Promise<{ db: TestDatabase; running: StreamingServer }> {
      const db = testDatabase(dialect);
      const running = await startStreaming(db, streams);
      let closed = false;
      cleanup.push(async () => {
        if (!closed) await running.close();
        await db.drop();
      });
      const close = running.close;
      return {
        db,
        running: {
          ...running,
          close: async () => {
            closed = true;
            await close();
          },
        },
      };
    }

    it('delivers every event once, signed, as JSON Lines carrying the log index', async () => {
      const { running } = await setup();
      const receiver = await webhookReceiver();
      cleanup.push(() => receiver.close());
      const created = await json(
        await running.call('POST', S, {
          name: 'hook',
          kind: 'webhook',
          url: receiver.url,
          from: 'beginning',
        }),
      );
      receiver.secret = created.secret;
      for (const name of ['a', 'b', 'c']) await createEnv(running, name);
      const size = await logSize(running);
      await until(() => indexesOf(receiver.events).length >= size);
      expect(receiver.badSignatures).toBe(0);
      expect(indexesOf(receiver.events)).toEqual([...Array(size).keys()]);
      expect(receiver.events.map((e) => e.record.event)).toContain('environment-created');
      expect(receiver.headers[0]!['content-type']).toBe('application/x-ndjson');
      expect(receiver.headers[0]!['x-vigil-stream']).toBe(created.id);
      // The recorded events are exactly the ledger's entries.
      const stored = [];
      for await (const e of running.server.ledger.entries(ORG, 0, size))
        stored.push(JSON.parse(Buffer.from(e.data).toString()));
      const byIndex = new Map(receiver.events.map((e) => [e.index, e.record]));
      expect([...Array(size).keys()].map((i) => byIndex.get(i))).toEqual(stored);
      await until(async () => (await health(running, created.id)).lag === 0);
      const h = await health(running, created.id);
      expect(h).toMatchObject({ cursor: size, lag: 0, lastError: null, failures: 0 });
      expect(Date.parse(h.lastSuccess)).toBeGreaterThan(Date.now() - 60_000);
      expect(running.log.join('\n')).not.toContain(created.secret);
    });

    it('applies the stream filter', async () => {
      const { running } = await setup();
      const receiver = await webhookReceiver();
      cleanup.push(() => receiver.close());
      const created = await json(
        await running.call('POST', S, {
          name: 'envs',
          kind: 'webhook',
          url: receiver.url,
          q: 'event:environment-created project:app',
        }),
      );
      receiver.secret = created.secret;
      await createEnv(running, 'one');
      await json(await running.call('GET', `${ENVS}/app/one`));
      await createEnv(running, 'two');
      const size = await logSize(running);
      await until(async () => (await health(running, created.id)).cursor === size);
      expect(receiver.events.map((e) => [e.record.event, (e.record.resource as Json)?.environment])).toEqual([
        ['environment-created', 'one'],
        ['environment-created', 'two'],
      ]);
    });

    it('retries a failing receiver with backoff until it acknowledges', async () => {
      const { running } = await setup();
      const receiver = await webhookReceiver({ fail: 3 });
      cleanup.push(() => receiver.close());
      const created = await json(
        await running.call('POST', S, { name: 'flaky', kind: 'webhook', url: receiver.url }),
      );
      receiver.secret = created.secret;
      await until(async () => (await health(running, created.id)).failures >= 1);
      const failing = await health(running, created.id);
      expect(failing.lastError).toBe('HTTP 500');
      expect(failing.lag).toBeGreaterThan(0);
      expect(failing.nextAttempt).not.toBeNull();
      await createEnv(running, 'later');
      const size = await logSize(running);
      await until(() => indexesOf(receiver.events).at(-1) === size - 1);
      expect(receiver.requests).toBeGreaterThanOrEqual(4);
      // The receiver has the batch; the stream records its acknowledgement once the answer is back.
      await until(async () => (await health(running, created.id)).lag === 0);
      const healed = await health(running, created.id);
      expect(healed).toMatchObject({ failures: 0, lag: 0, nextAttempt: null, lastError: 'HTTP 500' });
    });

    it('keeps answering the ESC API while a receiver is down or hangs; the lag grows', async () => {
      // A long timeout: the hanging delivery stays in flight for the whole check (no clock in the assertions).
      const { running } = await setup({ ...FAST_STREAMS, timeoutMs: 60_000 });
      const hanging = await webhookReceiver({ hang: true });
      cleanup.push(() => hanging.close());
      const closed = createNetServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as { port: number }).port;
      await new Promise((resolve) => closed.close(resolve));
      const down = await json(
        await running.call('POST', S, { name: 'down', kind: 'webhook', url: `http://127.0.0.1:${port}/` }),
      );
      const hung = await json(
        await running.call('POST', S, { name: 'hung', kind: 'webhook', url: hanging.url }),
      );
      await until(async () => (await health(running, down.id)).failures >= 1);
      await until(() => hanging.open >= 1);
      // While one delivery waits on its receiver and another keeps failing, the API answers and records as usual.
      for (const name of ['x', 'y', 'z']) await createEnv(running, name);
      await json(await running.call('GET', `${ENVS}/app/x`));
      expect(hanging.open).toBeGreaterThanOrEqual(1);
      const h = await health(running, down.id);
      expect(h.lastError).toMatch(/^network error ECONNREFUSED$/);
      expect(h.lag).toBeGreaterThanOrEqual(4);
      expect((await health(running, hung.id)).cursor).toBe(hung.health.cursor);
    });

    it('gives up on a receiver that does not answer within the timeout, and keeps its cursor', async () => {
      const { running } = await setup();
      const hanging = await webhookReceiver({ hang: true });
      cleanup.push(() => hanging.close());
      const hung = await json(
        await running.call('POST', S, { name: 'hung', kind: 'webhook', url: hanging.url }),
      );
      await until(async () => (await health(running, hung.id)).lastError === 'timeout');
      expect((await health(running, hung.id)).cursor).toBe(hung.health.cursor);
    });

    it('pauses and resumes delivery', async () => {
      const { running } = await setup();
      const receiver = await webhookReceiver();
      cleanup.push(() => receiver.close());
      const created = await json(
        await running.call('POST', S, { name: 'p', kind: 'webhook', url: receiver.url }),
      );
      receiver.secret = created.secret;
      await until(() => receiver.events.length >= 1);
      await json(await running.call('POST', `${S}/${created.id}/pause`));
      // A batch already in flight when the pause landed may still arrive; wait for it. Nothing after it may.
      await running.server.streams.idle();
      const pausedAt = await logSize(running);
      await createEnv(running, 'while-paused');
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.events.filter((e) => e.index >= pausedAt)).toEqual([]);
      expect((await health(running, created.id)).lag).toBeGreaterThanOrEqual(2);
      await json(await running.call('POST', `${S}/${created.id}/resume`));
      const size = await logSize(running);
      await until(() => indexesOf(receiver.events).at(-1) === size - 1);
      expect(receiver.events.map((e) => e.record.event)).toContain('environment-created');
    });

    it('resumes after a restart where delivery stopped, losing nothing', async () => {
      const { db, running } = await setup();
      const receiver = await webhookReceiver();
      cleanup.push(() => receiver.close());
      const created = await json(
        await running.call('POST', S, {
          name: 'durable',
          kind: 'webhook',
          url: receiver.url,
          from: 'beginning',
        }),
      );
      receiver.secret = created.secret;
      await createEnv(running, 'before');
      await until(async () => indexesOf(receiver.events).length === (await logSize(running)));
      // Acknowledged, not only received: otherwise the last batch may be sent again after the restart.
      await until(async () => (await health(running, created.id)).cursor === (await logSize(running)));
      // The receiver goes away; what is recorded meanwhile waits in the log.
      await receiver.close();
      await createEnv(running, 'during');
      await running.close();

      const again = await webhookReceiver();
      cleanup.push(() => again.close());
      again.secret = created.secret;
      const restarted = await startStreaming(db);
      cleanup.push(() => restarted.close());
      // Point the stream at the new receiver's port (the secret stays).
      await json(await restarted.call('PATCH', `${S}/${created.id}`, { url: again.url }));
      await createEnv(restarted, 'after');
      const size = await logSize(restarted);
      await until(() => indexesOf([...receiver.events, ...again.events]).length === size);
      expect(indexesOf([...receiver.events, ...again.events])).toEqual([...Array(size).keys()]);
      expect(again.badSignatures).toBe(0);
      // The second receiver got only what the first had not acknowledged (duplicates would be allowed).
      expect(Math.min(...again.events.map((e) => e.index))).toBe(indexesOf(receiver.events).length);
    });

    it('streams RFC 5424 messages in octet-counted frames over TCP', async () => {
      const { running } = await setup();
      const collector = await syslogReceiver();
      cleanup.push(() => collector.close());
      const created = await json(
        await running.call('POST', S, {
          name: 'syslog',
          kind: 'syslog',
          host: '127.0.0.1',
          port: collector.port,
          from: 'beginning',
        }),
      );
      await running.call('GET', `${S}`, undefined, 'not-a-token');
      await createEnv(running, 'logged');
      const size = await logSize(running);
      await until(() => new Set(collector.messages.map((m) => parseSyslog(m).index)).size === size);
      const parsed = collector.messages.map(parseSyslog);
      for (const p of parsed) {
        expect(p.index).toBe(p.body.index);
        expect(p.event).toBe(p.body.record.event);
        expect(p.appName).toBe('vigil');
        expect(p.msgId).toBe('audit');
        expect(p.pri).toBe(p.outcome === 'denied' ? 13 * 8 + 4 : 13 * 8 + 5);
        expect(Date.parse(p.timestamp)).toBe(p.body.record.time);
      }
      expect(parsed.map((p) => p.event)).toContain('audit-log-stream-created');
      expect((await health(running, created.id)).lag).toBe(0);
    });

    it.skipIf(!opensslAvailable)('streams over TLS to a collector with its own CA', async () => {
      const { running } = await setup();
      const dir = mkdtempSync(join(tmpdir(), 'vigil-tls-'));
      cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      const collector = await syslogReceiver({ key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert });
      cleanup.push(() => collector.close());
      // Without the CA, the collector's certificate is refused and nothing is delivered.
      const untrusted = await json(
        await running.call('POST', S, {
          name: 'untrusted',
          kind: 'syslog',
          host: 'localhost',
          port: collector.port,
          tls: true,
        }),
      );
      await until(async () => (await health(running, untrusted.id)).failures >= 1);
      expect((await health(running, untrusted.id)).lastError).toMatch(/^network error [A-Z_]+$/);
      expect(collector.messages).toEqual([]);
      await json(await running.call('DELETE', `${S}/${untrusted.id}`));

      const trusted = await json(
        await running.call('POST', S, {
          name: 'trusted',
          kind: 'syslog',
          host: 'localhost',
          port: collector.port,
          tls: true,
          ca: cert,
        }),
      );
      await until(async () => (await health(running, trusted.id)).lag === 0);
      expect(collector.messages.map((m) => parseSyslog(m).event)).toContain('audit-log-stream-created');
    });
  });
}
