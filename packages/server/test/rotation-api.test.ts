// Secret rotation through the API on both engines: `fn::rotate::random`, what a rotation writes (a new revision,
// state sealed as `fn::secret` ciphertext, `current` and `previous`), partial failures and per-path retries, the
// history in Pulumi's shapes, the `environment-rotated` record, and refusals (write on the environment, open on
// what it imports).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
/** Answers parsed from JSON, read loosely in assertions. */
type Loose = any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly json: Loose;
}

async function call(
  running: RunningServer,
  method: string,
  path: string,
  body?: string | object,
  token = ADMIN_TOKEN,
): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${running.url}/api/esc${path}`, {
    method,
    headers: {
      authorization: `token ${token}`,
      ...(text !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(text !== undefined ? { body: text } : {}),
  });
  const out = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    json = undefined;
  }
  return { status: response.status, text: out, json };
}

const E = (name: string) => `/environments/${ORG}/app/${name}`;

const RANDOM_ENV = `values:
  token:
    fn::rotate::random:
      inputs:
        length: 24
  nested:
    apiKey:
      fn::rotate::random:
        inputs: { length: 16, special: true }
  plain: unchanged
`;

for (const dialect of DIALECTS) {
  describe(`secret rotation on ${dialect}`, () => {
    let running: RunningServer;
    let bob = '';
    let devs = '';
    const admin = (method: string, path: string, body?: string | object) => call(running, method, path, body);

    /** The decrypted definition's rotation state, parsed from `GET …/decrypt`. */
    async function opened(name: string): Promise<Loose> {
      const session = await admin('POST', `${E(name)}/open`);
      expect(session.status, session.text).toBe(200);
      const values = await admin('GET', `${E(name)}/open/${session.json.id}`);
      const plain = (v: Loose): Loose =>
        v && typeof v === 'object' && 'value' in v
          ? plain(v.value)
          : v && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, e]) => [k, plain(e)]))
            : v;
      return plain(values.json.properties);
    }

    async function create(name: string, yaml: string): Promise<void> {
      expect((await admin('POST', `/environments/${ORG}`, { project: 'app', name })).status).toBe(200);
      const r = await admin('PATCH', E(name), yaml);
      expect(r.status, r.text).toBe(200);
    }

    beforeAll(async () => {
      running = await startServer(dialect);
      const { iam, storage } = running.server;
      await iam.createUser(storage.db, { login: 'bob', name: 'Bob' });
      await iam.addMember(storage.db, ORG, 'bob', 'member');
      bob = (await iam.createToken(storage.db, { kind: 'personal', user: 'bob', description: 't' })).token;
      await iam.createTeam(storage.db, ORG, { name: 'devs' });
      await iam.grantTeamEnvironmentPermission(storage.db, ORG, 'devs', {
        project: 'app',
        environment: 'importer',
        permission: 'write',
      });
      devs = (await iam.createToken(storage.db, { kind: 'team', org: ORG, team: 'devs', description: 'ci' }))
        .token;
      await create('web', RANDOM_ENV);
    });
    afterAll(async () => running.stop());

    it('rotates every fn::rotate path, writing a new revision with the state sealed', async () => {
      const before = (await running.records()).length;
      const r = await admin('POST', `${E('web')}/rotate`, {});
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({
        id: r.json.secretRotationEvent.id,
        secretRotationEvent: {
          environmentId: expect.any(String),
          preRotationRevision: 2,
          postRotationRevision: 3,
          userID: 'admin',
          status: 'succeeded',
          rotations: [
            { environmentPath: 'token', status: 'succeeded', id: expect.any(String) },
            { environmentPath: 'nested.apiKey', status: 'succeeded', id: expect.any(String) },
          ],
        },
      });
      expect(Date.parse(r.json.secretRotationEvent.created)).not.toBeNaN();
      expect(Date.parse(r.json.secretRotationEvent.completed)).not.toBeNaN();

      const values = await opened('web');
      expect(values.token.current).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(values.token.previous).toBeUndefined();
      expect(values.nested.apiKey.current).toHaveLength(16);
      expect(values.plain).toBe('unchanged');

      // The stored definition holds ciphertext only, and keeps the rest of the definition.
      const stored = await admin('GET', E('web'));
      expect(stored.text).toContain('ciphertext:');
      expect(stored.text).toContain('plain: unchanged');
      expect(stored.text).not.toContain(values.token.current);
      expect(stored.text).not.toContain(values.nested.apiKey.current);

      const records = (await running.records()).slice(before);
      const rotated = records.filter((x) => x.event === 'environment-rotated');
      expect(rotated).toHaveLength(1);
      expect(rotated[0]).toMatchObject({
        outcome: 'success',
        description: 'Rotated environment "app/web": succeeded for token, nested.apiKey; wrote revision 3',
        resource: { project: 'app', environment: 'web', revision: 3 },
      });
      expect(JSON.stringify(records)).not.toContain(values.token.current);
    });

    it('rotates only the named paths, keeping current as previous', async () => {
      const before = await opened('web');
      const r = await admin('POST', `${E('web')}/rotate`, { paths: ['token'] });
      expect(r.status, r.text).toBe(200);
      expect(r.json.secretRotationEvent.rotations).toEqual([
        { id: expect.any(String), environmentPath: 'token', status: 'succeeded' },
      ]);
      const after = await opened('web');
      expect(after.token.previous).toBe(before.token.current);
      expect(after.token.current).not.toBe(before.token.current);
      expect(after.nested.apiKey).toEqual(before.nested.apiKey);
      // The Go CLI's field name.
      const go = await admin('POST', `${E('web')}/rotate`, { Paths: ['nested.apiKey'] });
      expect(go.json.secretRotationEvent.rotations).toMatchObject([{ environmentPath: 'nested.apiKey' }]);
    });

    it('reports a failed path with its error, writes the others, and retries the failed one alone', async () => {
      await create(
        'partial',
        `values:
  good:
    fn::rotate::random:
      inputs: { length: 12 }
  bad:
    fn::rotate::random:
      inputs: { length: 1, lower: true, upper: true }
