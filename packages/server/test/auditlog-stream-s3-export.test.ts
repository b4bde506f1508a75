// Pulumi's automated-export API (`…/auditlogs/export/config`, `/test`, `/force`) and `…/auditlogs/reader-kind`,
// over the organization's s3 log stream, against a real S3 server: Pulumi's shapes, status codes and messages,
// admins only, every change and export recorded, no credential ever answered or recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedIn } from './auditlog-support.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';
import type { RunningServer } from './support/server.js';
import {
  objectEvents,
  ORG,
  records as orgRecords,
  s3Receiver,
  startStreaming,
  until,
  type S3Receiver,
  type StreamingServer,
} from './auditlog-stream-support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const A = `/api/orgs/${ORG}/auditlogs`;
const X = `${A}/export/config`;
const HOUR_MS = 3_600_000;
const NOT_CONFIGURED = 'Organization has not configured audit log export.';

for (const dialect of DIALECTS) {
  describe(`Pulumi's audit log export API (${dialect})`, () => {
    let db: TestDatabase;
    let s3: S3Receiver;
    let running: StreamingServer;

    beforeAll(async () => {
      db = testDatabase(dialect);
      s3 = await s3Receiver();
      running = await startStreaming(db);
    });
    afterAll(async () => {
      await running.close();
      await s3.close();
      await db.drop();
    });

    const send = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await running.call(method, path, body, token);
      const text = await response.text();
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        body: (text ? JSON.parse(text) : undefined) as Json,
      };
    };
    const records = () => orgRecords(running);
    /** Vigil's connection fields, sent beside Pulumi's. */
    const connection = () => ({
      endpoint: s3.endpoint,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      pathStyle: true,
    });
    const streams = async () => (await send('GET', `${A}/streams`)).body.streams as Json[];

    it("answers 404 and 400 in Pulumi's shape before anything is configured", async () => {
      const got = await send('GET', X);
      expect(got.status).toBe(404);
      expect(got.type).toMatch(/^application\/json/);
      expect(got.body).toMatchObject({ code: 404, errorCode: 'not-found' });
      expect(await send('DELETE', X)).toMatchObject({
        status: 400,
        body: { code: 400, message: NOT_CONFIGURED },
      });
      const force = await send('POST', `${X}/force?timestamp=${Math.floor(Date.now() / 1000)}`);
      expect(force).toMatchObject({ status: 400, body: { code: 400, message: NOT_CONFIGURED } });
      // Pulumi's fields alone name no S3 service nor credentials: a self-hosted server has no role to assume.
      const bare = await send('POST', X, {
        newEnabled: true,
        newS3Configuration: { s3BucketName: s3.bucket, iamRoleArn: 'arn:aws:iam::123456789012:role/export' },
      });
      expect(bare.status).toBe(400);
      expect(bare.body.message).toMatch(/^Audit log export is not available for this organization\. /);
      const shapes: Array<[unknown, string]> = [
        [{ newS3Configuration: { s3BucketName: s3.bucket } }, 'newEnabled'],
        [{ newEnabled: true }, 'newS3Configuration'],
        [{ newEnabled: true, newS3Configuration: {} }, 'newS3Configuration.s3BucketName'],
        [{ newEnabled: true, newS3Configuration: { s3BucketName: 7 } }, 'newS3Configuration.s3BucketName'],
        [
          { newEnabled: true, newS3Configuration: { ...connection(), s3BucketName: 'No_Such' } },
          's3BucketName',
        ],
      ];
      for (const [body, param] of shapes) {
        const answer = await send('POST', X, body);
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(answer.body.param, JSON.stringify(body)).toBe(param);
      }
      expect(await streams()).toEqual([]);
    });

    it('tests a destination by writing an object, and says what failed', async () => {
      const before = (await records()).length;
      const ok = await send('POST', `${X}/test`, {
        ...connection(),
        s3BucketName: s3.bucket,
        s3PathPrefix: 'tested',
      });
      expect(ok.status).toBe(200);
      expect(Object.keys(ok.body).sort()).toEqual(['message', 'timestamp']);
      expect(ok.body.message).toBe('');
      expect(Math.abs(ok.body.timestamp - Date.now() / 1000)).toBeLessThan(3600);
      const written = await s3.objects('tested/');
      expect(written.map((o) => o.key)).toEqual(['tested/vigil-export-test.json']);
      expect(JSON.parse(written[0]!.body.toString())).toMatchObject({ org: ORG });

      const refused = await send('POST', `${X}/test`, {
        ...connection(),
        secretAccessKey: 'not-the-secret',
        s3BucketName: s3.bucket,
      });
      expect(refused).toMatchObject({ status: 200, body: { message: 'HTTP 403 SignatureDoesNotMatch' } });
      const missing = await send('POST', `${X}/test`, { ...connection(), s3BucketName: 'no-such-bucket' });
      expect(missing.body.message).toBe('HTTP 404 NoSuchBucket');

      const fresh = (await records()).slice(before);
      expect(fresh.map((r) => [r.event, r.outcome])).toEqual([
        ['audit-log-export-tested', 'success'],
        ['audit-log-export-tested', 'success'],
        ['audit-log-export-tested', 'success'],
      ]);
      expect(fresh[0]!.description).toBe(
        `Tested the audit log export to s3 bucket "${s3.bucket}", prefix "tested" at ${s3.endpoint}: wrote a test object`,
      );
      expect(fresh[1]!.description).toMatch(/: failed \(HTTP 403 SignatureDoesNotMatch\)$/);
      expect(JSON.stringify(fresh)).not.toContain('not-the-secret');
    });

    it("configures, reads, changes and exports through the organization's s3 stream", async () => {
      const before = (await records()).length;
      const role = 'arn:aws:iam::123456789012:role/pulumi-export';
      const configured = await send('POST', X, {
        newEnabled: true,
        newS3Configuration: {
          ...connection(),
          s3BucketName: s3.bucket,
          s3PathPrefix: 'pulumi',
          iamRoleArn: role,
        },
      });
      expect(configured.status).toBe(204);
      expect(configured.body).toBeUndefined();
      const created = (await records()).slice(before);
      expect(created.map((r) => r.event)).toEqual(['audit-log-stream-created']);
      expect(created[0]!.description).toBe(
        `Created log stream "pulumi-export" (s3 bucket "${s3.bucket}", prefix "pulumi" at ${s3.endpoint}, from now)`,
      );

      const got = await send('GET', X);
      expect(got.status).toBe(200);
      expect(got.body).toEqual({
        enabled: true,
        s3Config: { s3BucketName: s3.bucket, s3PathPrefix: 'pulumi', iamRoleArn: role },
        lastResult: { timestamp: expect.any(Number), message: '' },
      });
      const [stream] = (await streams()).filter((s) => s.name === 'pulumi-export');
      expect(stream).toMatchObject({ kind: 's3', bucket: s3.bucket, paused: false, iamRoleArn: role });

      // Delivery runs: lastResult is its latest success.
      await until(async () => (await send('GET', X)).body.lastResult.timestamp > 0);
      await until(async () => (await s3.objects('pulumi/')).length > 0);
      for (const object of await s3.objects('pulumi/'))
        expect(object.key).toMatch(/^pulumi\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d+-\d+\.jsonl\.gz$/);

      // Pulumi's fields alone change bucket, prefix and state; the connection stays.
      const changed = await send('POST', X, {
        newEnabled: false,
        newS3Configuration: { s3BucketName: s3.bucket, s3PathPrefix: 'backfill', iamRoleArn: role },
      });
      expect(changed.status).toBe(204);
      expect((await records()).at(-1)).toMatchObject({
        event: 'audit-log-stream-updated',
        description: `Updated log stream "pulumi-export" (s3 bucket "${s3.bucket}", prefix "backfill" at ${s3.endpoint}, paused)`,
      });
      expect((await send('GET', X)).body).toMatchObject({
        enabled: false,
        s3Config: { s3PathPrefix: 'backfill' },
      });
      expect((await send('POST', `${X}/test`, { s3BucketName: s3.bucket })).body.message).toBe('');

      // force: the hour of the log's first entry, again, under the current prefix (paused or not).
      const first = (await records())[0]!;
      const hour = Math.floor(first.time / HOUR_MS) * HOUR_MS;
      const forced = await send('POST', `${X}/force?timestamp=${Math.floor(first.time / 1000)}`);
      expect(forced.status).toBe(200);
      expect(forced.body).toEqual({ timestamp: expect.any(Number), message: '' });
      const all = await records();
      const exported = all.at(-1)!;
      expect(exported).toMatchObject({ event: 'audit-log-exported', outcome: 'success' });
      expect(exported.description).toContain(`recorded from ${new Date(hour).toISOString()}`);
      const expected = all
        .map((r, index) => ({ index, time: r.time as number }))
        .filter((e) => e.time >= hour && e.time < hour + HOUR_MS)
        .map((e) => e.index);
      const backfilled = (await s3.objects('backfill/'))
        .filter((o) => o.key.endsWith('.jsonl.gz'))
        .flatMap(objectEvents)
        .map((e) => e.index);
      expect(backfilled.sort((a, b) => a - b)).toEqual(expected);

      const bad = await send('POST', `${X}/force?timestamp=soon`);
      expect(bad).toMatchObject({
        status: 400,
        body: { code: 400, errorCode: 'invalid-parameter', param: 'timestamp' },
      });
      expect((await send('POST', `${X}/force`)).body.message).toBe('timestamp is required');

      const texts = [
        JSON.stringify(await records()),
        JSON.stringify(await streams()),
        running.log.join('\n'),
      ];
      for (const text of texts) expect(text).not.toContain(s3.secretAccessKey);

      expect((await send('DELETE', X)).status).toBe(204);
      expect((await records()).at(-1)).toMatchObject({ event: 'audit-log-stream-deleted' });
      expect((await send('GET', X)).status).toBe(404);
      expect((await send('DELETE', X)).body.message).toBe(NOT_CONFIGURED);
    });

    it('lets only organization admins near the export settings, recording each refusal', async () => {
      const api = { url: running.url } as RunningServer;
      const auditor = await signedIn(api, 'audrey', 'auditor');
      const calls: Array<[string, string, unknown]> = [
        ['GET', X, undefined],
        ['POST', X, { newEnabled: true, newS3Configuration: { ...connection(), s3BucketName: s3.bucket } }],
        ['DELETE', X, undefined],
        ['POST', `${X}/test`, { ...connection(), s3BucketName: s3.bucket }],
        ['POST', `${X}/force?timestamp=0`, undefined],
      ];
      for (const [method, path, body] of calls) {
        const before = (await records()).length;
        const answer = await send(method, path, body, auditor);
        expect(answer.status, `${method} ${path}`).toBe(403);
        expect(answer.body).toMatchObject({ code: 403, errorCode: 'access-denied' });
        const fresh = (await records()).slice(before);
        expect(fresh).toHaveLength(1);
        expect(fresh[0]).toMatchObject({ event: 'auth-failure-organization-role', outcome: 'denied' });
      }
    });

    it('names the log reader', async () => {
      const response = await running.call('GET', `${A}/reader-kind`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toBe('standard');
      expect((await running.call('GET', `${A}/reader-kind`, undefined, 'not-a-token')).status).toBe(401);
    });
  });
}
