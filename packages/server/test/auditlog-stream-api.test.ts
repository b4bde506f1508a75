// Managing log-stream destinations through the API: admins only, every change recorded, secrets write-only,
// filters validated at creation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedIn } from './auditlog-support.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';
import type { RunningServer } from './support/server.js';
import { ORG, startStreaming, webhookReceiver, type StreamingServer } from './auditlog-stream-support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const S = `/api/orgs/${ORG}/auditlogs/streams`;

for (const dialect of DIALECTS) {
  describe(`log-stream API (${dialect})`, () => {
    let db: TestDatabase;
    let running: StreamingServer;
    const records = async () => {
      const size = await running.server.ledger.size(ORG);
      const out: Json[] = [];
      for await (const e of running.server.ledger.entries(ORG, 0, size))
        out.push(JSON.parse(Buffer.from(e.data).toString()) as Json);
      return out;
    };
    const send = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await running.call(method, path, body, token);
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Json };
    };

    beforeAll(async () => {
      db = testDatabase(dialect);
      running = await startStreaming(db, { intervalMs: 3_600_000 });
    });
    afterAll(async () => {
      await running.close();
      await db.drop();
    });

    it('creates a webhook stream, answers its secret once, and records the creation without it', async () => {
      const created = await send('POST', S, {
        name: 'siem',
        kind: 'webhook',
        url: 'https://siem.example/ingest?token=abc',
        q: 'event:environment-* -outcome:denied',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        name: 'siem',
        kind: 'webhook',
        url: 'https://siem.example/ingest?token=abc',
        q: 'event:environment-* -outcome:denied',
        paused: false,
        createdBy: 'admin',
        // Its own creation record is the first it will deliver.
        health: { lag: 1, lastSuccess: null, lastError: null, failures: 0 },
      });
      const secret = String(created.body.secret);
      expect(secret).toMatch(/^vigil-whsec-[A-Za-z0-9_-]{43}$/);

      const got = await send('GET', `${S}/${created.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body.secret).toBeUndefined();
      const listed = await send('GET', S);
      expect(listed.body.streams).toHaveLength(1);
      expect(JSON.stringify(listed.body)).not.toContain(secret);

      const last = (await records()).at(-1)!;
      expect(last).toMatchObject({
        event: 'audit-log-stream-created',
        outcome: 'success',
        reqOrgAdmin: true,
      });
      // The description names the destination's origin only: its query string may carry a token.
      expect(last.description).toBe(
        'Created log stream "siem" (webhook to https://siem.example, filter "event:environment-* -outcome:denied", from now)',
      );
      expect(JSON.stringify(await records())).not.toContain(secret);
      expect(running.log.join('\n')).not.toContain(secret);
    });

    it('refuses a filter that does not parse, pointing at the token', async () => {
      const bad = await send('POST', S, {
        name: 'bad',
        kind: 'webhook',
        url: 'https://x.example',
        q: 'actor:',
      });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'invalid-argument', param: 'q' });
      expect(bad.body.detail).toMatch(/^q: .*actor:/);
      const unbalanced = await send('POST', S, {
        name: 'bad',
        kind: 'webhook',
        url: 'https://x.example',
        q: 'event:environment-created )',
      });
      expect(unbalanced.status).toBe(400);
      expect(unbalanced.body.detail).toMatch(/"\)" at 26/);
    });

    it('refuses malformed destinations', async () => {
      const cases: Array<[unknown, string]> = [
        [{ name: 'x', kind: 'ftp' }, 'kind'],
        [{ name: 'x', kind: 'webhook', url: 'ftp://x.example' }, 'url'],
        [{ name: 'x', kind: 'webhook', url: 'https://user:pw@x.example' }, 'url'],
        [{ name: 'x', kind: 'webhook', url: 'https://x.example', secret: 'short' }, 'secret'],
        [{ name: 'x y', kind: 'webhook', url: 'https://x.example' }, 'name'],
        [{ name: 'x', kind: 'syslog', host: 'logs.example', port: 70000 }, 'port'],
        [{ name: 'x', kind: 'syslog', host: 'bad host', port: 514 }, 'host'],
        [{ name: 'x', kind: 'syslog', host: 'logs.example', port: '514' }, 'port'],
        [{ name: 'x', kind: 'webhook', url: 'https://x.example', from: 'yesterday' }, 'from'],
        [{ name: 'siem', kind: 'webhook', url: 'https://x.example' }, 'name'],
      ];
      for (const [body, param] of cases) {
        const answer = await send('POST', S, body);
        expect(answer.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
        expect(answer.status, JSON.stringify(body)).toBeLessThan(500);
        expect(answer.body.param, JSON.stringify(body)).toBe(param);
      }
    });

    it('updates, pauses, resumes and deletes, recording each change', async () => {
      const created = await send('POST', S, {
        name: 'collector',
        kind: 'syslog',
        host: '127.0.0.1',
        port: 6514,
        tls: true,
      });
      expect(created.status).toBe(201);
      expect(created.body.secret).toBeUndefined();
      const id = String(created.body.id);
      const patched = await send('PATCH', `${S}/${id}`, { port: 1514, q: 'actor:admin' });
      expect(patched.body).toMatchObject({ port: 1514, tls: true, host: '127.0.0.1', q: 'actor:admin' });
      expect((await send('POST', `${S}/${id}/pause`)).body.paused).toBe(true);
      expect((await send('POST', `${S}/${id}/resume`)).body.paused).toBe(false);
      const cleared = await send('PATCH', `${S}/${id}`, { q: null });
      expect(cleared.body.q).toBeNull();
      expect((await send('PATCH', `${S}/${id}`, { kind: 'webhook' })).status).toBe(400);
      expect((await send('DELETE', `${S}/${id}`)).status).toBe(204);
      expect((await send('GET', `${S}/${id}`)).status).toBe(404);
      expect((await send('DELETE', `${S}/${id}`)).status).toBe(404);
      const events = (await records()).slice(-5).map((r) => [r.event, r.description]);
      expect(events).toEqual([
        [
          'audit-log-stream-updated',
          'Updated log stream "collector" (syslog to 127.0.0.1:1514 over TLS, filter "actor:admin")',
        ],
        ['audit-log-stream-updated', 'Paused log stream "collector"'],
        ['audit-log-stream-updated', 'Resumed log stream "collector"'],
        ['audit-log-stream-updated', 'Updated log stream "collector" (syslog to 127.0.0.1:1514 over TLS)'],
        ['audit-log-stream-deleted', 'Deleted log stream "collector" (syslog to 127.0.0.1:1514 over TLS)'],
      ]);
    });

    it('replaces a webhook secret write-only', async () => {
      const receiver = await webhookReceiver();
      try {
        const created = await send('POST', S, { name: 'rotating', kind: 'webhook', url: receiver.url });
        const next = 'a-new-secret-of-thirty-two-chars';
        const patched = await send('PATCH', `${S}/${created.body.id}`, { secret: next });
        expect(patched.status).toBe(200);
        expect(JSON.stringify(patched.body)).not.toContain(next);
        expect((await records()).at(-1)!.description).toContain('new secret');
        expect(JSON.stringify(await records())).not.toContain(next);
        await send('DELETE', `${S}/${created.body.id}`);
      } finally {
        await receiver.close();
      }
    });

    it('lets only organization admins manage or read streams, recording each refusal', async () => {
      // signedIn calls the API only (through `url`).
      const api = { url: running.url } as RunningServer;
      const auditor = await signedIn(api, 'audrey', 'auditor');
      const member = await signedIn(api, 'mel', 'member');
      for (const token of [auditor, member]) {
        for (const [method, path, body] of [
          ['GET', S, undefined],
          ['POST', S, { name: 'sneaky', kind: 'webhook', url: 'https://evil.example' }],
        ] as const) {
          const before = (await records()).length;
          const answer = await send(method, path, body, token);
          expect(answer.status).toBe(403);
          const fresh = (await records()).slice(before);
          expect(fresh).toHaveLength(1);
          expect(fresh[0]).toMatchObject({
            event: 'auth-failure-organization-role',
            outcome: 'denied',
            reqOrgAdmin: true,
          });
        }
      }
      expect((await send('GET', S)).body.streams.map((s: Json) => s.name)).not.toContain('sneaky');
    });
  });
}
