import { request as httpRequest, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { decodeBase64, leafHash, openCheckpoint, verifyInclusion } from '@vigil/ledger';
import { formatExportLine, parseExportLine, type AuditRecord } from '@vigil/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, ORG, seed, seedRecord, type Json } from './auditlog-support.js';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const L = `/api/orgs/${ORG}/auditlogs`;
const T = Date.parse('2026-01-05T10:00:00Z');

function rawGet(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `token ${ADMIN_TOKEN}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** The decompressed body of an export and its headers; the export is gzip-compressed whatever was asked. */
async function exported(
  running: RunningServer,
  query: string,
): Promise<{ lines: Buffer[]; response: IncomingMessage }> {
  const response = await rawGet(`${running.url}${L}/v2/export?${query}`);
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-encoding']).toBe('gzip');
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const body = gunzipSync(Buffer.concat(chunks));
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = body.indexOf(0x0a); i >= 0; start = i + 1, i = body.indexOf(0x0a, start))
    lines.push(body.subarray(start, i));
  expect(start).toBe(body.length); // every line ends with \n
  return { lines, response };
}

describe('jsonl export framing', () => {
  it('recovers exactly the bytes it framed, and nothing that breaks the frame', () => {
    const entry = Buffer.from('{"a":"\\u2028 é","n":1}');
    const line = formatExportLine(42, entry);
    expect(Buffer.from(line).toString()).toBe(`{"index":42,"entry":${entry.toString()}}\n`);
    const parsed = parseExportLine(line)!;
    expect(parsed.index).toBe(42);
    expect(Buffer.from(parsed.entry).equals(entry)).toBe(true);
    expect(parseExportLine(line.subarray(0, line.length - 1))).toEqual(parsed);
    for (const bad of [
      '{"index":042,"entry":{}}',
      '{"index":-1,"entry":{}}',
      '{"index":1,"entry":',
      '{"index":1,"entry"}',
      '{"index":99999999999999999,"entry":{}}',
      '{"entry":{},"index":1}',
      '{"index":1, "entry":{}}',
      '',
    ])
      expect(parseExportLine(Buffer.from(bad)), bad).toBeUndefined();
  });
});

/** One record per OCSF class (and a refusal), with the fields each class maps. */
const OCSF_SEEDS: Array<Partial<AuditRecord>> = [
  {
    event: 'environment-open',
    description: 'Opened environment "payments/prod" at revision 4',
    actor: {
      kind: 'token',
      login: 'alice',
      name: 'Alice Liddell',
      tokenId: 'tok-1',
      tokenName: 'ci-deploy',
      tokenKind: 'personal',
    },
    resource: { project: 'payments', environment: 'prod', revision: 4 },
    sourceIP: '203.0.113.9',
    userAgent: 'esc/0.12',
    requestId: 'req-7',
  },
  {
    event: 'member-role-changed',
    description: 'Changed organization role for "bob" to admin',
    actor: { kind: 'user', login: 'alice', name: 'Alice Liddell' },
    resource: { member: 'bob' },
    reqOrgAdmin: true,
  },
  {
    event: 'user-login-failed',
    description: 'Failed sign-in for "mallory"',
    actor: { kind: 'user', login: 'mallory', name: 'mallory' },
    outcome: 'denied',
    authFailure: true,
  },
  {
    event: 'team-created',
    description: 'Created team "ops"',
    actor: { kind: 'user', login: 'alice', name: 'Alice Liddell' },
    resource: { team: 'ops' },
    reqOrgAdmin: true,
  },
  {
    event: 'auth-failure-environment',
    description: 'bob may not delete environment "payments/prod"',
    actor: { kind: 'user', login: 'bob', name: 'Bob' },
    resource: { project: 'payments', environment: 'prod' },
    outcome: 'denied',
    authFailure: true,
  },
];

for (const dialect of DIALECTS) {
  describe(`jsonl and OCSF exports on ${dialect}`, () => {
    let running: RunningServer;
    let api: ReturnType<typeof client>;

    beforeAll(async () => {
      running = await startServer(dialect);
      api = client(running);
      await seed(
        running,
        OCSF_SEEDS.map((over, n) => seedRecord(T + n, n, over)),
      );
      await seed(
        running,
        [...Array(30).keys()].map((n) =>
          seedRecord(T + 1000 + n, 100 + n, {
            actor: { kind: 'user', login: n % 3 === 0 ? 'alice' : 'carol', name: 'X' },
          }),
        ),
      );
    }, 60_000);
    afterAll(async () => running.stop());

    it('exports each selected entry with its exact bytes, each verifiable against the signed checkpoint', async () => {
      const q = 'actor:alice -event:member-role-changed';
      const { lines, response } = await exported(running, `format=jsonl&q=${encodeURIComponent(q)}`);
      expect(response.headers['content-type']).toBe('application/x-ndjson');
      expect(response.headers['content-disposition']).toBe('attachment; filename="auditlogs.jsonl"');
      // The export's own record is sequenced first; then a checkpoint covering everything is signed.
      await running.server.publisher.publishAll();
      const key = (await (await api.call(`${L}/verifier-key`)).text()).trim();
      const checkpoint = openCheckpoint(await (await api.call(`${L}/checkpoint`)).text(), key);
      const stored = await running.records();
      const expected = stored
        .map((r, index) => ({ r, index }))
        .filter(({ r }) => (r.actor as Json).login === 'alice' && r.event !== 'member-role-changed')
        .map(({ index }) => index)
        .reverse();
      expect(expected.length).toBeGreaterThan(10);
      expect(lines.map((l) => parseExportLine(l)!.index)).toEqual(expected);
      for (const line of lines) {
        // Valid JSON as a whole …
        const json = JSON.parse(line.toString()) as { index: number; entry: Json };
        // … whose entry bytes, cut out of the frame, are what the tree hashed.
        const { index, entry } = parseExportLine(line)!;
        expect(json.index).toBe(index);
        expect(JSON.parse(Buffer.from(entry).toString())).toEqual(json.entry);
        const proof = (await (
          await api.call(`${L}/proof/inclusion?index=${index}&treeSize=${checkpoint.size}`)
        ).json()) as { leafHash: string; hashes: string[] };
        const leaf = leafHash(entry);
        expect(Buffer.from(decodeBase64(proof.leafHash)!).equals(Buffer.from(leaf))).toBe(true);
        verifyInclusion(
          index,
          checkpoint.size,
          leaf,
          proof.hashes.map((h) => decodeBase64(h)!),
          checkpoint.root,
        );
      }
      // A single flipped byte does not verify.
      const { index, entry } = parseExportLine(lines[0]!)!;
      const forged = Buffer.from(entry);
      forged[forged.length - 2] = forged[forged.length - 2]! ^ 1;
      const proof = (await (
        await api.call(`${L}/proof/inclusion?index=${index}&treeSize=${checkpoint.size}`)
      ).json()) as { hashes: string[] };
      expect(() =>
        verifyInclusion(
          index,
          checkpoint.size,
          leafHash(forged),
          proof.hashes.map((h) => decodeBase64(h)!),
          checkpoint.root,
        ),
      ).toThrow();
    });

    it('records each export with its format and query', async () => {
      const before = (await running.records()).length;
      for (const format of ['jsonl', 'ocsf'])
        await exported(running, `format=${format}&q=${encodeURIComponent('actor:alice "team"')}`);
      const fresh = (await running.records()).slice(before);
      expect(fresh.map((r) => [r.event, r.description])).toEqual([
        [
          'audit-log-exported',
          'Exported the audit log of organization "acme" as JSONL (v2; query "actor:alice \\"team\\"")',
        ],
        [
          'audit-log-exported',
          'Exported the audit log of organization "acme" as OCSF (v2; query "actor:alice \\"team\\"")',
        ],
      ]);
    });

    it('maps each class as OCSF 1.x: API Activity, Account Change, Authentication, Entity Management', async () => {
      const window = `created:${new Date(T).toISOString()}..${new Date(T + 999).toISOString()}`;
      const { lines, response } = await exported(running, `format=ocsf&q=${encodeURIComponent(window)}`);
      expect(response.headers['content-type']).toBe('application/x-ndjson');
      expect(response.headers['content-disposition']).toBe('attachment; filename="auditlogs.ocsf.jsonl"');
      const events = lines.map((l) => JSON.parse(l.toString()) as Json).reverse();
      expect(events).toHaveLength(OCSF_SEEDS.length);
      const jsonl = await exported(running, `format=jsonl&q=${encodeURIComponent(window)}`);
      const indexes = jsonl.lines.map((l) => String(parseExportLine(l)!.index)).reverse();
      const [open, role, login, team, refused] = events as Array<Json & { unmapped: Json }>;
      const metadata = (n: number) => ({
        product: { name: 'Vigil', vendor_name: 'Vigil' },
        version: '1.3.0',
        uid: indexes[n],
        log_name: 'audit',
      });

      expect(open).toEqual({
        time: T,
        class_uid: 6003,
        class_name: 'API Activity',
        category_uid: 6,
        category_name: 'Application Activity',
        activity_id: 2,
        activity_name: 'Read',
        type_uid: 600302,
        type_name: 'API Activity: Read',
        severity_id: 1,
        severity: 'Informational',
        status_id: 1,
        status: 'Success',
        message: 'Opened environment "payments/prod" at revision 4',
        metadata: metadata(0),
        actor: {
          user: { name: 'alice', uid: 'alice', full_name: 'Alice Liddell', type_id: 1, type: 'User' },
        },
        src_endpoint: { ip: '203.0.113.9' },
        http_request: { user_agent: 'esc/0.12', uid: 'req-7' },
        api: { operation: 'environment-open', service: { name: 'Vigil' } },
        resources: [{ type: 'environment', name: 'payments/prod' }],
        unmapped: {
          event: 'environment-open',
          org: 'acme',
          actor_kind: 'token',
          token: { id: 'tok-1', name: 'ci-deploy', kind: 'personal' },
          resource: { project: 'payments', environment: 'prod', revision: 4 },
        },
      });

      expect(role).toMatchObject({
        time: T + 1,
        class_uid: 3001,
        category_uid: 3,
        category_name: 'Identity & Access Management',
        activity_id: 7,
        activity_name: 'Attach Policy',
        type_uid: 300107,
        severity_id: 2,
        status: 'Success',
        metadata: metadata(1),
        actor: { user: { name: 'alice', uid: 'alice' } },
        user: { name: 'bob', uid: 'bob', type_id: 1 },
        src_endpoint: { ip: '198.51.100.7' },
        unmapped: { event: 'member-role-changed', resource: { member: 'bob' }, req_org_admin: true },
      });
      expect(role).not.toHaveProperty('api');

      expect(login).toMatchObject({
        class_uid: 3002,
        class_name: 'Authentication',
        activity_id: 1,
        activity_name: 'Logon',
        type_uid: 300201,
        severity_id: 3,
        status_id: 2,
        status: 'Failure',
        user: { name: 'mallory', uid: 'mallory' },
        actor: { user: { name: 'mallory' } },
        metadata: metadata(2),
        unmapped: { event: 'user-login-failed', auth_failure: true },
      });

      expect(team).toMatchObject({
        class_uid: 3004,
        class_name: 'Entity Management',
        activity_id: 1,
        type_uid: 300401,
        entity: { type: 'team', name: 'ops' },
        metadata: metadata(3),
      });
      expect(team).not.toHaveProperty('user');

      expect(refused).toMatchObject({
        class_uid: 6003,
        activity_id: 99,
        activity_name: 'Other',
        type_uid: 600399,
        status: 'Failure',
        severity_id: 3,
        api: { operation: 'auth-failure-environment' },
      });
      for (const event of events)
        expect(event.type_uid).toBe((event.class_uid as number) * 100 + (event.activity_id as number));
    });
  });
}
