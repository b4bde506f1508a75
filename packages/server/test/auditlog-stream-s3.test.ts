// Log streams to S3-compatible object storage, against a real S3 server (s3rver) whose front checks every
// request's AWS Signature Version 4 with AWS's own signer: gzip JSON Lines objects named by hour and index range,
// at least once across restarts, failures visible in health without a credential in sight.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { hourBatches, s3ObjectKey, s3ObjectUrl } from '../src/audit/s3-sink.js';
import type { S3Destination } from '../src/audit/log-stream-store.js';
import { migrationProvider } from '../src/storage/migrations/index.js';
import { DIALECTS, POSTGRES_URL, testDatabase, type TestDatabase } from './support/databases.js';
import {
  createEnv,
  health,
  indexesOf,
  json,
  logSize,
  objectEvents,
  ORG,
  records,
  s3Receiver,
  sigV4Signature,
  startStreaming,
  until,
  type Delivered,
  type S3Receiver,
} from './auditlog-stream-support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const S = `/api/orgs/${ORG}/auditlogs/streams`;
const ENVS = `/api/esc/environments/${ORG}`;
const HOUR_MS = 3_600_000;
const KEY = /^(.+)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/(\d+)-(\d+)\.jsonl\.gz$/;

describe("the test receiver's SigV4 check", () => {
  // AWS's published examples: the SigV4 test suite's "get-vanilla" and S3's "GET Object" example.
  it("reproduces AWS's example signatures", () => {
    const empty = createHash('sha256').update('').digest('hex');
    expect(
      sigV4Signature({
        method: 'GET',
        path: '/',
        headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' },
        signedHeaders: ['host', 'x-amz-date'],
        payloadHash: empty,
        amzDate: '20150830T123600Z',
        region: 'us-east-1',
        service: 'service',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      }),
    ).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
    expect(
      sigV4Signature({
        method: 'GET',
        path: '/test.txt',
        headers: {
          host: 'examplebucket.s3.amazonaws.com',
          range: 'bytes=0-9',
          'x-amz-content-sha256': empty,
          'x-amz-date': '20130524T000000Z',
        },
        signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
        payloadHash: empty,
        amzDate: '20130524T000000Z',
        region: 'us-east-1',
        service: 's3',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      }),
    ).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });
});

describe('s3 object names', () => {
  it('names an object by the UTC hour of its events and its first and last index', () => {
    const t = Date.UTC(2026, 0, 2, 3, 59, 59, 999);
    expect(s3ObjectKey('audit/vigil', 17, 42, t)).toBe('audit/vigil/2026/01/02/03/17-42.jsonl.gz');
    expect(s3ObjectKey('', 0, 0, t)).toBe('2026/01/02/03/0-0.jsonl.gz');
  });

  it('splits a batch where the hour changes', () => {
    const at = (index: number, time: number) => ({ index, time, data: new Uint8Array() });
    const h = Date.UTC(2026, 0, 2, 3);
    const batches = hourBatches([at(1, h - 1), at(2, h), at(3, h + HOUR_MS - 1), at(5, h + HOUR_MS)]);
    expect(batches.map((b) => b.map((e) => e.index))).toEqual([[1], [2, 3], [5]]);
  });

  it('addresses path-style and virtual-hosted', () => {
    const d: S3Destination = {
      kind: 's3',
      endpoint: 'https://s3.eu-west-1.amazonaws.com',
      bucket: 'logs',
      prefix: 'p',
      region: 'eu-west-1',
      accessKeyId: 'AKIDEXAMPLE',
      pathStyle: false,
    };
    expect(s3ObjectUrl(d, 'p/k.jsonl.gz').href).toBe('https://logs.s3.eu-west-1.amazonaws.com/p/k.jsonl.gz');
    expect(s3ObjectUrl({ ...d, pathStyle: true }, 'k').href).toBe(
      'https://s3.eu-west-1.amazonaws.com/logs/k',
    );
  });
});

