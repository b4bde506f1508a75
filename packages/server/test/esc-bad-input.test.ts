// Hostile and mistaken input against a real server on both engines: every request answers the right 4xx in
// Pulumi's `{code, message}` shape (with `diagnostics` for definitions), never a 500, and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
const TARGET = `/environments/${ORG}/app/target`;
const GOOD = 'values:\n  kept: true\n  pw:\n    fn::secret: bad-input-secret\n';

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(
  running: RunningServer,
  method: string,
  path: string,
  options: { body?: string | Uint8Array; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Reply> {
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  const response = await fetch(`${running.url}/api/esc${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `token ${token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** Asserts Pulumi's error shape: `{code: <status>, message}`, JSON, with the status expected. */
function expectError(reply: Reply, status: number, what: string): void {
  expect(reply.status, `${what}: ${reply.text}`).toBe(status);
  expect(reply.headers.get('content-type'), what).toMatch(/^application\/json/);
  expect(reply.json, what).toMatchObject({ code: status, message: expect.any(String) });
  expect(reply.json.message.length, what).toBeGreaterThan(0);
}

for (const dialect of DIALECTS) {
  describe(`ESC bad input on ${dialect}`, () => {
    let running: RunningServer;

    /** Everything a failed request must leave as it was. */
    async function snapshot() {
      const definition = await call(running, 'GET', TARGET);
      const revisions = await call(running, 'GET', `${TARGET}/versions`);
      const revisionTags = await call(running, 'GET', `${TARGET}/versions/tags`);
      const tags = await call(running, 'GET', `${TARGET}/tags`);
      const settings = await call(running, 'GET', `${TARGET}/settings`);
      const environments = await call(running, 'GET', `/environments/${ORG}`);
      return {
        yaml: definition.text,
        etag: definition.headers.get('etag'),
        revisions: revisions.json,
        revisionTags: revisionTags.json.tags,
        tags: tags.json.tags,
        settings: settings.json,
        environments: environments.json.environments.map((e: { project: string; name: string }) => [
          e.project,
          e.name,
        ]),
      };
    }

    let before: Awaited<ReturnType<typeof snapshot>>;

    beforeAll(async () => {
      running = await startServer(dialect);
      expect(
        (await call(running, 'POST', `/environments/${ORG}`, { body: '{"project":"app","name":"target"}' }))
          .status,
      ).toBe(200);
      expect((await call(running, 'PATCH', TARGET, { body: GOOD })).status).toBe(200);
      expect(
        (await call(running, 'POST', `${TARGET}/tags`, { body: '{"name":"owner","value":"ops"}' })).status,
      ).toBe(200);
      before = await snapshot();
    });
    afterAll(async () => running.stop());

    it('refuses broken definitions with 400 and diagnostics, writing no revision', async () => {
      const cases: Record<string, string> = {
        'malformed YAML': 'values: [unclosed\n  a: b\n',
        'unknown reference': 'values:\n  a: ${nowhere}\n',
        'a list, not a mapping': '- just\n- a list\n',
        'a scalar document': '"just a string"\n',
        'a missing import': 'imports:\n  - app/does-not-exist\n',
        'an unknown function': 'values:\n  a:\n    fn::nope: 1\n',
        'control bytes': 'values:\n  a: "\u0000\u0001"\n\u0007: x\n',
        'a bad ciphertext': 'values:\n  a:\n    fn::secret:\n      ciphertext: AAAA\n',
      };
      for (const [what, yaml] of Object.entries(cases)) {
        const reply = await call(running, 'PATCH', TARGET, {
          body: yaml,
          headers: { 'content-type': 'application/x-yaml' },
        });
        expectError(reply, 400, what);
        expect(reply.json.diagnostics, what).toEqual(
          expect.arrayContaining([expect.objectContaining({ summary: expect.any(String) })]),
        );
      }
      const check = await call(running, 'POST', `/environments/${ORG}/yaml/check`, {
        body: cases['malformed YAML'],
      });
      expect(check.status).toBe(400);
      expect(check.json.diagnostics.length).toBeGreaterThan(0);
      const open = await call(running, 'POST', `/environments/${ORG}/yaml/open`, {
        body: cases['unknown reference'],
      });
      expectError(open, 400, 'yaml/open of a broken definition');
      expect(open.json.diagnostics[0]).toMatchObject({ summary: 'unknown property "nowhere"' });
      expect(await snapshot()).toEqual(before);
    });

    it('survives pathological YAML: deep nesting and alias bombs answer 4xx, not 500', async () => {
      const deep = `values:\n  a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
      const bomb = [
        'values:',
        '  a: &a ["x","x","x","x","x","x","x","x","x","x"]',
        '  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
        '  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
        '  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
        '  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
        '  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]',
        '  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]',
        '  h: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]',
        '',
      ].join('\n');
      for (const [what, yaml] of [
        ['deep nesting', deep],
        ['alias bomb', bomb],
      ] as const) {
        const reply = await call(running, 'PATCH', TARGET, { body: yaml });
        expect(reply.status, `${what}: ${reply.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(reply.status, what).toBeLessThan(500);
        expect(reply.json, what).toMatchObject({ code: reply.status, message: expect.any(String) });
      }
      expect(await snapshot()).toEqual(before);
    });

    it('refuses JSON bodies that are not objects, or lack what they must hold', async () => {
      const bodies = [
        '',
        '[]',
        '"text"',
        'null',
        '42',
        '{',
        '{"project": 1, "name": "x"}',
        '{"project":"app"}',
      ];
      for (const body of bodies) {
        expectError(
          await call(running, 'POST', `/environments/${ORG}`, { body }),
          400,
          `create with ${JSON.stringify(body)}`,
        );
      }
      const elsewhere: Array<[string, string]> = [
        ['POST', `${TARGET}/tags`],
        ['PATCH', `${TARGET}/tags/owner`],
        ['POST', `${TARGET}/versions/tags`],
        ['PATCH', `${TARGET}/versions/tags/latest`],
        ['PATCH', `${TARGET}/settings`],
        ['POST', `${TARGET}/clone`],
        ['PUT', `/environments/${ORG}/restore`],
        ['POST', `${TARGET}/versions/1/retract`],
      ];
      for (const [method, path] of elsewhere) {
        for (const body of ['[1]', '"x"', '{not json']) {
          expectError(await call(running, method, path, { body }), 400, `${method} ${path} ${body}`);
        }
      }
      expectError(
        await call(running, 'PATCH', `${TARGET}/settings`, { body: '{"deletionProtected":"yes"}' }),
        400,
        'settings with a string',
      );
      expectError(
        await call(running, 'POST', `${TARGET}/versions/tags`, { body: '{"name":"t","revision":1.5}' }),
        400,
        'fractional revision',
      );
      expectError(
        await call(running, 'POST', `${TARGET}/clone`, { body: '{"name":"c","project":""}' }),
        400,
        'clone into an empty project name',
      );
      expect(await snapshot()).toEqual(before);
    });

    it("refuses names that break Pulumi's rules", async () => {
      const names: Array<[string, string]> = [
        ['app', 'open'],
        ['app', 'yaml'],
        ['app', '..'],
        ['app', 'has space'],
        ['app', 'slash/inside'],
        ['app', 'ünïcode'],
        ['app', 'x'.repeat(101)],
        ['.', 'dot-project'],
        ['', 'empty-project'],
      ];
      for (const [project, name] of names) {
        expectError(
          await call(running, 'POST', `/environments/${ORG}`, { body: JSON.stringify({ project, name }) }),
          400,
          `create ${project}/${name}`,
        );
      }
      for (const path of [
        `/environments/${ORG}/app/has%20space`,
        `/environments/${ORG}/app/%C3%BC`,
        `/environments/${ORG}/app/target/versions/tags/3abc`,
      ]) {
        const reply = await call(running, 'GET', path);
        expectError(reply, 400, `GET ${path}`);
      }
      expectError(
        await call(running, 'POST', `${TARGET}/versions/tags`, { body: '{"name":"1st","revision":1}' }),
        400,
        'revision tag starting with a digit',
      );
      expectError(
        await call(running, 'POST', `${TARGET}/tags`, { body: '{"name":"has space","value":"v"}' }),
        400,
        'environment tag with a space',
      );
      expectError(
        await call(running, 'POST', `${TARGET}/tags`, {
          body: JSON.stringify({ name: 'long', value: 'v'.repeat(257) }),
        }),
        400,
        'environment tag value too long',
      );
      expectError(
        await call(running, 'POST', `${TARGET}/versions/tags`, { body: '{"name":"latest","revision":1}' }),
        400,
        'creating latest',
      );
      expect(await snapshot()).toEqual(before);
    });

    // Fastify's router would answer these before any route runs, in its own shape; app.ts routes them to ours.
    it('answers a path segment over 100 characters in Pulumi’s shape', async () => {
      expectError(
        await call(running, 'GET', `/environments/${ORG}/app/${'y'.repeat(101)}`),
        400,
        'long segment',
      );
    });
    it('answers a malformed percent-encoding in Pulumi’s shape', async () => {
      expectError(await call(running, 'GET', `/environments/${ORG}/app/%E0%A4%A`), 400, 'bad encoding');
    });

    it('refuses bodies over 1 MiB with 413', async () => {
      const big = `values:\n  blob: "${'a'.repeat(1024 * 1024 + 10)}"\n`;
      expectError(await call(running, 'PATCH', TARGET, { body: big }), 413, 'PATCH');
      expectError(
        await call(running, 'POST', `/environments/${ORG}/yaml/check`, { body: big }),
        413,
        'yaml/check',
      );
      expectError(
        await call(running, 'POST', `/environments/${ORG}`, {
          body: JSON.stringify({ project: 'app', name: 'x', pad: 'p'.repeat(1024 * 1024) }),
        }),
        413,
        'create',
      );
      expect(await snapshot()).toEqual(before);
    });

    it('answers unknown revisions, tags and malformed versions with 404 or 400', async () => {
      const notFound = [
        ['GET', `${TARGET}/versions/99`],
        ['GET', `${TARGET}/versions/nosuchtag`],
        ['POST', `${TARGET}/versions/99/open`],
        ['POST', `${TARGET}/versions/nosuchtag/open`],
        ['GET', `${TARGET}/versions/99/decrypt`],
        ['POST', `${TARGET}/versions/99/check`],
        ['POST', `${TARGET}/versions/99/retract`],
        ['GET', `${TARGET}/versions/tags/nosuchtag`],
        ['DELETE', `${TARGET}/versions/tags/nosuchtag`],
        ['GET', `${TARGET}/tags/nosuchtag`],
        ['DELETE', `${TARGET}/tags/nosuchtag`],
        ['GET', `/environments/${ORG}/app/nowhere`],
        ['PATCH', `/environments/${ORG}/app/nowhere`],
        ['DELETE', `/environments/${ORG}/app/nowhere`],
      ] as const;
      for (const [method, path] of notFound) {
        expectError(
          await call(running, method, path, method === 'PATCH' ? { body: GOOD } : {}),
          404,
          `${method} ${path}`,
        );
      }
      for (const version of ['03', '0', '3a', '99999999999']) {
        expectError(await call(running, 'GET', `${TARGET}/versions/${version}`), 400, `version ${version}`);
      }
      expectError(
        await call(running, 'POST', `${TARGET}/versions/tags`, { body: '{"name":"t","revision":99}' }),
        404,
        'tag a missing revision',
      );
      expectError(
        await call(running, 'POST', `${TARGET}/versions/1/retract`, { body: '{"replacement":99}' }),
        404,
        'retract with a missing replacement',
      );
      expectError(await call(running, 'GET', `${TARGET}/versions?before=abc`), 400, 'before=abc');
      expectError(await call(running, 'GET', `${TARGET}/versions?count=-1`), 400, 'count=-1');
      expectError(
        await call(running, 'GET', `/environments/${ORG}?continuationToken=bm9wZQ`),
        400,
        'forged continuation token',
      );
      expectError(await call(running, 'GET', `/environments/${ORG}?maxResults=0`), 400, 'maxResults=0');
      expect(await snapshot()).toEqual(before);
    });

    it('answers unknown, malformed and expired open sessions with 404, and bad property paths with 400', async () => {
      for (const id of ['nope', 'A'.repeat(43), '..%2F..%2Fetc']) {
        expectError(await call(running, 'GET', `${TARGET}/open/${id}`), 404, `session ${id}`);
        expectError(
          await call(running, 'GET', `/environments/${ORG}/yaml/open/${id}`),
          404,
          `anonymous ${id}`,
        );
      }
      const id = (await call(running, 'POST', `${TARGET}/open`)).json.id as string;
      for (const property of ['a..b', '[', 'a[', '.a', '["unterminated']) {
        expectError(
          await call(running, 'GET', `${TARGET}/open/${id}?property=${encodeURIComponent(property)}`),
          400,
          `property ${property}`,
        );
      }
      expectError(
        await call(running, 'GET', `${TARGET}/open/${id}?property=missing`),
        404,
        'missing property',
      );
      // A session opened for one environment does not open another.
      await call(running, 'POST', `/environments/${ORG}`, { body: '{"project":"app","name":"other"}' });
      expectError(await call(running, 'GET', `/environments/${ORG}/app/other/open/${id}`), 404, 'other env');
      await call(running, 'DELETE', `/environments/${ORG}/app/other`);

      const brief = (await call(running, 'POST', `${TARGET}/open?duration=200ms`)).json.id as string;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const expired = await call(running, 'GET', `${TARGET}/open/${brief}`);
      expectError(expired, 404, 'expired session');
      expect(expired.json.message).toMatch(/expired/);
      expect(expired.text).not.toContain('bad-input-secret');
      expect(await snapshot()).toEqual(before);
    });

    it('answers wrong ETags with 409 and writes nothing', async () => {
      const current = before.etag!;
      for (const etag of ['"garbage"', 'garbage', `W/${current}`, '""', `${current}x`]) {
        for (const header of ['if-match', 'etag']) {
          const reply = await call(running, 'PATCH', TARGET, {
            body: 'values:\n  kept: false\n',
            headers: { [header]: etag },
          });
          expectError(reply, 409, `${header}: ${etag}`);
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    it('answers an unknown organization with 404 and a malformed one with 400', async () => {
      for (const [method, path] of [
        ['GET', '/environments/nosuchorg'],
        ['GET', '/environments/nosuchorg/app/target'],
        ['POST', '/environments/nosuchorg/app/target/open'],
        ['GET', '/environments/nosuchorg/tags'],
        ['GET', '/environments/nosuchorg/restore'],
      ] as const) {
        expectError(await call(running, method, path), 404, `${method} ${path}`);
      }
      expectError(
        await call(running, 'POST', '/environments/nosuchorg', { body: '{"project":"app","name":"x"}' }),
        404,
        'create in an unknown organization',
      );
      expectError(
        await call(running, 'POST', '/environments/nosuchorg/yaml/open', { body: 'values: {}\n' }),
        404,
        'anonymous open in an unknown organization',
      );
      for (const org of ['a', '-bad-', 'x'.repeat(41)]) {
        const reply = await call(running, 'GET', `/environments/${org}`);
        expect([400, 404], `org ${org}: ${reply.text}`).toContain(reply.status);
        expect(reply.json).toMatchObject({ code: reply.status, message: expect.any(String) });
      }
      expect(await snapshot()).toEqual(before);
    });

    it('answers a missing or invalid token with 401, recording and revealing nothing', async () => {
      const recorded = (await running.records()).length;
      for (const [what, token, headers] of [
        ['no token', null, {}],
        ['unknown token', 'vgl_pat_' + 'A'.repeat(43), {}],
        ['garbage token', 'not-a-token', {}],
        ['overlong token', 'x'.repeat(5000), {}],
        ['wrong scheme', null, { authorization: `Basic ${ADMIN_TOKEN}` }],
        ['empty token', null, { authorization: 'token ' }],
      ] as const) {
        for (const [method, path, body] of [
          ['GET', TARGET, undefined],
          ['PATCH', TARGET, 'values:\n  kept: false\n'],
          ['GET', `${TARGET}/decrypt`, undefined],
          ['POST', `/environments/${ORG}`, '{"project":"app","name":"sneaky"}'],
          ['GET', `/environments/${ORG}`, undefined],
        ] as const) {
          const reply = await call(running, method, path, {
            token,
            headers,
            ...(body !== undefined ? { body } : {}),
          });
          expectError(reply, 401, `${what}: ${method} ${path}`);
          expect(reply.text).not.toContain('bad-input-secret');
        }
      }
      expect((await running.records()).length).toBe(recorded);
      expect(await snapshot()).toEqual(before);
    });

    it('left the environment exactly as it was, and never answered 500', async () => {
      expect(await snapshot()).toEqual(before);
      const text = JSON.stringify(await running.records());
      expect(text).not.toContain('bad-input-secret');
      for (const m of before.yaml.matchAll(/ciphertext:\s*(\S+)/g)) expect(text).not.toContain(m[1]);
    });
  });
}
