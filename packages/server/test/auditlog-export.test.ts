import { request as httpRequest, type IncomingMessage } from 'node:http';
import { gunzipSync, createGunzip } from 'node:zlib';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_APPLICATION_NAME } from '../src/audit/audit-query.js';
import { cefExtension, cefHeader } from '../src/audit/cef.js';
import { CSV_HEADER, csvCell } from '../src/audit/csv.js';
import { csvFields, toAuditLogEvent } from '../src/audit/pulumi-event.js';
import { client, ORG, seed, seedRecord, signedIn, T0 } from './auditlog-support.js';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const L = `/api/orgs/${ORG}/auditlogs`;
const FORMULA = `=cmd|' /C calc'!A0`;

/** A GET with no Accept-Encoding, answered raw (fetch would decompress behind our back). */
function rawGet(url: string, token: string | null = ADMIN_TOKEN): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: token ? { authorization: `token ${token}` } : {} }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function body(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('CSV and CEF cells', () => {
  it('neutralizes every formula prefix and quotes as RFC 4180', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r']) expect(csvCell(`${start}1+1`)).toMatch(/^"?'/);
    expect(csvCell(FORMULA)).toBe(`'${FORMULA}`);
    expect(csvCell('-1,"x"')).toBe(`"'-1,""x"""`);
    expect(csvCell('a\nb')).toBe('"a\nb"');
    expect(csvCell('plain text')).toBe('plain text');
    expect(csvCell('')).toBe('');
  });

  it('reads the fields of a CSV line as the event the API answers does, whatever the bytes hold', () => {
    // csvFields is the export's shortcut past toAuditLogEvent: for any entry, the same columns.
    const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const recordish = fc.record(
      {
        time: fc.oneof(fc.integer({ min: -1e15, max: 1e15 }), fc.double(), fc.string()),
        event: fc.oneof(
          fc.constantFrom('environment-open', 'environment-revision-tag-open', 'user-login'),
          value,
        ),
        description: fc.oneof(fc.string(), fc.constant(FORMULA), value),
        sourceIP: fc.oneof(fc.constant('203.0.113.9'), value),
        actor: fc.oneof(
          fc.record(
            { login: fc.oneof(fc.string(), value), name: fc.oneof(fc.string(), value), kind: fc.string() },
            { requiredKeys: [] },
          ),
          value,
        ),
        reqOrgAdmin: value,
        authFailure: value,
      },
      { requiredKeys: [] },
    );
    const bytes = fc.oneof(
      recordish.map((r) => new TextEncoder().encode(JSON.stringify(r))),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(
      fc.property(bytes, (data) => {
        const event = toAuditLogEvent(data);
        const fields = csvFields(data);
        expect(fields).toEqual({
          timestamp: event.timestamp,
          name: event.user.name,
          login: event.user.githubLogin,
          event: event.event,
          description: event.description,
          sourceIP: event.sourceIP,
          reqOrgAdmin: event.reqOrgAdmin === true,
          reqStackAdmin: event.reqStackAdmin === true,
          authFailure: event.authFailure === true,
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('escapes CEF header and extension syntax', () => {
    expect(cefHeader('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    expect(cefExtension('k=v\\x\r\ny')).toBe('k\\=v\\\\x\\r\\ny');
  });
});

for (const dialect of DIALECTS) {
  describe(`audit log export on ${dialect}`, () => {
    let running: RunningServer;
    let api: ReturnType<typeof client>;
    let mallory: string;

    beforeAll(async () => {
      running = await startServer(dialect);
      api = client(running);
      // A member whose display name is a spreadsheet formula; refused below, so it reaches the log.
      mallory = await signedIn(running, 'mallory', 'member', FORMULA);
      expect((await api.call(`${L}/v2`, mallory)).status).toBe(403);
      // An environment tag whose value quotes, commas and a formula reach a record's description.
      await api.send('POST', `/api/esc/environments/${ORG}`, { project: 'app', name: 'prod' });
      const tag = await api.send('POST', `/api/esc/environments/${ORG}/app/prod/tags`, {
        name: 'owner',
        value: '=HYPERLINK("http://x.example","y"),1',
      });
      expect(tag.status).toBe(200);
    }, 60_000);
    afterAll(async () => running.stop());

    it('answers gzip-compressed CSV with Pulumi’s header, RFC 3339 times, quoting and neutralized formulas', async () => {
      const response = await rawGet(`${running.url}${L}/v2/export`);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-encoding']).toBe('gzip');
      expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
      const text = gunzipSync(await body(response)).toString('utf8');
      const lines = text.split('\r\n');
      expect(lines[0]).toBe(CSV_HEADER);
      expect(lines.pop()).toBe('');
      const refusal = lines.find((l) => l.includes('auth-failure-organization-role'))!;
      expect(refusal).toMatch(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ,'=cmd\\|' /C calc'!A0,mallory,auth-failure-organization-role,`,
        ),
      );
      expect(refusal.endsWith(',127.0.0.1,false,false,true')).toBe(true);
      const tag = lines.find((l) => l.includes('environment-tag-created'))!;
      expect(tag).toContain(
        `,"Added tag ""owner"" = ""=HYPERLINK(""http://x.example"",""y""),1"" to environment ""app/prod""",`,
      );
      expect(tag.endsWith(',127.0.0.1,false,false,false')).toBe(true);
      // Every data line has nine cells (a naive split works: no cell here holds a comma outside quotes).
      expect(lines.filter((l) => l.startsWith('2')).length).toBe(lines.length - 1);
    });

    it('answers CEF lines in a syslog prefix', async () => {
      const response = await rawGet(
        `${running.url}${L}/export?format=cef&userFilter=mallory&eventFilter=auth-failure-organization-role`,
      );
      expect(response.headers['content-encoding']).toBe('gzip');
      const lines = gunzipSync(await body(response))
        .toString('utf8')
        .trimEnd()
        .split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ CEF:0\|Vigil\|Vigil\|1\|auth-failure-organization-role\|mallory may not read the audit log of organization "acme": role member\|7\|dvchost=\S+ rt=\d{13} src=127\.0\.0\.1 suser=mallory orgID=acme requireOrgAdmin=false requireStackAdmin=false authenticationFailure=true$/,
      );
    });

    it('records each export, with its format and filters, before answering', async () => {
      const before = (await running.records()).length;
      const response = await api.call(
        `${L}/v2/export?format=cef&startTime=${T0}&userFilter=mallory&eventFilter=Auth%20Failure%20Organization%20Role`,
      );
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      const fresh = (await running.records()).slice(before);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]).toMatchObject({
        event: 'audit-log-exported',
        outcome: 'success',
        actor: { login: 'admin' },
      });
      expect(fresh[0]!.description).toBe(
        'Exported the audit log of organization "acme" as CEF (v2; from 2001-09-09T01:46:40Z, user "mallory", event auth-failure-organization-role)',
      );
    });

    it('refuses members, recording the refusal, and answers nothing', async () => {
      const before = (await running.records()).length;
      const response = await api.call(`${L}/export`, mallory);
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ errorCode: 'access-denied' });
      const fresh = (await running.records()).slice(before);
      expect(fresh.map((r) => r.event)).toEqual(['auth-failure-organization-role']);
      expect(fresh[0]!.description).toContain('export the audit log');
    });

    it('streams 20,000 events, and stops cleanly when the client goes away', async () => {
      const actor = { kind: 'user' as const, login: 'bulk', name: 'Bulk' };
      await seed(
        running,
        [...Array(20_000).keys()].map((n) => seedRecord((T0 + 1000) * 1000 + (n % 1000), n, { actor })),
      );
      const response = await rawGet(`${running.url}${L}/v2/export?userFilter=bulk`);
      expect(response.statusCode).toBe(200);
      let lines = 0;
      let rest = '';
      const seeds: number[] = [];
      for await (const chunk of response.pipe(createGunzip())) {
        const parts = (rest + (chunk as Buffer).toString('utf8')).split('\r\n');
        rest = parts.pop()!;
        for (const line of parts) {
          const seed = /,seed (\d+),/.exec(line);
          if (seed) seeds.push(Number(seed[1]));
          lines++;
        }
      }
      expect(rest).toBe('');
      expect(lines).toBe(20_001);
      // Every event once, newest first: no chunk lost, repeated or overwritten (chunk buffers are reused).
      const descending = [...Array(20_000).keys()].reverse();
      expect(seeds).toEqual(descending);

      // Read one chunk, then hang up: the server must carry on answering.
      const aborted = await rawGet(`${running.url}${L}/v2/export?userFilter=bulk`);
      await new Promise<void>((resolve) => aborted.once('data', () => resolve()));
      aborted.destroy();
      await new Promise((r) => setTimeout(r, 100));
      expect((await api.call(`${L}/v2?userFilter=bulk`)).status).toBe(200);

      // The whole log, no filter (on PostgreSQL: one COPY on a connection of its own), read to the end, then again
      // with a hang-up after the first chunk: the COPY's connection ends with it.
      const whole = gunzipSync(await body(await rawGet(`${running.url}${L}/v2/export`))).toString('utf8');
      const wholeLines = whole.split('\r\n').slice(1, -1);
      expect(wholeLines.length).toBeGreaterThan(20_000);
      expect(wholeLines.flatMap((l) => /,seed (\d+),/.exec(l)?.[1] ?? []).map(Number)).toEqual(descending);
      const hungUp = await rawGet(`${running.url}${L}/v2/export`);
      await new Promise<void>((resolve) => hungUp.once('data', () => resolve()));
      hungUp.destroy();
      if (dialect === 'postgres') {
        const admin = new pg.Client({ connectionString: running.db.databaseUrl });
        await admin.connect();
        try {
          // Export connections of the whole database: other test files' servers may open some meanwhile, so the
          // wait is for those that exist now (this export's among them) to go away, not for none to exist.
          const copies = async () =>
            (
              await admin.query<{ pid: number }>(
                `SELECT pid FROM pg_stat_activity WHERE application_name = $1`,
                [EXPORT_APPLICATION_NAME],
              )
            ).rows.map((row) => row.pid);
          const atHangUp = await copies();
          let left = atHangUp;
          for (let waited = 0; left.length > 0 && waited < 10_000; waited += 50) {
            await new Promise((r) => setTimeout(r, 50));
            const now = await copies();
            left = atHangUp.filter((pid) => now.includes(pid));
          }
          expect(left).toEqual([]);
        } finally {
          await admin.end();
        }
      }
      expect((await api.call(`${L}/v2?userFilter=bulk`)).status).toBe(200);
    }, 120_000);
  });
}