for (const dialect of DIALECTS) {
  describe(`s3 log streams (${dialect})`, () => {
    const cleanup: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const step of cleanup.splice(0).reverse()) await step();
    });

    /** A server and an S3 receiver; `restart` closes the server and starts another on the same database. */
    async function setup(streams?: Parameters<typeof startStreaming>[1]) {
      const db = testDatabase(dialect);
      const s3 = await s3Receiver();
      const state = { running: await startStreaming(db, streams) };
      cleanup.push(async () => {
        await state.running.close();
        await s3.close();
        await db.drop();
      });
      return {
        db,
        s3,
        get running() {
          return state.running;
        },
        async restart() {
          await state.running.close();
          state.running = await startStreaming(db, streams);
        },
      };
    }

    const s3Stream = (s3: S3Receiver, fields: Json = {}) => ({
      name: 'archive',
      kind: 's3',
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      prefix: 'audit/vigil',
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      pathStyle: true,
      from: 'beginning',
      ...fields,
    });
    /** Every event of every object under the prefix, duplicates included, checking each object's name. */
    async function delivered(s3: S3Receiver, prefix = 'audit/vigil'): Promise<Delivered[]> {
      const out: Delivered[] = [];
      for (const object of await s3.objects(`${prefix}/`)) {
        const m = KEY.exec(object.key);
        expect(m, object.key).not.toBeNull();
        const events = objectEvents(object);
        expect(m![1]).toBe(prefix);
        expect([Number(m![6]), Number(m![7])]).toEqual([events[0]!.index, events.at(-1)!.index]);
        const hour = Date.UTC(Number(m![2]), Number(m![3]) - 1, Number(m![4]), Number(m![5]));
        for (const e of events) {
          expect(e.record.time).toBeGreaterThanOrEqual(hour);
          expect(e.record.time).toBeLessThan(hour + HOUR_MS);
        }
        expect(object.contentType).toBe('application/gzip');
        out.push(...events);
      }
      return out;
    }

    it('writes gzip JSON Lines objects named by hour and index range, every event once', async () => {
      const { s3, running } = await setup();
      const request = s3Stream(s3);
      const created = await json(await running.call('POST', S, request));
      // Answered as sent, but for the secret access key.
      const { secretAccessKey: _secret, from: _from, ...answered } = request;
      expect(created).toMatchObject(answered);
      expect(created.secretAccessKey).toBeUndefined();
      expect(created.secret).toBeUndefined();
      for (const name of ['a', 'b', 'c']) await createEnv(running, name);
      const size = await logSize(running);
      await until(async () => (await health(running, created.id)).lag === 0);
      const events = await delivered(s3);
      expect(events.map((e) => e.index)).toEqual([...Array(size).keys()]);
      // The events are exactly the ledger's entries.
      expect(events.map((e) => e.record)).toEqual(await records(running));
      expect(s3.badSignatures).toBe(0);
      expect((await health(running, created.id)).lastError).toBeNull();
      const everything = [running.log.join('\n'), JSON.stringify(await records(running))];
      for (const text of everything) expect(text).not.toContain(s3.secretAccessKey);
    });

    it('covers every index after a restart mid-delivery, repeating only an unacknowledged batch', async () => {
      const harness = await setup();
      const { s3 } = harness;
      const created = await json(await harness.running.call('POST', S, s3Stream(s3)));
      await createEnv(harness.running, 'before');
      await until(async () => (await health(harness.running, created.id)).lag === 0);
      // The next batch lands in the bucket, but its answer is lost: the cursor must not move past it.
      await s3.mode('lose-answer');
      await createEnv(harness.running, 'during');
      await until(() => s3.puts.some((p) => !p.acknowledged));
      await until(async () => (await health(harness.running, created.id)).failures >= 1);
      expect((await health(harness.running, created.id)).lastError).toBe('HTTP 500 InternalError');
      await harness.restart();
      await s3.mode('up');
      await createEnv(harness.running, 'after');
      const size = await logSize(harness.running);
      await until(async () => (await health(harness.running, created.id)).lag === 0);
      const events = await delivered(s3);
      expect(indexesOf(events)).toEqual([...Array(size).keys()]);
      const unacknowledged = new Set<number>();
      for (const object of await s3.objects('audit/vigil/'))
        if (s3.puts.some((p) => p.key === object.key && !p.acknowledged))
          for (const e of objectEvents(object)) unacknowledged.add(e.index);
      const seen = new Map<number, number>();
      for (const e of events) seen.set(e.index, (seen.get(e.index) ?? 0) + 1);
      const repeated = [...seen].filter(([, n]) => n > 1).map(([i]) => i);
      for (const index of repeated) expect(unacknowledged).toContain(index);
    });

    it('fails without slowing the ESC API while the receiver is down or hangs; the lag grows, then drains', async () => {
      // A long timeout: the hanging attempt stays in flight for the whole check.
      const { s3, running } = await setup({
        intervalMs: 50,
        timeoutMs: 60_000,
        backoff: { baseMs: 50, maxMs: 200 },
      });
      await s3.mode('down');
      const created = await json(await running.call('POST', S, s3Stream(s3, { from: 'now' })));
      await until(async () => (await health(running, created.id)).failures >= 1);
      for (const name of ['x', 'y']) await createEnv(running, name);
      const down = await health(running, created.id);
      expect(down.lastError).toBe('network error ECONNREFUSED');
      expect(down.lag).toBeGreaterThanOrEqual(3);
      expect(down.nextAttempt).not.toBeNull();

      await s3.mode('hang');
      await until(() => s3.hanging >= 1);
      // While a delivery waits on the receiver, the API answers (and records) as usual.
      await createEnv(running, 'z');
      await json(await running.call('GET', `${ENVS}/app/z`));
      expect(s3.hanging).toBeGreaterThanOrEqual(1);
      expect((await health(running, created.id)).lag).toBeGreaterThan(down.lag);

      await s3.mode('up');
      await until(async () => (await health(running, created.id)).lag === 0);
      const h = await health(running, created.id);
      expect(h).toMatchObject({ failures: 0, nextAttempt: null });
      expect(indexesOf(await delivered(s3))).toEqual(
        [...Array(await logSize(running)).keys()].slice(created.health.cursor),
      );
    });

    it('shows refused credentials in health, never the secret, and recovers when they are fixed', async () => {
      const { s3, running } = await setup();
      const wrongSecret = 'wrong-secret-that-must-stay-hidden';
      const badSecret = await json(
        await running.call('POST', S, s3Stream(s3, { name: 'bad-secret', secretAccessKey: wrongSecret })),
      );
      const badKey = await json(
        await running.call('POST', S, s3Stream(s3, { name: 'bad-key', accessKeyId: 'NOT-A-KEY' })),
      );
      await until(async () => (await health(running, badSecret.id)).failures >= 1);
      await until(async () => (await health(running, badKey.id)).failures >= 1);
      expect((await health(running, badSecret.id)).lastError).toBe('HTTP 403 SignatureDoesNotMatch');
      expect((await health(running, badKey.id)).lastError).toBe('HTTP 403 InvalidAccessKeyId');
      expect(await s3.objects('audit/vigil/')).toEqual([]);

      await json(
        await running.call('PATCH', `${S}/${badSecret.id}`, { secretAccessKey: s3.secretAccessKey }),
      );
      await until(async () => (await health(running, badSecret.id)).lag === 0);
      expect(indexesOf(await delivered(s3))).toEqual([...Array(await logSize(running)).keys()]);
      const answers = JSON.stringify([
        await json(await running.call('GET', S)),
        await json(await running.call('GET', `${S}/${badSecret.id}`)),
      ]);
      const texts = [answers, running.log.join('\n'), JSON.stringify(await records(running))];
      for (const text of texts) {
        expect(text).not.toContain(wrongSecret);
        expect(text).not.toContain(s3.secretAccessKey);
      }
      // The change is recorded, its secret is not.
      expect((await records(running)).at(-1)!.description).toBe(
        `Updated log stream "bad-secret" (s3 bucket "${s3.bucket}", prefix "audit/vigil" at ${s3.endpoint}, new secret)`,
      );
    });

    it('sends only what the filter selects', async () => {
      const { s3, running } = await setup();
      const created = await json(
        await running.call('POST', S, s3Stream(s3, { q: 'event:environment-created', from: 'now' })),
      );
      await createEnv(running, 'one');
      await json(await running.call('GET', `${ENVS}/app/one`));
      await createEnv(running, 'two');
      const size = await logSize(running);
      await until(async () => (await health(running, created.id)).cursor === size);
      expect(
        (await delivered(s3)).map((e) => [e.record.event, (e.record.resource as Json)?.environment]),
      ).toEqual([
        ['environment-created', 'one'],
        ['environment-created', 'two'],
      ]);
    });

    it('validates s3 destinations', async () => {
      const { s3, running } = await setup({ intervalMs: 3_600_000 });
      const cases: Array<[Json, string]> = (
        [
          [{ bucket: 'Not_A_Bucket' }, 'bucket'],
          [{ bucket: undefined }, 'bucket'],
          [{ prefix: 'a/../b' }, 'prefix'],
          [{ prefix: 'a b' }, 'prefix'],
          [{ endpoint: `${s3.endpoint}/path` }, 'endpoint'],
          [{ endpoint: 'http://user:pw@127.0.0.1:9000' }, 'endpoint'],
          [{ region: 'EU WEST' }, 'region'],
          [{ accessKeyId: undefined }, 'accessKeyId'],
          [{ secretAccessKey: undefined }, 'secretAccessKey'],
          [{ pathStyle: false }, 'pathStyle'],
          [{ pathStyle: 'yes' }, 'pathStyle'],
          [{ url: 'https://x.example' }, 'url'],
        ] as Array<[Json, string]>
      ).map(([fields, param]) => [s3Stream(s3, fields), param]);
      cases.push(
        [{ name: 'w', kind: 'webhook', url: 'https://x.example', bucket: 'b-1' }, 'bucket'],
        [{ name: 'pulumi-export', kind: 'webhook', url: 'https://x.example' }, 'name'],
      );
      for (const [fields, param] of cases) {
        const response = await running.call('POST', S, fields);
        const body = (await response.json()) as Json;
        expect(response.status, JSON.stringify(fields)).toBe(400);
        expect(body.param, JSON.stringify(fields)).toBe(param);
        expect(JSON.stringify(body)).not.toContain(s3.secretAccessKey);
      }
      // An AWS destination needs no endpoint: the region's is used.
      const aws = await json(
        await running.call('POST', S, {
          name: 'aws',
          kind: 's3',
          bucket: 'audit-logs',
          region: 'eu-west-1',
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        }),
      );
      expect(aws).toMatchObject({
        endpoint: 'https://s3.eu-west-1.amazonaws.com',
        pathStyle: false,
        prefix: '',
      });
      const patched = await json(
        await running.call('PATCH', `${S}/${aws.id}`, { prefix: '/a/b/', paused: true }),
      );
      expect(patched).toMatchObject({
        prefix: 'a/b',
        paused: true,
        bucket: 'audit-logs',
        region: 'eu-west-1',
      });
      expect((await running.call('PATCH', `${S}/${aws.id}`, { host: 'x.example' })).status).toBe(400);
    });
  });

  describe(`migration 0009 (${dialect})`, () => {
    let db: TestDatabase | undefined;
    afterEach(async () => db?.drop());

    /** A bare Kysely on the test database, to migrate step by step. */
    function open(test: TestDatabase): AnyDb {
      if (dialect === 'sqlite') {
        const handle = new SQLite(join(test.dataDir, 'vigil.db'));
        handle.pragma('foreign_keys = ON');
        return new Kysely({ dialect: new SqliteDialect({ database: handle }) });
      }
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, options: `-c search_path=${test.schema}` });
      return new Kysely({ dialect: new PostgresDialect({ pool }) });
    }

    /** The database's triggers (the append-only guards), by name. */
    async function triggers(kysely: AnyDb): Promise<string[]> {
      const query =
        dialect === 'sqlite'
          ? sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'trigger'`
          : sql<{ name: string }>`SELECT DISTINCT tgname AS name FROM pg_trigger t
              JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = current_schema() AND NOT t.tgisinternal`;
      return (await query.execute(kysely)).rows.map((r) => r.name).sort();
    }

    it('admits the s3 kind and keeps the rows, the unique name and the check', async () => {
      db = testDatabase(dialect);
      if (dialect === 'postgres') {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        await client.query(`CREATE SCHEMA ${db.schema}`);
        await client.end();
      }
      const kysely = open(db);
      try {
        // Kysely looks for its tables in every schema unless told which (as storage.ts tells it).
        const migrator = new Migrator({
          db: kysely,
          provider: migrationProvider(dialect),
          ...(db.schema ? { migrationTableSchema: db.schema } : {}),
        });
        expect((await migrator.migrateTo('0008_log_streams')).error).toBeUndefined();
        const row = (id: string, name: string, kind: string) => ({
          id,
          org: ORG,
          name,
          kind,
          destination: '{"url":"https://x.example/"}',
          secret_sealed: Buffer.from([1, 2, 3]),
          paused: 0,
          cursor: 7,
          created_at: 1,
          modified_at: 2,
          created_by: 'admin',
          failures: 0,
          next_attempt_at: 0,
        });
        const insert = (values: Json) => kysely.insertInto('audit_log_streams').values(values).execute();
        await insert(row('w', 'hook', 'webhook'));
        const guards = await triggers(kysely);
        expect(guards.length).toBeGreaterThan(0);
        await expect(insert(row('s', 'arch', 's3'))).rejects.toThrow();

        expect((await migrator.migrateToLatest()).error).toBeUndefined();
        const kept = await kysely
          .selectFrom('audit_log_streams')
          .selectAll()
          .where('id', '=', 'w')
          .executeTakeFirst();
        expect(kept).toMatchObject({
          name: 'hook',
          kind: 'webhook',
          cursor: 7,
          destination: '{"url":"https://x.example/"}',
        });
        expect(Buffer.from(kept!.secret_sealed as Uint8Array)).toEqual(Buffer.from([1, 2, 3]));
        await insert(row('s', 'arch', 's3'));
        // Still refused: another kind, a taken name, a paused that is not 0 or 1.
        await expect(insert(row('f', 'ftp', 'ftp'))).rejects.toThrow();
        await expect(insert(row('d', 'hook', 's3'))).rejects.toThrow();
        await expect(insert({ ...row('p', 'p', 's3'), paused: 2 })).rejects.toThrow();
        // The append-only guards are untouched.
        expect(await triggers(kysely)).toEqual(guards);
      } finally {
        await kysely.destroy();
      }
    });
  });
}