`,
      );
      const r = await admin('POST', `${E('partial')}/rotate`);
      expect(r.status, r.text).toBe(200);
      expect(r.json.secretRotationEvent).toMatchObject({
        status: 'failed',
        errorMessage: '1 of 2 rotations failed',
        preRotationRevision: 2,
        postRotationRevision: 3,
        rotations: [
          { environmentPath: 'good', status: 'succeeded' },
          {
            environmentPath: 'bad',
            status: 'failed',
            errorMessage: 'rotate: length must be at least 3 to include every class',
          },
        ],
      });
      const good = (await opened('partial')).good;
      expect(good.current).toHaveLength(12);
      const record = (await running.records()).findLast((x) => x.event === 'environment-rotated');
      expect(record).toMatchObject({
        event: 'environment-rotated',
        description:
          'Rotation of environment "app/partial" failed for bad, succeeded for good; wrote revision 3',
      });

      // Fix the inputs (keeping the sealed state), then retry the failed path only.
      const stored = await admin('GET', E('partial'));
      const fixed = stored.text.replace('length: 1,', 'length: 8,');
      expect(fixed).not.toBe(stored.text);
      expect((await admin('PATCH', E('partial'), fixed)).status).toBe(200);
      const retry = await admin('POST', `${E('partial')}/rotate`, { paths: ['bad'] });
      expect(retry.json.secretRotationEvent).toMatchObject({
        status: 'succeeded',
        preRotationRevision: 4,
        postRotationRevision: 5,
        rotations: [{ environmentPath: 'bad', status: 'succeeded' }],
      });
      const after = await opened('partial');
      expect(after.bad.current).toHaveLength(8);
      expect(after.good).toEqual({ current: good.current });
    });

    it('writes nothing when every path fails', async () => {
      await create(
        'broken',
        'values:\n  x:\n    fn::rotate::random:\n      inputs: { length: 1, lower: true, upper: true }\n',
      );
      const r = await admin('POST', `${E('broken')}/rotate`);
      expect(r.json.secretRotationEvent).toMatchObject({ status: 'failed', preRotationRevision: 2 });
      expect(r.json.secretRotationEvent.postRotationRevision).toBeUndefined();
      expect((await admin('GET', `${E('broken')}/versions`)).json).toHaveLength(2);
    });

    it('answers the history newest first, in Pulumi shapes', async () => {
      const h = await admin('GET', `${E('partial')}/rotate/history`);
      expect(h.status, h.text).toBe(200);
      expect(h.json.events.map((e: Loose) => e.status)).toEqual(['succeeded', 'failed']);
      expect(h.json.events[0]).toEqual({
        id: expect.any(String),
        environmentId: expect.any(String),
        created: expect.any(String),
        completed: expect.any(String),
        preRotationRevision: 4,
        postRotationRevision: 5,
        userID: 'admin',
        status: 'succeeded',
        rotations: [{ id: expect.any(String), environmentPath: 'bad', status: 'succeeded' }],
      });
      expect((await admin('GET', `${E('web')}/rotate/history`)).json.events).toHaveLength(3);
    });

    it('refuses unknown paths and environments without fn::rotate', async () => {
      const unknown = await admin('POST', `${E('web')}/rotate`, { paths: ['nope'] });
      expect(unknown.status).toBe(400);
      expect(unknown.json.message).toContain('no fn::rotate at "nope"');
      await create('static', 'values:\n  a: 1\n');
      expect((await admin('POST', `${E('static')}/rotate`)).status).toBe(400);
      expect((await admin('POST', `${E('web')}/rotate`, { paths: 'token' })).status).toBe(400);
    });

    it('refuses a rotation without write, recording the refusal', async () => {
      const before = (await running.records()).length;
      const r = await call(running, 'POST', `${E('web')}/rotate`, {}, bob);
      expect(r.status).toBe(403);
      const records = (await running.records()).slice(before);
      expect(records).toMatchObject([
        {
          event: 'auth-failure-environment',
          outcome: 'denied',
          description: 'bob may not rotate environment "app/web": needs write permission, has read',
        },
      ]);
    });

    it('refuses a rotation whose imports the caller may not open, before any rotator runs', async () => {
      await create('secret-source', 'values:\n  seed: 16\n');
      await create(
        'importer',
        'values:\n  k:\n    fn::rotate::random:\n      inputs:\n        length: ${environments.app.secret-source.seed}\n',
      );
      const before = (await running.records()).length;
      const r = await call(running, 'POST', `${E('importer')}/rotate`, {}, devs);
      expect(r.status, r.text).toBe(403);
      const records = (await running.records()).slice(before);
      expect(records).toMatchObject([
        {
          event: 'environment-unauthorized-open',
          outcome: 'denied',
          description:
            'acme/devs may not import environment "app/secret-source" into "app/importer" to rotate it: needs open permission',
        },
      ]);
      expect((await admin('GET', `${E('importer')}/rotate/history`)).json.events).toEqual([]);
      // The admin may.
      const ok = await admin('POST', `${E('importer')}/rotate`);
      expect(ok.json.secretRotationEvent.status).toBe('succeeded');
      expect((await opened('importer')).k.current).toHaveLength(16);
    });

    it('refuses the history to non-members, recording it', async () => {
      const { iam, storage } = running.server;
      await iam.createUser(storage.db, { login: 'eve', name: 'Eve' });
      const eve = (await iam.createToken(storage.db, { kind: 'personal', user: 'eve', description: 't' }))
        .token;
      const r = await call(running, 'GET', `${E('web')}/rotate/history`, undefined, eve);
      expect(r.status).toBe(403);
      expect((await running.records()).at(-1)).toMatchObject({
        event: 'auth-failure-organization-role',
        outcome: 'denied',
      });
    });
  });
}
