// The rest of the ESC API against a real Vigil server on both engines: the EscApi methods esc-sdk.test.ts does
// not reach (paging, versions, HEAD), and through plain fetch what the SDK cannot send (If-Match/ETag, check,
// anonymous open, retract, restore, settings, decrypt at a version, clone options, session expiry, durations).
import * as esc from '@pulumi/esc-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
const PROJECT = 'app';
const SECRET = 'hunter2-api-plaintext';
const OTHER_SECRET = 'correct-horse-battery-staple';

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON, when it is JSON. */
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTP call as the Go CLI or curl would make it: the admin's token unless told otherwise. */
async function call(
  running: RunningServer,
  method: string,
  path: string,
  options: { body?: string | object; headers?: Record<string, string>; token?: string } = {},
): Promise<Reply> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const response = await fetch(`${running.url}/api/esc${path}`, {
    method,
    headers: {
      authorization: `token ${options.token ?? ADMIN_TOKEN}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(body !== undefined ? { body } : {}),
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

function client(running: RunningServer): esc.EscApi {
  const api = new esc.EscApi(new esc.Configuration({ accessToken: ADMIN_TOKEN, basePath: running.url }));
  api.config.basePath = `${running.url}/api/esc`; // the SDK drops the port (reference §3.2)
  return api;
}

const env = (project: string, name: string) => `/environments/${ORG}/${project}/${name}`;

for (const dialect of DIALECTS) {
  describe(`ESC API on ${dialect}`, () => {
    let running: RunningServer;
    let api: esc.EscApi;

    /** Creates `project/name` and writes each definition in turn (revision 1 is the empty one). */
    async function environment(project: string, name: string, ...definitions: string[]): Promise<void> {
      await api.createEnvironment(ORG, project, name);
      for (const yaml of definitions) await api.updateEnvironmentYaml(ORG, project, name, yaml);
    }

    async function revisionCount(project: string, name: string): Promise<number> {
      return (await api.listEnvironmentRevisions(ORG, project, name))!.length;
    }

    beforeAll(async () => {
      running = await startServer(dialect);
      api = client(running);
    });
    afterAll(async () => running.stop());

    it('pages through more than one page of environments with continuation tokens and maxResults', async () => {
      const names = Array.from({ length: 105 }, (_, i) => `env-${String(i).padStart(3, '0')}`);
      for (let i = 0; i < names.length; i += 15) {
        await Promise.all(names.slice(i, i + 15).map((n) => api.createEnvironment(ORG, 'paged', n)));
      }
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let token: string | undefined;
      do {
        const page = await api.listEnvironments(ORG, token);
        pageSizes.push(page!.environments!.length);
        seen.push(...page!.environments!.map((e) => `${e.project}/${e.name}`));
        token = page!.nextToken;
      } while (token);
      expect(pageSizes[0]).toBe(100);
      expect(pageSizes.length).toBeGreaterThan(1);
      expect(new Set(seen).size).toBe(seen.length);
      for (const n of names) expect(seen).toContain(`paged/${n}`);
      expect(seen).toEqual([...seen].sort());

      const small: string[] = [];
      let next: string | undefined;
      do {
        const query = `maxResults=7${next ? `&continuationToken=${encodeURIComponent(next)}` : ''}`;
        const page = await call(running, 'GET', `/environments/${ORG}?${query}`);
        expect(page.status).toBe(200);
        expect(page.json.environments.length).toBeLessThanOrEqual(7);
        if (page.json.nextToken) expect(page.json.environments).toHaveLength(7);
        small.push(...page.json.environments.map((e: esc.OrgEnvironment) => `${e.project}/${e.name}`));
        next = page.json.nextToken;
      } while (next);
      expect(small).toEqual(seen);

      const first = (await call(running, 'GET', `/environments/${ORG}?maxResults=1`)).json;
      expect(first).toMatchObject({
        environments: [{ organization: ORG, project: expect.any(String), name: expect.any(String) }],
      });
      expect(first.environments[0].created).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(first.environments[0].settings).toEqual({ deletionProtected: false });
    });

    it('opens at a version and reads the open session through the SDK', async () => {
      await environment(PROJECT, 'versioned', 'values:\n  n: one\n', 'values:\n  n: two\n');
      const opened = await api.openEnvironmentAtVersion(ORG, PROJECT, 'versioned', '2');
      const read = await api.readOpenEnvironment(ORG, PROJECT, 'versioned', opened!.id);
      expect(read?.values).toEqual({ n: 'one' });
      expect(read?.environment?.properties?.n).toMatchObject({ value: 'one' });
      const latest = await api.openAndReadEnvironmentAtVersion(ORG, PROJECT, 'versioned', 'latest');
      expect(latest?.values).toEqual({ n: 'two' });
    });

    it('lists revisions, revision tags and environment tags a page at a time', async () => {
      await environment(PROJECT, 'paging', 'values:\n  a: 1\n', 'values:\n  a: 2\n', 'values:\n  a: 3\n');
      const all = await api.listEnvironmentRevisions(ORG, PROJECT, 'paging');
      expect(all!.map((r) => r.number)).toEqual([4, 3, 2, 1]);
      expect(all![0]).toMatchObject({ creatorLogin: 'admin', tags: ['latest'] });
      const before = await api.listEnvironmentRevisions(ORG, PROJECT, 'paging', 4, 2);
      expect(before!.map((r) => r.number)).toEqual([3, 2]);

      for (const [tag, rev] of [
        ['alpha', 1],
        ['beta', 2],
        ['gamma', 3],
      ] as const)
        await api.createEnvironmentRevisionTag(ORG, PROJECT, 'paging', tag, rev);
      const tagPage = await api.listEnvironmentRevisionTags(ORG, PROJECT, 'paging', undefined, 2);
      expect(tagPage!.tags!.map((t) => t.name)).toEqual(['alpha', 'beta']);
      const rest = await api.listEnvironmentRevisionTags(ORG, PROJECT, 'paging', tagPage!.nextToken, 10);
      expect(rest!.tags!.map((t) => [t.name, t.revision])).toEqual([
        ['gamma', 3],
        ['latest', 4],
      ]);
      expect(rest!.nextToken).toBe('');

      for (const [name, value] of [
        ['owner', 'platform'],
        ['region', 'eu'],
        ['tier', 'gold'],
      ] as const)
        await api.createEnvironmentTag(ORG, PROJECT, 'paging', name, value);
      const envTags = await api.listEnvironmentTags(ORG, PROJECT, 'paging', undefined, 2);
      expect(Object.keys(envTags!.tags)).toEqual(['owner', 'region']);
      const more = await api.listEnvironmentTags(ORG, PROJECT, 'paging', envTags!.nextToken, 2);
      expect(Object.keys(more!.tags)).toEqual(['tier']);
      expect((await call(running, 'GET', `/environments/${ORG}/tags`)).json).toMatchObject({
        owner: ['platform'],
        region: ['eu'],
        tier: ['gold'],
      });
    });

    it('answers HEAD with the same ETag and revision as GET, and no body', async () => {
      await environment(PROJECT, 'headed', 'values:\n  x: 1\n');
      const get = await call(running, 'GET', env(PROJECT, 'headed'));
      const head = await call(running, 'HEAD', env(PROJECT, 'headed'));
      expect(head.status).toBe(200);
      expect(head.text).toBe('');
      expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
      expect(head.headers.get('pulumi-esc-revision')).toBe('2');
      const raw = new esc.EscRawApi(api.config);
      const viaSdk = await raw.getEnvironmentETag(ORG, PROJECT, 'headed');
      expect(viaSdk.status).toBe(200);
      expect(viaSdk.headers.etag).toBe(get.headers.get('etag'));
      expect((await call(running, 'HEAD', env(PROJECT, 'nowhere'))).status).toBe(404);
    });

    it('updates under optimistic concurrency: If-Match or the CLI’s ETag header; a stale tag is 409 and writes nothing', async () => {
      await environment(PROJECT, 'guarded', 'values:\n  v: 1\n');
      const read = await call(running, 'GET', env(PROJECT, 'guarded'));
      const etag = read.headers.get('etag')!;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);

      const ok = await call(running, 'PATCH', env(PROJECT, 'guarded'), {
        body: 'values:\n  v: 2\n',
        headers: { 'if-match': etag },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('pulumi-esc-revision')).toBe('3');
      const fresh = ok.headers.get('etag')!;
      expect(fresh).not.toBe(etag);

      const stale = await call(running, 'PATCH', env(PROJECT, 'guarded'), {
        body: 'values:\n  v: lost\n',
        headers: { 'if-match': etag },
      });
      expect(stale.status).toBe(409);
      expect(stale.json).toMatchObject({ code: 409, message: expect.stringContaining('changed since') });
      const staleCli = await call(running, 'PATCH', env(PROJECT, 'guarded'), {
        body: 'values:\n  v: lost\n',
        headers: { etag },
      });
      expect(staleCli.status).toBe(409);
      expect(await revisionCount(PROJECT, 'guarded')).toBe(3);

      const cli = await call(running, 'PATCH', env(PROJECT, 'guarded'), {
        body: 'values:\n  v: 3\n',
        headers: { etag: fresh },
      });
      expect(cli.status).toBe(200);
      expect(await revisionCount(PROJECT, 'guarded')).toBe(4);
      expect((await api.getEnvironment(ORG, PROJECT, 'guarded'))?.definition?.values?.v).toBe(3);

      // Writers racing with one ETag: exactly one wins.
      const etag4 = (await call(running, 'HEAD', env(PROJECT, 'guarded'))).headers.get('etag')!;
      const racers = await Promise.all(
        [1, 2, 3, 4, 5].map((n) =>
          call(running, 'PATCH', env(PROJECT, 'guarded'), {
            body: `values:\n  v: racer-${n}\n`,
            headers: { 'if-match': etag4 },
          }),
        ),
      );
      expect(racers.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409]);
      expect(await revisionCount(PROJECT, 'guarded')).toBe(5);
    });

    it('checks a stored environment, showing secrets only when asked (and recording that as a decryption)', async () => {
      await environment(PROJECT, 'checked', `values:\n  user: ann\n  pw:\n    fn::secret: ${SECRET}\n`);
      const masked = await call(running, 'POST', `${env(PROJECT, 'checked')}/check`);
      expect(masked.status).toBe(200);
      expect(masked.json.properties.user).toMatchObject({ value: 'ann' });
      expect(masked.json.properties.pw).toMatchObject({ secret: true });
      expect(masked.text).not.toContain(SECRET);
      expect(masked.json.diagnostics).toBeUndefined();

      const shown = await call(running, 'POST', `${env(PROJECT, 'checked')}/check?showSecrets=true`);
      expect(shown.status).toBe(200);
      expect(shown.json.properties.pw).toMatchObject({ value: SECRET, secret: true });

      const atVersion = await call(running, 'POST', `${env(PROJECT, 'checked')}/versions/1/check`);
      expect(atVersion.status).toBe(200);
      expect(atVersion.json.properties).toBeUndefined();

      const records = await running.records();
      const checks = records.filter((r) => /^Checked environment "app\/checked"/.test(String(r.description)));
      expect(checks.map((r) => [r.event, r.description])).toEqual([
        ['environment-read', 'Checked environment "app/checked" at revision 2'],
        ['environment-decrypted', 'Checked environment "app/checked" at revision 2 showing secrets'],
        ['environment-read', 'Checked environment "app/checked" at revision 1'],
      ]);
    });

    it('opens an anonymous definition and reads it back, whole or one property', async () => {
      await environment(PROJECT, 'shared', 'values:\n  region: eu-west-1\n');
      const opened = await call(running, 'POST', `/environments/${ORG}/yaml/open?duration=5m`, {
        body: `imports:\n  - ${PROJECT}/shared\nvalues:\n  nested:\n    list: [a, b]\n  token:\n    fn::secret: ${OTHER_SECRET}\n`,
        headers: { 'content-type': 'application/x-yaml' },
      });
      expect(opened.status).toBe(200);
      expect(opened.json).toEqual({ id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
      const id = opened.json.id as string;

      const whole = await call(running, 'GET', `/environments/${ORG}/yaml/open/${id}`);
      expect(whole.status).toBe(200);
      expect(whole.json.properties.region).toMatchObject({ value: 'eu-west-1' });
      expect(whole.json.properties.token).toMatchObject({ value: OTHER_SECRET, secret: true });

      const one = await call(
        running,
        'GET',
        `/environments/${ORG}/yaml/open/${id}?property=${encodeURIComponent('nested.list[1]')}`,
      );
      expect(one.status).toBe(200);
      expect(one.json).toMatchObject({ value: 'b' });

      const missing = await call(running, 'GET', `/environments/${ORG}/yaml/open/${id}?property=nope`);
      expect(missing.status).toBe(404);
      expect(missing.json).toMatchObject({ code: 404, message: expect.any(String) });
    });

    it('retracts a revision with a replacement and a reason; the latest revision can be neither retracted nor untagged', async () => {
      await environment(PROJECT, 'retracting', 'values:\n  r: 2\n', 'values:\n  r: 3\n', 'values:\n  r: 4\n');
      await api.createEnvironmentRevisionTag(ORG, PROJECT, 'retracting', 'stable', 3);
      const retract = await call(running, 'POST', `${env(PROJECT, 'retracting')}/versions/3/retract`, {
        body: { replacement: 2, reason: 'leaked a key' },
      });
      expect(retract.status).toBe(204);

      const revisions = await api.listEnvironmentRevisions(ORG, PROJECT, 'retracting');
      const three = revisions!.find((r) => r.number === 3) as esc.EnvironmentRevision & {
        retracted?: unknown;
      };
      expect(three.retracted).toMatchObject({
        replacement: 2,
        reason: 'leaked a key',
        byLogin: 'admin',
        at: expect.any(String),
      });
      expect((await api.getEnvironmentRevisionTag(ORG, PROJECT, 'retracting', 'stable'))?.revision).toBe(2);
      const atThree = await api.getEnvironmentAtVersion(ORG, PROJECT, 'retracting', '3');
      expect(atThree?.definition?.values?.r).toBe(2);

      // Without a replacement, the newest earlier live revision replaces it.
      expect(
        (await call(running, 'POST', `${env(PROJECT, 'retracting')}/versions/2/retract`, { body: {} }))
          .status,
      ).toBe(204);
      const two = (await api.listEnvironmentRevisions(ORG, PROJECT, 'retracting'))!.find(
        (r) => r.number === 2,
      ) as { retracted?: { replacement: number } };
      expect(two.retracted?.replacement).toBe(1);

      for (const version of ['4', 'latest']) {
        const refused = await call(
          running,
          'POST',
          `${env(PROJECT, 'retracting')}/versions/${version}/retract`,
          { body: {} },
        );
        expect(refused.status, version).toBeGreaterThanOrEqual(400);
        expect(refused.status, version).toBeLessThan(500);
        expect(refused.json).toMatchObject({ code: refused.status, message: expect.any(String) });
      }
      const untag = await call(running, 'DELETE', `${env(PROJECT, 'retracting')}/versions/tags/latest`);
      expect(untag.status).toBeGreaterThanOrEqual(400);
      expect(untag.status).toBeLessThan(500);
      expect((await api.getEnvironmentRevisionTag(ORG, PROJECT, 'retracting', 'latest'))?.revision).toBe(4);
      expect(await revisionCount(PROJECT, 'retracting')).toBe(4);

      const record = (await running.records()).find((r) => r.event === 'environment-revision-retracted');
      expect(record?.description).toBe(
        'Retracted revision 3 of environment "app/retracting", replaced by revision 2: leaked a key',
      );
    });

    it('soft-deletes, lists the deletion, and restores the environment with its history', async () => {
      await environment(PROJECT, 'phoenix', 'values:\n  life: 2\n');
      await api.deleteEnvironment(ORG, PROJECT, 'phoenix');
      expect((await call(running, 'GET', env(PROJECT, 'phoenix'))).status).toBe(404);

      const deleted = await call(running, 'GET', `/environments/${ORG}/restore`);
      expect(deleted.status).toBe(200);
      const entry = deleted.json.environments.find((e: esc.OrgEnvironment) => e.name === 'phoenix');
      expect(entry).toMatchObject({ project: PROJECT, deletedAt: expect.stringMatching(/^\d{4}-/) });

      const wrongTime = await call(running, 'PUT', `/environments/${ORG}/restore`, {
        body: { project: PROJECT, name: 'phoenix', deletionTimestamp: '2001-01-01T00:00:00Z' },
      });
      expect(wrongTime.status).toBe(404);
      const restored = await call(running, 'PUT', `/environments/${ORG}/restore`, {
        body: { project: PROJECT, name: 'phoenix', deletionTimestamp: entry.deletedAt },
      });
      expect(restored.status).toBe(204);
      expect((await api.getEnvironment(ORG, PROJECT, 'phoenix'))?.definition?.values?.life).toBe(2);
      expect(await revisionCount(PROJECT, 'phoenix')).toBe(2);
      const after = await call(running, 'GET', `/environments/${ORG}/restore`);
      expect(after.json.environments.some((e: esc.OrgEnvironment) => e.name === 'phoenix')).toBe(false);
    });

    it('refuses to delete a deletion-protected environment (409) until protection is turned off', async () => {
      await environment(PROJECT, 'precious');
      expect((await call(running, 'GET', `${env(PROJECT, 'precious')}/settings`)).json).toEqual({
        deletionProtected: false,
      });
      const on = await call(running, 'PATCH', `${env(PROJECT, 'precious')}/settings`, {
        body: { deletionProtected: true },
      });
      expect(on.status).toBe(200);
      expect(on.json).toEqual({ deletionProtected: true });
      const refused = await call(running, 'DELETE', env(PROJECT, 'precious'));
      expect(refused.status).toBe(409);
      expect(refused.json).toMatchObject({
        code: 409,
        message: expect.stringContaining('deletion protection'),
      });
      expect((await call(running, 'GET', env(PROJECT, 'precious'))).status).toBe(200);
      await call(running, 'PATCH', `${env(PROJECT, 'precious')}/settings`, {
        body: { deletionProtected: false },
      });
      expect((await call(running, 'DELETE', env(PROJECT, 'precious'))).status).toBe(200);
      const events = (await running.records()).map((r) => r.event);
      expect(events).toContain('environment-deletion-protection-enabled');
      expect(events).toContain('environment-deletion-protection-disabled');
    });

    it('decrypts the current definition and any version', async () => {
      await environment(
        PROJECT,
        'vault',
        `values:\n  pw:\n    fn::secret: ${SECRET}\n`,
        `values:\n  pw:\n    fn::secret: ${OTHER_SECRET}\n`,
      );
      const stored = await call(running, 'GET', `${env(PROJECT, 'vault')}/versions/2`);
      expect(stored.text).not.toContain(SECRET);
      expect(stored.text).toContain('ciphertext');
      const current = await call(running, 'GET', `${env(PROJECT, 'vault')}/decrypt`);
      expect(current.status).toBe(200);
      expect(current.headers.get('pulumi-esc-revision')).toBe('3');
      expect(current.text).toContain(OTHER_SECRET);
      const old = await call(running, 'GET', `${env(PROJECT, 'vault')}/versions/2/decrypt`);
      expect(old.status).toBe(200);
      expect(old.headers.get('pulumi-esc-revision')).toBe('2');
      expect(old.text).toContain(SECRET);
      const description = (await running.records())
        .filter((r) => r.event === 'environment-decrypted')
        .map((r) => r.description);
      expect(description).toContain('Decrypted environment "app/vault" at revision 2');
      expect(description).toContain('Decrypted environment "app/vault" at revision 3');
    });

    it('clones with each preserve option', async () => {
      await environment(
        PROJECT,
        'origin',
        `values:\n  o: 2\n  pw:\n    fn::secret: ${SECRET}\n`,
        `values:\n  o: 3\n  pw:\n    fn::secret: ${OTHER_SECRET}\n`,
      );
      await api.createEnvironmentTag(ORG, PROJECT, 'origin', 'team', 'core');
      await api.createEnvironmentRevisionTag(ORG, PROJECT, 'origin', 'golden', 2);
      await api.createEnvironmentRevisionTag(ORG, PROJECT, 'origin', 'edge', 3);

      await api.cloneEnvironment(ORG, PROJECT, 'origin', 'copies', 'bare');
      expect(await revisionCount('copies', 'bare')).toBe(1);
      expect((await api.getEnvironment(ORG, 'copies', 'bare'))?.definition?.values?.o).toBe(3);
      expect(Object.keys((await api.listEnvironmentTags(ORG, 'copies', 'bare'))!.tags)).toEqual([]);
      expect(
        (await api.listEnvironmentRevisionTags(ORG, 'copies', 'bare'))!.tags!.map((t) => t.name),
      ).toEqual(['latest']);

      await api.cloneEnvironment(ORG, PROJECT, 'origin', 'copies', 'full', {
        preserveHistory: true,
        preserveAccess: true,
        preserveEnvironmentTags: true,
        preserveRevisionTags: true,
      });
      expect((await api.listEnvironmentRevisions(ORG, 'copies', 'full'))!.map((r) => r.number)).toEqual([
        3, 2, 1,
      ]);
      expect((await api.getEnvironmentAtVersion(ORG, 'copies', 'full', '2'))?.definition?.values?.o).toBe(2);
      expect((await api.getEnvironmentTag(ORG, 'copies', 'full', 'team'))?.value).toBe('core');
      expect(
        (await api.listEnvironmentRevisionTags(ORG, 'copies', 'full'))!.tags!.map((t) => [
          t.name,
          t.revision,
        ]),
      ).toEqual([
        ['edge', 3],
        ['golden', 2],
        ['latest', 3],
      ]);

      // Secrets are bound to their environment: each clone holds its own ciphertexts, and they decrypt there.
      expect(
        (await api.decryptEnvironment(ORG, 'copies', 'bare'))?.definition?.values?.pw['fn::secret'],
      ).toBe(OTHER_SECRET);
      expect((await api.openAndReadEnvironmentAtVersion(ORG, 'copies', 'full', '2'))?.values?.pw).toBe(
        SECRET,
      );
      const ciphertextOf = (yaml: string | undefined) => /ciphertext:\s*(\S+)/.exec(yaml ?? '')?.[1];
      const source = ciphertextOf((await api.getEnvironment(ORG, PROJECT, 'origin'))?.yaml);
      const copy = ciphertextOf((await api.getEnvironment(ORG, 'copies', 'full'))?.yaml);
      expect(source).toBeDefined();
      expect(copy).toBeDefined();
      expect(copy).not.toBe(source);

      // An older version, into the source's project (project omitted).
      const older = await call(running, 'POST', `${env(PROJECT, 'origin')}/clone`, {
        body: { name: 'origin-v2', version: 2, preserveRevisionTags: true },
      });
      expect(older.status).toBe(204);
      expect((await api.getEnvironment(ORG, PROJECT, 'origin-v2'))?.definition?.values?.o).toBe(2);
      expect(
        (await api.listEnvironmentRevisionTags(ORG, PROJECT, 'origin-v2'))!.tags!.map((t) => [
          t.name,
          t.revision,
        ]),
      ).toEqual([
        ['golden', 1],
        ['latest', 1],
      ]);
      const taken = await call(running, 'POST', `${env(PROJECT, 'origin')}/clone`, {
        body: { project: 'copies', name: 'full' },
      });
      expect(taken.status).toBe(409);
      const records = (await running.records()).filter((r) => r.event === 'environment-cloned');
      expect(records.map((r) => r.description)).toContain(
        'Cloned environment "app/origin" into "copies/full"',
      );
    });

    it('expires open sessions after their duration', async () => {
      await environment(PROJECT, 'brief', 'values:\n  k: v\n');
      const opened = await call(running, 'POST', `${env(PROJECT, 'brief')}/open?duration=1s`);
      expect(opened.status).toBe(200);
      const id = opened.json.id as string;
      expect((await call(running, 'GET', `${env(PROJECT, 'brief')}/open/${id}`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const expired = await call(running, 'GET', `${env(PROJECT, 'brief')}/open/${id}`);
      expect(expired.status).toBe(404);
      expect(expired.json).toMatchObject({ code: 404, message: expect.stringContaining('expired') });

      const anonymous = await call(running, 'POST', `/environments/${ORG}/yaml/open?duration=300ms`, {
        body: 'values:\n  k: v\n',
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await call(running, 'GET', `/environments/${ORG}/yaml/open/${anonymous.json.id}`)).status).toBe(
        404,
      );
    });

    it('serves the SDK’s open//{id} double-slash path', async () => {
      await environment(PROJECT, 'slashes', 'values:\n  deep:\n    key: found\n');
      const opened = await api.openEnvironment(ORG, PROJECT, 'slashes');
      const read = await call(
        running,
        'GET',
        `${env(PROJECT, 'slashes')}/open//${opened!.id}?property=${encodeURIComponent('deep.key')}`,
      );
      expect(read.status).toBe(200);
      expect(read.json).toMatchObject({ value: 'found' });
      const whole = await call(running, 'GET', `${env(PROJECT, 'slashes')}/open//${opened!.id}`);
      expect(whole.json.properties.deep.value.key).toMatchObject({ value: 'found' });
    });

    it('parses Go durations and refuses malformed or excessive ones with 400', async () => {
      await environment(PROJECT, 'timed');
      for (const good of ['2h0m0s', '1.5h', '300ms', '90s']) {
        const ok = await call(running, 'POST', `${env(PROJECT, 'timed')}/open?duration=${good}`);
        expect(ok.status, good).toBe(200);
      }
      for (const bad of ['abc', '10', '-1s', '0s', '25h', '1h30', '1d', '%20']) {
        const refused = await call(running, 'POST', `${env(PROJECT, 'timed')}/open?duration=${bad}`);
        expect(refused.status, bad).toBe(400);
        expect(refused.json).toMatchObject({ code: 400, message: expect.stringContaining('duration') });
        const anonymous = await call(running, 'POST', `/environments/${ORG}/yaml/open?duration=${bad}`, {
          body: 'values: {}\n',
        });
        expect(anonymous.status, bad).toBe(400);
      }
    });

    it('resolves unqualified imports in the project "default"', async () => {
      await environment('default', 'common', 'values:\n  origin: default-project\n');
      await environment(PROJECT, 'importer', 'imports:\n  - common\nvalues:\n  mine: yes\n');
      const opened = await api.openAndReadEnvironment(ORG, PROJECT, 'importer');
      expect(opened?.values).toEqual({ origin: 'default-project', mine: 'yes' });
      await environment(PROJECT, 'common', 'values:\n  origin: app-project\n');
      expect((await api.openAndReadEnvironment(ORG, PROJECT, 'importer'))?.values?.origin).toBe(
        'default-project',
      );
    });

    it('describes every record specifically, and no record holds a secret, plaintext or ciphertext', async () => {
      const ref = '"[\\w.-]+/[\\w.-]+"';
      const at = '(at revision \\d+|at tag "[\\w.-]+" \\(revision \\d+\\))';
      const patterns: Record<string, RegExp[]> = {
        'environment-created': [RegExp(`^Created environment ${ref}$`)],
        'environment-updated': [RegExp(`^Updated environment ${ref} to revision \\d+$`)],
        'environment-read': [RegExp(`^(Read|Checked) environment ${ref} ${at}$`)],
        'environment-decrypted': [
          RegExp(`^Decrypted environment ${ref} ${at}$`),
          RegExp(`^Checked environment ${ref} ${at} showing secrets$`),
        ],
        'environment-open': [
          RegExp(`^Opened environment ${ref} at revision \\d+$`),
          /^Opened an anonymous environment definition$/,
        ],
        'environment-revision-tag-open': [
          RegExp(`^Opened environment ${ref} at tag "[\\w.-]+" \\(revision \\d+\\)$`),
        ],
        'environment-read-open': [
          RegExp(`^Read (property "[^"]+" of )?open environment ${ref} at revision \\d+$`),
          /^Read (property "[^"]+" of )?an open anonymous environment$/,
        ],
        'environment-deleted': [RegExp(`^Deleted environment ${ref} at revision \\d+$`)],
        'environment-restored': [RegExp(`^Restored deleted environment ${ref}$`)],
        'environment-cloned': [RegExp(`^Cloned environment ${ref} into ${ref}$`)],
        'environment-revision-retracted': [
          RegExp(`^Retracted revision \\d+ of environment ${ref}, replaced by revision \\d+(: .+)?$`),
        ],
        'environment-revision-tag-created': [
          RegExp(`^Tagged revision \\d+ of environment ${ref} as "[\\w.-]+"$`),
        ],
        'environment-revision-tag-read': [
          RegExp(`^Read revision tag "[\\w.-]+" \\(revision \\d+\\) of environment ${ref}$`),
        ],
        'environment-tag-created': [RegExp(`^Added tag "[^"]+" = "[^"]*" to environment ${ref}$`)],
        'environment-deletion-protection-enabled': [
          RegExp(`^Enabled deletion protection on environment ${ref}$`),
        ],
        'environment-deletion-protection-disabled': [
          RegExp(`^Disabled deletion protection on environment ${ref}$`),
        ],
      };
      const records = await running.records();
      const seen = new Set<string>();
      for (const record of records) {
        const description = String(record.description);
        expect(description.length, record.event).toBeGreaterThan(10);
        if (!record.event.startsWith('environment-')) continue;
        seen.add(record.event);
        const accepted = patterns[record.event];
        expect(accepted, `no pattern for ${record.event}: ${description}`).toBeDefined();
        expect(
          accepted!.some((p) => p.test(description)),
          `${record.event}: ${description}`,
        ).toBe(true);
      }
      expect([...seen].sort()).toEqual(Object.keys(patterns).sort());

      const ciphertexts: string[] = [];
      for (const path of [
        env(PROJECT, 'checked'),
        env(PROJECT, 'vault'),
        `${env(PROJECT, 'vault')}/versions/2`,
        env(PROJECT, 'origin'),
        env('copies', 'full'),
      ]) {
        const stored = (await call(running, 'GET', path)).text;
        ciphertexts.push(...[...stored.matchAll(/ciphertext:\s*(\S+)/g)].map((m) => m[1]!));
      }
      expect(ciphertexts.length).toBe(5);
      const text = JSON.stringify(records);
      for (const secret of [SECRET, OTHER_SECRET, ...ciphertexts]) expect(text).not.toContain(secret);
    });
  });
}
