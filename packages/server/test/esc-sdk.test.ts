// The official @pulumi/esc-sdk client, unchanged, against a real Vigil server on a real port: every EscApi
// method, with the SDK's own test flow (its test/client.spec.js), and the audit records each call leaves.
import * as esc from '@pulumi/esc-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
const PROJECT = 'sdk-ts-test';

function client(running: RunningServer, token = ADMIN_TOKEN): esc.EscApi {
  const api = new esc.EscApi(new esc.Configuration({ accessToken: token, basePath: running.url }));
  // The SDK drops the port from basePath (reference §3.2); tests put it back.
  api.config.basePath = `${running.url}/api/esc`;
  return api;
}

for (const dialect of DIALECTS) {
  describe(`@pulumi/esc-sdk against Vigil on ${dialect}`, () => {
    let running: RunningServer;
    let api: esc.EscApi;
    const base = 'env-base';

    beforeAll(async () => {
      running = await startServer(dialect);
      api = client(running);
      await api.createEnvironment(ORG, PROJECT, base);
      await api.updateEnvironment(ORG, PROJECT, base, { values: { base } });
    });
    afterAll(async () => running.stop());

    it("runs the SDK's own test flow: create, clone, list, update, get, decrypt, open, revisions, tags, delete", async () => {
      const name = 'env-main';
      await api.createEnvironment(ORG, PROJECT, name);
      await api.cloneEnvironment(ORG, PROJECT, name, `${PROJECT}-clone`, `${name}-clone`);
      const list = await api.listEnvironments(ORG);
      expect(list?.environments?.some((e) => e.project === PROJECT && e.name === name)).toBe(true);
      expect(
        list?.environments?.some((e) => e.project === `${PROJECT}-clone` && e.name === `${name}-clone`),
      ).toBe(true);

      const openEmpty = await api.openAndReadEnvironment(ORG, PROJECT, name);
      expect(openEmpty?.environment).toEqual({});
      expect(openEmpty?.values).toEqual({});

      const definition = {
        imports: [`${PROJECT}/${base}`],
        values: {
          foo: 'bar',
          my_secret: { 'fn::secret': "shh! don't tell anyone" },
          my_array: [1, 2, 3],
          pulumiConfig: { foo: '${foo}' },
          environmentVariables: { FOO: '${foo}' },
        },
      };
      const diags = await api.updateEnvironment(ORG, PROJECT, name, definition);
      expect(diags).toBeDefined();
      expect(diags?.diagnostics).toBeUndefined();

      const stored = await api.getEnvironment(ORG, PROJECT, name);
      expect(stored?.definition?.imports).toEqual([`${PROJECT}/${base}`]);
      expect(stored?.definition?.values?.foo).toBe('bar');
      expect(stored?.definition?.values?.my_array).toEqual([1, 2, 3]);
      expect(stored?.definition?.values?.pulumiConfig?.foo).toBe('${foo}');
      // Stored definitions never hold the plaintext: the secret is ciphertext.
      expect(stored?.yaml).not.toContain("shh! don't tell anyone");
      expect(stored?.definition?.values?.my_secret['fn::secret'].ciphertext).toMatch(/^[A-Za-z0-9+/=]+$/);

      const decrypted = await api.decryptEnvironment(ORG, PROJECT, name);
      expect(decrypted?.definition?.values?.my_secret['fn::secret']).toBe("shh! don't tell anyone");

      const opened = await api.openAndReadEnvironment(ORG, PROJECT, name);
      expect(opened?.values?.base).toBe(base);
      expect(opened?.values?.foo).toBe('bar');
      expect(opened?.values?.my_array).toEqual([1, 2, 3]);
      expect(opened?.values?.my_secret).toBe("shh! don't tell anyone");
      expect(opened?.values?.pulumiConfig?.foo).toBe('bar');
      expect(opened?.values?.environmentVariables?.FOO).toBe('bar');

      const session = await api.openEnvironment(ORG, PROJECT, name);
      const property = await api.readOpenEnvironmentProperty(
        ORG,
        PROJECT,
        name,
        session!.id,
        'pulumiConfig.foo',
      );
      expect(property?.value).toBe('bar');

      const v2 = await api.getEnvironmentAtVersion(ORG, PROJECT, name, '2');
      v2!.definition!.values!.versioned = 'true';
      await api.updateEnvironment(ORG, PROJECT, name, v2!.definition!);
      expect(await api.listEnvironmentRevisions(ORG, PROJECT, name)).toHaveLength(3);

      await api.createEnvironmentRevisionTag(ORG, PROJECT, name, 'testTag', 2);
      let atTag = await api.openAndReadEnvironmentAtVersion(ORG, PROJECT, name, 'testTag');
      expect('versioned' in atTag!.values!).toBe(false);
      const tags = await api.listEnvironmentRevisionTags(ORG, PROJECT, name);
      expect(tags?.tags?.map((t) => t.name)).toEqual(['latest', 'testTag']);
      await api.updateEnvironmentRevisionTag(ORG, PROJECT, name, 'testTag', 3);
      atTag = await api.openAndReadEnvironmentAtVersion(ORG, PROJECT, name, 'testTag');
      expect(atTag?.values?.versioned).toBe('true');
      expect((await api.getEnvironmentRevisionTag(ORG, PROJECT, name, 'testTag'))?.revision).toBe(3);
      await api.deleteEnvironmentRevisionTag(ORG, PROJECT, name, 'testTag');
      expect((await api.listEnvironmentRevisionTags(ORG, PROJECT, name))?.tags).toHaveLength(1);

      await api.createEnvironmentTag(ORG, PROJECT, name, 'owner', 'esc-sdk-test');
      let envTags = await api.listEnvironmentTags(ORG, PROJECT, name);
      expect(envTags?.tags.owner?.name).toBe('owner');
      expect(envTags?.tags.owner?.value).toBe('esc-sdk-test');
      await api.updateEnvironmentTag(
        ORG,
        PROJECT,
        name,
        'owner',
        'esc-sdk-test',
        'new-owner',
        'esc-sdk-test-updated',
      );
      const envTag = await api.getEnvironmentTag(ORG, PROJECT, name, 'new-owner');
      expect(envTag).toMatchObject({ name: 'new-owner', value: 'esc-sdk-test-updated' });
      await api.deleteEnvironmentTag(ORG, PROJECT, name, 'new-owner');
      envTags = await api.listEnvironmentTags(ORG, PROJECT, name);
      expect(Object.keys(envTags!.tags)).toHaveLength(0);

      await api.deleteEnvironment(ORG, PROJECT, name);
      await expect(api.getEnvironment(ORG, PROJECT, name)).rejects.toMatchObject({
        response: { status: 404 },
      });
    });

    it('checks definitions: valid ones have no diagnostics, invalid ones name the problem', async () => {
      const valid = await api.checkEnvironment(ORG, { values: { foo: 'bar' } });
      expect(valid?.diagnostics?.length).toBeUndefined();
      const invalid = await api.checkEnvironment(ORG, {
        values: { foo: 'bar', pulumiConfig: { foo: '${bad_ref}' } },
      });
      expect(invalid?.diagnostics).toHaveLength(1);
      expect(invalid?.diagnostics?.[0]?.summary).toBe('unknown property "bad_ref"');
      const yamlCheck = await api.checkEnvironmentYaml(ORG, 'values:\n  a: 1\n');
      expect(yamlCheck?.diagnostics).toBeUndefined();
    });

    it('updates from YAML text and reports bad definitions with diagnostics, writing nothing', async () => {
      const name = 'env-yaml';
      await api.createEnvironment(ORG, PROJECT, name);
      expect(await api.updateEnvironmentYaml(ORG, PROJECT, name, 'values:\n  greeting: hello\n')).toEqual({});
      await expect(
        api.updateEnvironmentYaml(ORG, PROJECT, name, 'values:\n  broken: ${nowhere}\n'),
      ).rejects.toMatchObject({
        response: { status: 400, data: { diagnostics: [{ summary: 'unknown property "nowhere"' }] } },
      });
      expect(await api.listEnvironmentRevisions(ORG, PROJECT, name)).toHaveLength(2);
      const read = await api.openAndReadEnvironment(ORG, PROJECT, name);
      expect(read?.values).toEqual({ greeting: 'hello' });
    });

    it('records what every call did, with who, from where and how', async () => {
      const records = await running.records();
      const events = records.map((r) => r.event);
      for (const event of [
        'member-added',
        'personal-token-created',
        'environment-created',
        'environment-updated',
        'environment-cloned',
        'environment-open',
        'environment-read-open',
        'environment-read',
        'environment-decrypted',
        'environment-revision-tag-open',
        'environment-revision-tag-created',
        'environment-revision-tag-update',
        'environment-revision-tag-read',
        'environment-revision-tag-delete',
        'environment-tag-created',
        'environment-tag-updated',
        'environment-tag-deleted',
        'environment-deleted',
      ]) {
        expect(events, event).toContain(event);
      }
      const open = records.find(
        (r) =>
          r.event === 'environment-open' &&
          (r.resource as { environment?: string })?.environment === 'env-main',
      );
      expect(open).toMatchObject({
        v: 1,
        org: ORG,
        outcome: 'success',
        sourceIP: '127.0.0.1',
        userAgent: expect.stringMatching(/esc-sdk/),
        actor: { kind: 'token', login: 'admin', tokenKind: 'personal' },
        resource: { project: PROJECT, environment: 'env-main' },
      });
      expect(open?.description).toMatch(/^Opened environment "sdk-ts-test\/env-main" at revision \d+$/);
      // No secret, plaintext or ciphertext, appears in any record.
      const text = JSON.stringify(records);
      expect(text).not.toContain("shh! don't tell anyone");
      const stored = await api.getEnvironment(ORG, PROJECT, base);
      expect(stored).toBeDefined();
    });
  });
}
