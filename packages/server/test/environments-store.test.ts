import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EnvironmentStoreError } from '../src/environments/index.js';
import {
  DELETED_ENVIRONMENT_RETENTION_MS,
  EMPTY_DEFINITION,
  type EnvironmentRef,
  type EnvironmentStore,
} from '../src/environments/index.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS, rawSql, type TestDatabase } from './support/databases.js';
import { codeOf, openEnvironmentStore } from './support/environments.js';

const alice = { login: 'alice', name: 'Alice Liddell' };
const DAY = 24 * 60 * 60 * 1000;

// The storage conformance suite for environments: one set of behaviours, held to by every engine.
for (const dialect of DIALECTS) {
  describe(`environment store on ${dialect}`, () => {
    let db: TestDatabase;
    let close: () => Promise<void>;
    let storage: Storage;
    let store: EnvironmentStore;
    let clock: number;
    let orgs = 0;
    let org: string;
    const ref = (name: string, project = 'app'): EnvironmentRef => ({ org, project, name });

    beforeAll(async () => {
      ({ db, storage, store, close } = await openEnvironmentStore(dialect, () => clock));
    });
    afterAll(() => close());
    beforeEach(() => {
      clock = 1_700_000_000_000;
      org = `org-${++orgs}`;
    });

    describe('create and read', () => {
      it('starts a new environment at revision 1 with the empty definition, tagged latest', async () => {
        const created = await store.create(storage.db, ref('dev'), alice);
        expect(created).toMatchObject({
          org,
          project: 'app',
          name: 'dev',
          revision: 1,
          yaml: EMPTY_DEFINITION,
        });
        expect(created.created).toBe(clock);
        const got = await store.get(storage.reader, ref('dev'));
        expect(got.yaml).toBe('');
        expect(got.etag).toBe(created.etag);
        expect(got.deletionProtected).toBe(false);
        expect(await store.listRevisions(storage.reader, ref('dev'))).toEqual([
          {
            number: 1,
            created: clock,
            creatorLogin: 'alice',
            creatorName: 'Alice Liddell',
            tags: ['latest'],
          },
        ]);
        expect(await store.getRevisionTag(storage.reader, ref('dev'), 'latest')).toMatchObject({
          name: 'latest',
          revision: 1,
          editorLogin: 'alice',
        });
      });

      it('lets exactly one of many concurrent creates of a name succeed', async () => {
        const results = await Promise.allSettled(
          [...Array(6).keys()].map(() => store.create(storage.db, ref('dev'))),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results)
          if (r.status === 'rejected')
            expect((r.reason as EnvironmentStoreError).code).toBe('already-exists');
        expect((await store.list(storage.db, org)).environments).toHaveLength(1);
      });

      it('creates in the implicit project "default"', async () => {
        await store.create(storage.db, ref('dev', 'default'));
        expect((await store.get(storage.db, ref('dev', 'default'))).project).toBe('default');
      });

      it('refuses a duplicate name, bad names, and reads of what does not exist', async () => {
        await store.create(storage.db, ref('dev'));
        expect(await codeOf(store.create(storage.db, ref('dev')))).toBe('already-exists');
        expect(await codeOf(store.create(storage.db, ref('open')))).toBe('invalid-name');
        expect(await codeOf(store.create(storage.db, { org: 'x', project: 'a', name: 'b' }))).toBe(
          'invalid-name',
        );
        expect(await codeOf(store.create(storage.db, ref('dev', '..')))).toBe('invalid-name');
        expect(await codeOf(store.get(storage.db, ref('nope')))).toBe('not-found');
        expect(await codeOf(store.get(storage.db, { org: 'other-org', project: 'app', name: 'dev' }))).toBe(
          'not-found',
        );
        // The same name in another project or organization is another environment.
        await store.create(storage.db, ref('dev', 'other'));
        await store.create(storage.db, { org: `${org}-b`, project: 'app', name: 'dev' });
      });

      it('runs inside a caller transaction and rolls back with it', async () => {
        await expect(
          storage.db.transaction().execute(async (tx) => {
            await store.create(tx, ref('dev'));
            await store.update(tx, ref('dev'), 'values:\n  a: 1\n');
            throw new Error('audit record failed');
          }),
        ).rejects.toThrow('audit record failed');
        expect(await codeOf(store.get(storage.db, ref('dev')))).toBe('not-found');
        await store.create(storage.db, ref('dev'));
      });
    });

    describe('update', () => {
      it('writes a new immutable revision per update, and a new ETag', async () => {
        const created = await store.create(storage.db, ref('dev'));
        clock += 1000;
        const r2 = await store.update(storage.db, ref('dev'), 'values:\n  a: 1\n', { actor: alice });
        expect(r2).toMatchObject({ revision: 2, yaml: 'values:\n  a: 1\n', modified: clock });
        expect(r2.etag).not.toBe(created.etag);
        const r3 = await store.update(storage.db, ref('dev'), 'values:\n  a: 2\n');
        expect(r3.revision).toBe(3);
        expect((await store.get(storage.db, ref('dev'))).yaml).toBe('values:\n  a: 2\n');
        expect((await store.getRevision(storage.db, ref('dev'), '2')).yaml).toBe('values:\n  a: 1\n');
        expect((await store.getRevision(storage.db, ref('dev'), 'latest')).revision).toBe(3);
        expect((await store.listRevisions(storage.db, ref('dev'))).map((r) => r.number)).toEqual([3, 2, 1]);
      });

      it('honours the expected ETag: a stale one is refused and nothing is written', async () => {
        const created = await store.create(storage.db, ref('dev'));
        const r2 = await store.update(storage.db, ref('dev'), 'a', { expectedEtag: created.etag });
        expect(await codeOf(store.update(storage.db, ref('dev'), 'b', { expectedEtag: created.etag }))).toBe(
          'etag-mismatch',
        );
        expect(
          await codeOf(store.update(storage.db, ref('dev'), 'b', { expectedEtag: `W/${r2.etag}` })),
        ).toBe('etag-mismatch');
        expect((await store.get(storage.db, ref('dev'))).revision).toBe(2);
        // Unquoted, as some clients send it back.
        const r3 = await store.update(storage.db, ref('dev'), 'c', { expectedEtag: r2.etag.slice(1, -1) });
        expect(r3.revision).toBe(3);
      });

      it('lets exactly one of two writers holding the same ETag win', async () => {
        const created = await store.create(storage.db, ref('dev'));
        const results = await Promise.allSettled(
          [...Array(6).keys()].map((n) =>
            store.update(storage.db, ref('dev'), `v${n}`, { expectedEtag: created.etag }),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results)
          if (r.status === 'rejected') expect((r.reason as EnvironmentStoreError).code).toBe('etag-mismatch');
        expect((await store.get(storage.db, ref('dev'))).revision).toBe(2);
      });

      it('numbers concurrent unguarded updates densely', async () => {
        await store.create(storage.db, ref('dev'));
        await Promise.all([...Array(10).keys()].map((n) => store.update(storage.db, ref('dev'), `v${n}`)));
        const numbers = (await store.listRevisions(storage.db, ref('dev'))).map((r) => r.number);
        expect(numbers).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      });

      it('gives a re-created environment ETags its predecessor never had', async () => {
        const first = await store.create(storage.db, ref('dev'));
        await store.delete(storage.db, ref('dev'));
        const second = await store.create(storage.db, ref('dev'));
        expect(second.revision).toBe(1);
        expect(second.etag).not.toBe(first.etag);
        expect(await codeOf(store.update(storage.db, ref('dev'), 'x', { expectedEtag: first.etag }))).toBe(
          'etag-mismatch',
        );
      });

      it('keeps revisions immutable in the database itself', async () => {
        await store.create(storage.db, ref('dev'));
        await expect(rawSql(db, [`UPDATE environment_revisions SET yaml = 'forged'`])).rejects.toThrow(
          /append-only/,
        );
        await expect(rawSql(db, [`DELETE FROM environment_revisions`])).rejects.toThrow(/append-only/);
      });
    });

    describe('list', () => {
      it('pages through every live environment exactly once, in (project, name) order', async () => {
        const names: string[] = [];
        for (const project of ['b-proj', 'a-proj', 'default', 'Z-upper'])
          for (const name of ['x', 'a', 'm.1', 'M', '_u', '-h']) {
            await store.create(storage.db, ref(name, project));
            names.push(`${project}/${name}`);
          }
        await store.create(storage.db, { org: `${org}-other`, project: 'a-proj', name: 'a' });
        await store.create(storage.db, ref('gone'));
        await store.delete(storage.db, ref('gone'));
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await store.list(storage.db, org, { maxResults: 5, continuationToken: token });
          expect(page.environments.length).toBeLessThanOrEqual(5);
          seen.push(...page.environments.map((e) => `${e.project}/${e.name}`));
          token = page.nextToken;
          pages++;
          // Insertions behind the cursor do not disturb it.
          if (pages === 2) await store.create(storage.db, ref('0-early', 'a-proj'));
        } while (token);
        const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
        expect(seen).toEqual([...names].sort(byCodePoint));
        expect(pages).toBe(5);
        const all = await store.list(storage.db, org);
        expect(all.nextToken).toBeUndefined();
        expect(all.environments).toHaveLength(25);
      });

      it('includes each environment’s tags and settings', async () => {
        await store.create(storage.db, ref('dev'));
        await store.createTag(storage.db, ref('dev'), { name: 'region', value: 'eu' });
        await store.updateSettings(storage.db, ref('dev'), { deletionProtected: true });
        const [env] = (await store.list(storage.db, org)).environments;
        expect(env).toMatchObject({ name: 'dev', tags: { region: 'eu' }, deletionProtected: true });
        expect((await store.list(storage.db, `${org}-empty`)).environments).toEqual([]);
      });

      it('refuses a forged or foreign continuation token', async () => {
        expect(await codeOf(store.list(storage.db, org, { continuationToken: 'garbage!' }))).toBe(
          'invalid-continuation-token',
        );
        await store.create(storage.db, ref('a'));
        await store.create(storage.db, ref('b'));
        await store.delete(storage.db, ref('a'));
        await store.delete(storage.db, ref('b'));
        const deleted = await store.listDeleted(storage.db, org, { maxResults: 1 });
        expect(await codeOf(store.list(storage.db, org, { continuationToken: deleted.nextToken! }))).toBe(
          'invalid-continuation-token',
        );
      });
    });

    describe('delete and restore', () => {
      it('soft-deletes, lists the deleted within the window, and restores with its history', async () => {
        await store.create(storage.db, ref('dev'));
        await store.update(storage.db, ref('dev'), 'values:\n  a: 1\n');
        await store.createTag(storage.db, ref('dev'), { name: 'team', value: 'core' });
        clock += 1000;
        const deleted = await store.delete(storage.db, ref('dev'));
        expect(deleted.deletedAt).toBe(clock);
        expect(await codeOf(store.get(storage.db, ref('dev')))).toBe('not-found');
        expect((await store.list(storage.db, org)).environments).toEqual([]);
        const listed = await store.listDeleted(storage.db, org);
        expect(listed.environments).toHaveLength(1);
        expect(listed.environments[0]).toMatchObject({
          name: 'dev',
          deletedAt: clock,
          tags: { team: 'core' },
        });

        clock += DELETED_ENVIRONMENT_RETENTION_MS - 1;
        const restored = await store.restore(storage.db, org, {
          project: 'app',
          name: 'dev',
          deletionTimestamp: new Date(deleted.deletedAt!).toISOString(),
        });
        expect(restored.deletedAt).toBeUndefined();
        const back = await store.get(storage.db, ref('dev'));
        expect(back).toMatchObject({ revision: 2, yaml: 'values:\n  a: 1\n', id: deleted.id });
        expect((await store.listTags(storage.db, ref('dev'))).tags.team?.value).toBe('core');
        expect((await store.listDeleted(storage.db, org)).environments).toEqual([]);
      });

      it('forgets deletions older than the retention window (default or given)', async () => {
        await store.create(storage.db, ref('dev'));
        const deleted = await store.delete(storage.db, ref('dev'));
        clock += 10 * DAY;
        expect((await store.listDeleted(storage.db, org)).environments).toHaveLength(1);
        expect((await store.listDeleted(storage.db, org, { retentionMs: 7 * DAY })).environments).toEqual([]);
        const request = { project: 'app', name: 'dev', deletionTimestamp: deleted.deletedAt! };
        expect(await codeOf(store.restore(storage.db, org, request, { retentionMs: 7 * DAY }))).toBe(
          'not-found',
        );
        clock += DELETED_ENVIRONMENT_RETENTION_MS;
        expect((await store.listDeleted(storage.db, org)).environments).toEqual([]);
        expect(await codeOf(store.restore(storage.db, org, request))).toBe('not-found');
      });

      it('restores only the named deletion, and not over a live environment', async () => {
        const first = await store.create(storage.db, ref('dev'));
        const d1 = await store.delete(storage.db, ref('dev'));
        await store.create(storage.db, ref('dev'));
        const d2 = await store.delete(storage.db, ref('dev')); // same millisecond: still distinguishable
        expect(d2.deletedAt).toBeGreaterThan(d1.deletedAt!);
        expect((await store.listDeleted(storage.db, org)).environments.map((e) => e.deletedAt)).toEqual([
          d1.deletedAt,
          d2.deletedAt,
        ]);
        const bad = { project: 'app', name: 'dev' };
        expect(await codeOf(store.restore(storage.db, org, { ...bad, deletionTimestamp: 12345 }))).toBe(
          'not-found',
        );
        expect(await codeOf(store.restore(storage.db, org, { ...bad, deletionTimestamp: 'yesterday' }))).toBe(
          'not-found',
        );
        const restored = await store.restore(storage.db, org, { ...bad, deletionTimestamp: d1.deletedAt! });
        expect(restored.id).toBe(first.id);
        expect(
          await codeOf(store.restore(storage.db, org, { ...bad, deletionTimestamp: d2.deletedAt! })),
        ).toBe('already-exists');
      });

      it('refuses to delete a deletion-protected environment until protection is off', async () => {
        await store.create(storage.db, ref('prod'));
        expect(await store.getSettings(storage.db, ref('prod'))).toEqual({ deletionProtected: false });
        expect(await store.updateSettings(storage.db, ref('prod'), { deletionProtected: true })).toEqual({
          deletionProtected: true,
          previous: { deletionProtected: false },
        });
        expect(await codeOf(store.delete(storage.db, ref('prod')))).toBe('deletion-protected');
        expect((await store.get(storage.db, ref('prod'))).deletionProtected).toBe(true);
        expect(await store.updateSettings(storage.db, ref('prod'), {})).toMatchObject({
          deletionProtected: true,
        });
        await store.updateSettings(storage.db, ref('prod'), { deletionProtected: false });
        await store.delete(storage.db, ref('prod'));
        expect(await codeOf(store.delete(storage.db, ref('prod')))).toBe('not-found');
        expect(await codeOf(store.getSettings(storage.db, ref('prod')))).toBe('not-found');
      });
    });

    describe('clone', () => {
      async function source() {
        await store.create(storage.db, ref('src'), alice);
        clock += 1000;
        await store.update(storage.db, ref('src'), 'values:\n  v: 2\n', { actor: alice }); // 2
        await store.update(storage.db, ref('src'), 'values:\n  v: 3\n'); // 3
        await store.update(storage.db, ref('src'), 'values:\n  v: 4\n'); // 4
        await store.createRevisionTag(storage.db, ref('src'), 'stable', 2);
        await store.createRevisionTag(storage.db, ref('src'), 'candidate', 3);
        await store.createRevisionTag(storage.db, ref('src'), 'edge', 4);
        await store.createTag(storage.db, ref('src'), { name: 'team', value: 'core' });
        await store.updateSettings(storage.db, ref('src'), { deletionProtected: true });
      }

      it('by default copies only the chosen definition, as revision 1', async () => {
        await source();
        clock += 1000;
        const result = await store.clone(storage.db, ref('src'), { name: 'copy' }, { login: 'bob' });
        expect(result.preserveAccess).toBe(false);
        expect(result.environment).toMatchObject({ project: 'app', name: 'copy', revision: 1 });
        const copy = await store.get(storage.db, ref('copy'));
        expect(copy.yaml).toBe('values:\n  v: 4\n');
        expect(copy.deletionProtected).toBe(false);
        expect(await store.listRevisions(storage.db, ref('copy'))).toEqual([
          { number: 1, created: clock, creatorLogin: 'bob', tags: ['latest'] },
        ]);
        expect((await store.listTags(storage.db, ref('copy'))).tags).toEqual({});
        expect((await store.listRevisionTags(storage.db, ref('copy'))).tags.map((t) => t.name)).toEqual([
          'latest',
        ]);
        // The source is untouched.
        expect((await store.get(storage.db, ref('src'))).revision).toBe(4);
      });

      it('clones a chosen version into another project', async () => {
        await source();
        await store.clone(storage.db, ref('src'), { project: 'elsewhere', name: 'copy', version: 2 });
        expect((await store.get(storage.db, ref('copy', 'elsewhere'))).yaml).toBe('values:\n  v: 2\n');
        expect(await codeOf(store.clone(storage.db, ref('src'), { name: 'c2', version: 9 }))).toBe(
          'revision-not-found',
        );
        expect(await codeOf(store.clone(storage.db, ref('src'), { name: 'c2', version: 0 }))).toBe(
          'invalid-revision',
        );
      });

      it('preserves history up to the cloned version', async () => {
        await source();
        await store.retractRevision(storage.db, ref('src'), 2, { replacement: 4, reason: 'leak' });
        await store.clone(storage.db, ref('src'), { name: 'copy', version: 3, preserveHistory: true });
        const revisions = await store.listRevisions(storage.db, ref('copy'));
        expect(revisions.map((r) => r.number)).toEqual([3, 2, 1]);
        expect(revisions[2]).toMatchObject({ creatorLogin: 'alice', created: 1_700_000_000_000 });
        // Revision 2's replacement (4) lies beyond the clone: it is redirected to the clone's newest.
        expect(revisions[1]!.retracted).toMatchObject({ replacement: 3, reason: 'leak' });
        expect(revisions[0]!.tags).toEqual(['latest']);
        expect((await store.getRevision(storage.db, ref('copy'), 2)).yaml).toBe('values:\n  v: 3\n');
        expect((await store.get(storage.db, ref('copy'))).revision).toBe(3);
      });

      it('preserves environment tags', async () => {
        await source();
        await store.clone(storage.db, ref('src'), { name: 'copy', preserveEnvironmentTags: true });
        expect((await store.listTags(storage.db, ref('copy'))).tags).toMatchObject({
          team: { value: 'core' },
        });
      });

      it('preserves revision tags on the cloned versions, with and without history', async () => {
        await source();
        await store.clone(storage.db, ref('src'), {
          name: 'with-history',
          version: 3,
          preserveHistory: true,
          preserveRevisionTags: true,
        });
        const tags = (await store.listRevisionTags(storage.db, ref('with-history'))).tags;
        expect(tags.map((t) => [t.name, t.revision])).toEqual([
          ['candidate', 3],
          ['latest', 3],
          ['stable', 2],
        ]);
        await store.clone(storage.db, ref('src'), { name: 'flat', version: 3, preserveRevisionTags: true });
        const flat = (await store.listRevisionTags(storage.db, ref('flat'))).tags;
        expect(flat.map((t) => [t.name, t.revision])).toEqual([
          ['candidate', 1],
          ['latest', 1],
        ]);
      });

      it('records preserveAccess for the caller, and refuses a taken name or a retracted version', async () => {
        await source();
        const result = await store.clone(storage.db, ref('src'), { name: 'copy', preserveAccess: true });
        expect(result.preserveAccess).toBe(true);
        expect(await codeOf(store.clone(storage.db, ref('src'), { name: 'copy' }))).toBe('already-exists');
        expect(await codeOf(store.clone(storage.db, ref('src'), { name: 'src' }))).toBe('already-exists');
        expect(await codeOf(store.clone(storage.db, ref('src'), { name: 'yaml' }))).toBe('invalid-name');
        await store.retractRevision(storage.db, ref('src'), 3);
        expect(await codeOf(store.clone(storage.db, ref('src'), { name: 'c3', version: 3 }))).toBe(
          'retracted',
        );
        expect(await codeOf(store.clone(storage.db, ref('missing'), { name: 'c4' }))).toBe('not-found');
      });
    });
  });
}
