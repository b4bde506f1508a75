// Refused attempts against a real server on both engines: who may do what to an environment, that every refusal
// is recorded (durably, before the 403 leaves), and that `read` never reveals a secret value.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
const SECRET = 'prod-db-password-plaintext';

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(
  running: RunningServer,
  token: string,
  method: string,
  path: string,
  body?: string | object,
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

const E = (project: string, name: string) => `/environments/${ORG}/${project}/${name}`;

for (const dialect of DIALECTS) {
  describe(`ESC access control on ${dialect}`, () => {
    let running: RunningServer;
    /** Personal tokens: bob is a member (org default `read`, team devs), audrey an auditor, eve no member. */
    const tokens: Record<'bob' | 'audrey' | 'eve' | 'devs', string> = {
      bob: '',
      audrey: '',
      eve: '',
      devs: '',
    };
    const admin = (method: string, path: string, body?: string | object) =>
      call(running, ADMIN_TOKEN, method, path, body);

    /** Sends the request, then — at once, with no wait — finds the record it left. */
    async function refusedAndRecorded(
      who: keyof typeof tokens,
      method: string,
      path: string,
      expected: { event: string; description: string | RegExp },
      body?: string | object,
    ): Promise<Record<string, unknown>> {
      const before = (await running.records()).length;
      const reply = await call(running, tokens[who], method, path, body);
      const records = (await running.records()).slice(before);
      expect(reply.status, `${method} ${path}`).toBe(403);
      expect(reply.json).toMatchObject({
        code: 403,
        message: expect.any(String),
        errorCode: 'access-denied',
      });
      expect(reply.text).not.toContain(SECRET);
      const record = records.find((r) => r.event === expected.event);
      expect(record, `${expected.event} for ${method} ${path}: ${JSON.stringify(records)}`).toBeDefined();
      expect(record).toMatchObject({ outcome: 'denied', org: ORG });
      if (typeof expected.description === 'string') expect(record!.description).toBe(expected.description);
      else expect(record!.description).toMatch(expected.description);
      return record!;
    }

    beforeAll(async () => {
      running = await startServer(dialect);
      const { iam, storage } = running.server;
      const db = storage.db;
      for (const login of ['bob', 'audrey', 'eve'] as const) {
        await iam.createUser(db, { login, name: login.toUpperCase() });
        tokens[login] = (
          await iam.createToken(db, { kind: 'personal', user: login, description: 'test' })
        ).token;
      }
      await iam.addMember(db, ORG, 'bob', 'member');
      await iam.addMember(db, ORG, 'audrey', 'auditor');
      await iam.createTeam(db, ORG, { name: 'devs' });
      await iam.addTeamMember(db, ORG, 'devs', 'bob');
      await iam.grantTeamEnvironmentPermission(db, ORG, 'devs', {
        project: 'app',
        environment: 'dev',
        permission: 'open',
      });
      await iam.grantTeamEnvironmentPermission(db, ORG, 'devs', {
        project: 'app',
        environment: 'sandbox',
        permission: 'write',
      });
      tokens.devs = (
        await iam.createToken(db, { kind: 'team', org: ORG, team: 'devs', description: 'ci' })
      ).token;

      for (const name of ['prod', 'dev', 'sandbox']) {
        expect((await admin('POST', `/environments/${ORG}`, { project: 'app', name })).status).toBe(200);
      }
      expect(
        (
          await admin(
            'PATCH',
            E('app', 'prod'),
            `values:\n  db:\n    password:\n      fn::secret: ${SECRET}\n`,
          )
        ).status,
      ).toBe(200);
      expect((await admin('PATCH', E('app', 'dev'), 'values:\n  stage: dev\n')).status).toBe(200);
    });
    afterAll(async () => running.stop());

    it('refuses a reader who opens, recording auth-failure-environment before answering 403', async () => {
      const record = await refusedAndRecorded('bob', 'POST', `${E('app', 'prod')}/open`, {
        event: 'auth-failure-environment',
        description: 'bob may not open environment "app/prod": needs open permission, has read',
      });
      expect(record).toMatchObject({
        actor: { kind: 'token', login: 'bob', tokenKind: 'personal' },
        resource: { project: 'app', environment: 'prod' },
        authFailure: true,
      });
      await refusedAndRecorded('bob', 'POST', `${E('app', 'prod')}/versions/2/open`, {
        event: 'auth-failure-environment',
        description: /^bob may not open environment "app\/prod"/,
      });
    });

    it('records environment-unauthorized-open when the opener cannot even read the environment', async () => {
      // A team token holds only its team's grants, and devs has none on app/prod.
      await refusedAndRecorded('devs', 'POST', `${E('app', 'prod')}/open`, {
        event: 'environment-unauthorized-open',
        description: 'acme/devs may not open environment "app/prod": needs open permission, has none',
      });
      await refusedAndRecorded(
        'devs',
        'POST',
        `${E('app', 'prod')}/clone`,
        {
          event: 'environment-unauthorized-open',
          description: /^acme\/devs may not clone environment "app\/prod"/,
        },
        { name: 'stolen' },
      );
      expect((await admin('GET', E('app', 'stolen'))).status).toBe(404);
      // The team token's own grant works.
      expect((await call(running, tokens.devs, 'POST', `${E('app', 'dev')}/open`)).status).toBe(200);
    });

    it('refuses a non-member everything with auth-failure-organization-role', async () => {
      await refusedAndRecorded('eve', 'GET', `/environments/${ORG}`, {
        event: 'auth-failure-organization-role',
        description: 'eve may not list environments in organization "acme": not a member',
      });
      await refusedAndRecorded('eve', 'GET', E('app', 'prod'), {
        event: 'auth-failure-organization-role',
        description: 'eve may not read environment "app/prod": not a member of "acme"',
      });
      await refusedAndRecorded('eve', 'POST', `${E('app', 'prod')}/open`, {
        event: 'auth-failure-organization-role',
        description: /^eve may not open environment "app\/prod"/,
      });
      await refusedAndRecorded(
        'eve',
        'POST',
        `/environments/${ORG}`,
        {
          event: 'auth-failure-organization-role',
          description: /^eve may not create environment "app\/intruder"/,
        },
        { project: 'app', name: 'intruder' },
      );
      await refusedAndRecorded(
        'eve',
        'POST',
        `/environments/${ORG}/yaml/open`,
        {
          event: 'auth-failure-organization-role',
          description: /^eve may not open environments in organization "acme"/,
        },
        'values: {}\n',
      );
    });

    it('gives an auditor no environment access at all', async () => {
      await refusedAndRecorded('audrey', 'GET', `/environments/${ORG}`, {
        event: 'auth-failure-organization-role',
        description: 'audrey may not list environments in organization "acme": role auditor',
      });
      await refusedAndRecorded('audrey', 'GET', E('app', 'dev'), {
        event: 'auth-failure-environment',
        description: 'audrey may not read environment "app/dev": needs read permission, has none',
      });
      await refusedAndRecorded('audrey', 'POST', `${E('app', 'dev')}/open`, {
        event: 'environment-unauthorized-open',
        description: 'audrey may not open environment "app/dev": needs open permission, has none',
      });
      await refusedAndRecorded('audrey', 'GET', `${E('app', 'dev')}/versions`, {
        event: 'auth-failure-environment',
        description: /^audrey may not list revisions of environment "app\/dev"/,
      });
      expect((await call(running, tokens.audrey, 'HEAD', E('app', 'dev'))).status).toBe(403);
    });

    it('never reveals a secret to `read`: ciphertext in the definition, every decrypting call refused', async () => {
      const definition = await call(running, tokens.bob, 'GET', E('app', 'prod'));
      expect(definition.status).toBe(200);
      expect(definition.text).toContain('ciphertext');
      expect(definition.text).not.toContain(SECRET);
      const checked = await call(running, tokens.bob, 'POST', `${E('app', 'prod')}/check`);
      expect(checked.status).toBe(200);
      expect(checked.json.properties.db.value.password).toMatchObject({ secret: true });
      expect(checked.text).not.toContain(SECRET);

      for (const [method, path] of [
        ['GET', `${E('app', 'prod')}/decrypt`],
        ['GET', `${E('app', 'prod')}/versions/2/decrypt`],
        ['POST', `${E('app', 'prod')}/check?showSecrets=true`],
        ['POST', `${E('app', 'prod')}/versions/2/check?showSecrets=true`],
      ] as const) {
        await refusedAndRecorded('bob', method, path, {
          event: 'auth-failure-environment',
          description:
            /^bob may not (decrypt|check) environment "app\/prod": needs open permission, has read$/,
        });
      }

      // An open session someone else made is no way around it.
      const session = (await admin('POST', `${E('app', 'prod')}/open`)).json.id as string;
      await refusedAndRecorded('bob', 'GET', `${E('app', 'prod')}/open/${session}`, {
        event: 'auth-failure-environment',
        description: /^bob may not read the open session of environment "app\/prod"/,
      });
      await refusedAndRecorded('bob', 'GET', `${E('app', 'prod')}/open/${session}?property=db.password`, {
        event: 'auth-failure-environment',
        description: /^bob may not read the open session of environment "app\/prod"/,
      });
      const anonymous = (await admin('POST', `/environments/${ORG}/yaml/open`, 'imports:\n  - app/prod\n'))
        .json.id as string;
      const theirs = await call(running, tokens.bob, 'GET', `/environments/${ORG}/yaml/open/${anonymous}`);
      expect(theirs.status).toBe(404);
      expect(theirs.text).not.toContain(SECRET);
    });

    it('does not decrypt a ciphertext a reader copied out of an environment into another definition', async () => {
      const stored = (await call(running, tokens.bob, 'GET', E('app', 'prod'))).text;
      const ciphertext = /ciphertext:\s*(\S+)/.exec(stored)![1]!;
      const smuggled = `values:\n  loot:\n    fn::secret:\n      ciphertext: ${ciphertext}\n`;
      const leaks: string[] = [];
      const inspect = (what: string, reply: Reply) => {
        if (reply.text.includes(SECRET)) leaks.push(`${what} (${reply.status})`);
      };

      const check = await call(
        running,
        tokens.bob,
        'POST',
        `/environments/${ORG}/yaml/check?showSecrets=true`,
        smuggled,
      );
      inspect('yaml/check?showSecrets=true', check);
      const open = await call(running, tokens.bob, 'POST', `/environments/${ORG}/yaml/open`, smuggled);
      inspect('yaml/open', open);
      if (open.status === 200)
        inspect(
          'yaml/open read',
          await call(running, tokens.bob, 'GET', `/environments/${ORG}/yaml/open/${open.json.id}`),
        );

      // bob may write app/sandbox: a definition holding prod's ciphertext must not decrypt there either.
      const patch = await call(running, tokens.bob, 'PATCH', E('app', 'sandbox'), smuggled);
      if (patch.status === 200) {
        inspect('decrypt', await call(running, tokens.bob, 'GET', `${E('app', 'sandbox')}/decrypt`));
        inspect(
          'check?showSecrets',
          await call(running, tokens.bob, 'POST', `${E('app', 'sandbox')}/check?showSecrets=true`),
        );
        const opened = await call(running, tokens.bob, 'POST', `${E('app', 'sandbox')}/open`);
        inspect('open', opened);
        if (opened.status === 200)
          inspect(
            'open read',
            await call(running, tokens.bob, 'GET', `${E('app', 'sandbox')}/open/${opened.json.id}`),
          );
      }
      expect(leaks).toEqual([]);
    });

    it('refuses importing an environment the caller cannot open, recording environment-unauthorized-open', async () => {
      // bob may write app/sandbox and read app/prod, so he may store the import…
      expect(
        (await call(running, tokens.bob, 'PATCH', E('app', 'sandbox'), 'imports:\n  - app/prod\n')).status,
      ).toBe(200);
      // …but opening it would evaluate app/prod's secrets.
      await refusedAndRecorded('bob', 'POST', `${E('app', 'sandbox')}/open`, {
        event: 'environment-unauthorized-open',
        description: 'bob may not import environment "app/prod" into "app/sandbox"',
      });
      await refusedAndRecorded(
        'bob',
        'POST',
        `/environments/${ORG}/yaml/open`,
        {
          event: 'environment-unauthorized-open',
          description: 'bob may not import environment "app/prod" into an anonymous definition',
        },
        'imports:\n  - app/prod\nvalues:\n  x: 1\n',
      );
      await refusedAndRecorded(
        'bob',
        'POST',
        `/environments/${ORG}/yaml/check?showSecrets=true`,
        {
          event: 'environment-unauthorized-open',
          description: 'bob may not import environment "app/prod" into an anonymous definition',
        },
        'imports:\n  - app/prod\n',
      );
      const masked = await call(
        running,
        tokens.bob,
        'POST',
        `/environments/${ORG}/yaml/check`,
        'imports:\n  - app/prod\n',
      );
      expect(masked.status).toBe(200);
      expect(masked.text).not.toContain(SECRET);
      // What bob was granted, he can open.
      const dev = await call(running, tokens.bob, 'POST', `${E('app', 'dev')}/open`);
      expect(dev.status).toBe(200);
    });

    it('lets only an environment admin delete, and write only with write', async () => {
      await refusedAndRecorded('bob', 'DELETE', E('app', 'sandbox'), {
        event: 'auth-failure-environment',
        description: 'bob may not delete environment "app/sandbox": needs admin permission, has write',
      });
      await refusedAndRecorded(
        'bob',
        'PATCH',
        E('app', 'dev'),
        {
          event: 'auth-failure-environment',
          description: 'bob may not update environment "app/dev": needs write permission, has open',
        },
        'values:\n  stage: hacked\n',
      );
      await refusedAndRecorded(
        'bob',
        'PATCH',
        `${E('app', 'sandbox')}/settings`,
        {
          event: 'auth-failure-environment',
          description: /^bob may not change settings of environment "app\/sandbox"/,
        },
        { deletionProtected: true },
      );
      expect((await admin('GET', E('app', 'dev'))).text).not.toContain('hacked');
    });

    it('clones team access only with preserveAccess', async () => {
      expect(
        (await admin('POST', `${E('app', 'dev')}/clone`, { name: 'dev-with-access', preserveAccess: true }))
          .status,
      ).toBe(204);
      expect((await admin('POST', `${E('app', 'dev')}/clone`, { name: 'dev-without-access' })).status).toBe(
        204,
      );
      expect((await call(running, tokens.bob, 'POST', `${E('app', 'dev-with-access')}/open`)).status).toBe(
        200,
      );
      expect((await call(running, tokens.devs, 'POST', `${E('app', 'dev-with-access')}/open`)).status).toBe(
        200,
      );
      expect((await call(running, tokens.bob, 'POST', `${E('app', 'dev-without-access')}/open`)).status).toBe(
        403,
      );
      expect((await call(running, tokens.devs, 'GET', E('app', 'dev-without-access'))).status).toBe(403);
      const descriptions = (await running.records())
        .filter((r) => r.event === 'environment-cloned')
        .map((r) => r.description);
      expect(descriptions).toEqual([
        'Cloned environment "app/dev" into "app/dev-with-access" with the access of team devs',
        'Cloned environment "app/dev" into "app/dev-without-access"',
      ]);
    });

    it('leaves no secret, plaintext or ciphertext, in any record', async () => {
      const stored = (await admin('GET', E('app', 'prod'))).text;
      const ciphertexts = [...stored.matchAll(/ciphertext:\s*(\S+)/g)].map((m) => m[1]!);
      expect(ciphertexts.length).toBeGreaterThan(0);
      const text = JSON.stringify(await running.records());
      for (const secret of [SECRET, ...ciphertexts]) expect(text).not.toContain(secret);
      for (const token of Object.values(tokens)) expect(text).not.toContain(token);
      expect(text).not.toContain(ADMIN_TOKEN);
    });
  });
}
