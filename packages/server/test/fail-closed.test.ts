// Fail closed: no secret leaves the server unless its audit record is durably written, and no change commits
// without its record. The ledger is made to fail underneath a running server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, rawSql } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const SECRET = 'correct horse battery staple 7f3a';
const E = '/api/esc/environments/acme/payments/prod';

for (const dialect of DIALECTS) {
  describe(`fail closed on ${dialect}`, () => {
    let running: RunningServer;
    const log: string[] = [];
    const call = (method: string, path: string, body?: string) =>
      fetch(`${running.url}${path}`, {
        method,
        headers: { authorization: `token ${ADMIN_TOKEN}`, 'content-type': 'application/x-yaml' },
        ...(body !== undefined ? { body } : {}),
      });
    const breakLedger = () =>
      rawSql(running.db, ['ALTER TABLE ledger_entries RENAME TO ledger_entries_gone']);
    const repairLedger = () =>
      rawSql(running.db, ['ALTER TABLE ledger_entries_gone RENAME TO ledger_entries']);

    beforeAll(async () => {
      running = await startServer(dialect, {}, { log });
      expect(
        (await call('POST', '/api/esc/environments/acme', '{"project":"payments","name":"prod"}')).status,
      ).toBe(200);
      const update = await call('PATCH', E, `values:\n  password:\n    fn::secret: ${SECRET}\n  user: app\n`);
      expect(update.status).toBe(200);
    });
    afterAll(async () => running.stop());

    it('reveals nothing and changes nothing while the ledger cannot write', async () => {
      const session = (await (await call('POST', `${E}/open`)).json()) as { id: string };
      expect(session.id).toBeTruthy();
      const before = (await running.records()).length;

      await breakLedger();
      try {
        for (const [method, path, body] of [
          ['POST', `${E}/open`],
          ['GET', `${E}/open/${session.id}`],
          ['GET', `${E}/open//${session.id}?property=password`],
          ['GET', `${E}/decrypt`],
          ['POST', `${E}/check?showSecrets=true`],
          ['GET', E],
          ['PATCH', E, 'values:\n  user: changed\n'],
          ['DELETE', E],
        ] as Array<[string, string, string?]>) {
          const response = await call(method, path, body);
          const text = await response.text();
          expect(response.status, `${method} ${path}`).toBe(503);
          expect(response.headers.get('retry-after')).toBeTruthy();
          expect(JSON.parse(text)).toMatchObject({ code: 503, errorCode: 'ledger-unavailable' });
          expect(text).not.toContain(SECRET);
          expect(text).not.toContain('correct horse');
        }
      } finally {
        await repairLedger();
      }

      // Nothing happened: no revision, no deletion, no record.
      expect((await running.records()).length).toBe(before);
      const read = await call('GET', E);
      expect(read.status).toBe(200);
      expect(read.headers.get('pulumi-esc-revision')).toBe('2');
      expect(await read.text()).not.toContain('changed');
      // And the server recovers by itself.
      const reopened = await call('POST', `${E}/open`);
      expect(reopened.status).toBe(200);
    });

    it('never writes a secret into a record or a log line', async () => {
      const records = JSON.stringify(await running.records());
      const stored = await (await call('GET', E)).text();
      const ciphertext = /ciphertext: (\S+)/.exec(stored)?.[1];
      expect(ciphertext).toBeTruthy();
      for (const needle of [SECRET, ciphertext!]) {
        expect(records).not.toContain(needle);
        expect(log.join('\n')).not.toContain(needle);
      }
      expect(log.length).toBeGreaterThan(0); // the logger did see the traffic
    });
  });
}
