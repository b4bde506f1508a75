import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EnvironmentRef, type EnvironmentStore } from '../src/environments/index.js';
import type { Storage } from '../src/storage/storage.js';
import { DIALECTS } from './support/databases.js';
import { codeOf, openEnvironmentStore } from './support/environments.js';

const alice = { login: 'alice', name: 'Alice Liddell' };
const bob = { login: 'bob' };

for (const dialect of DIALECTS) {
  describe(`environment revisions and tags on ${dialect}`, () => {
    let close: () => Promise<void>;
    let storage: Storage;
    let store: EnvironmentStore;
    let clock: number;
    let orgs = 0;
    let env: EnvironmentRef;

    beforeAll(async () => {
      ({ storage, store, close } = await openEnvironmentStore(dialect, () => clock));
    });
    afterAll(() => close());
    beforeEach(() => {
      clock = 1_700_000_000_000;
      env = { org: `org-${++orgs}`, project: 'app', name: 'dev' };
    });

    /** An environment with revisions 1..n, revision k holding `v: k` (k ≥ 2). */
    async function withRevisions(n: number) {
      await store.create(storage.db, env, alice);
      for (let k = 2; k <= n; k++) {
        clock += 1000;
        await store.update(storage.db, env, `values:\n  v: ${k}\n`, { actor: k % 2 ? alice : bob });
      }
    }

    describe('revisions', () => {
      it('lists newest first, paging with before/count as the Go client does', async () => {
        await withRevisions(7);
        const all = await store.listRevisions(storage.db, env);
        expect(all.map((r) => r.number)).toEqual([7, 6, 5, 4, 3, 2, 1]);
        expect(all[1]).toMatchObject({ number: 6, creatorLogin: 'bob', tags: [] });
        expect(all[1]!.creatorName).toBeUndefined();
        const pages: number[][] = [];
        let before: number | undefined;
        for (;;) {
          const page = await store.listRevisions(storage.db, env, { before, count: 3 });
          if (page.length === 0) break;
          pages.push(page.map((r) => r.number));
          before = page.at(-1)!.number;
        }
        expect(pages).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
        // GetEnvironmentRevision(rev) = before=rev+1&count=1.
        expect(
          (await store.listRevisions(storage.db, env, { before: 5, count: 1 })).map((r) => r.number),
        ).toEqual([4]);
      });

      it('reads a revision by number, by numeric segment and by tag', async () => {
        await withRevisions(3);
        await store.createRevisionTag(storage.db, env, 'stable', 2);
        for (const version of [2, '2', 'stable']) {
          const r = await store.getRevision(storage.db, env, version);
          expect(r).toMatchObject({
            revision: 2,
            requested: 2,
            yaml: 'values:\n  v: 2\n',
            creatorLogin: 'bob',
          });
          expect(r.retracted).toBeUndefined();
        }
        const latest = await store.getRevision(storage.db, env, 'latest');
        expect(latest.revision).toBe(3);
        expect(latest.etag).toBe((await store.get(storage.db, env)).etag);
        expect((await store.getRevision(storage.db, env, 1)).yaml).toBe('');
        expect(await codeOf(store.getRevision(storage.db, env, 4))).toBe('revision-not-found');
        expect(await codeOf(store.getRevision(storage.db, env, '04'))).toBe('invalid-revision');
        expect(await codeOf(store.getRevision(storage.db, env, '2x'))).toBe('invalid-revision');
        expect(await codeOf(store.getRevision(storage.db, env, 'nope'))).toBe('tag-not-found');
      });
    });

    describe('retraction', () => {
      it('defaults the replacement to the previous non-retracted revision and moves tags there', async () => {
        await withRevisions(5);
        await store.createRevisionTag(storage.db, env, 'prod', 4);
        await store.createRevisionTag(storage.db, env, 'qa', 4);
        await store.retractRevision(storage.db, env, 3);
        clock += 5000;
        const result = await store.retractRevision(storage.db, env, '4', {
          reason: 'leaked key',
          actor: alice,
        });
        expect(result).toEqual({
          revision: 4,
          retraction: {
            replacement: 2,
            at: clock,
            byLogin: 'alice',
            byName: 'Alice Liddell',
            reason: 'leaked key',
          },
          retagged: ['prod', 'qa'],
        });
        expect(await store.getRevisionTag(storage.db, env, 'prod')).toMatchObject({
          revision: 2,
          modified: clock,
          editorLogin: 'alice',
        });
        const listed = await store.listRevisions(storage.db, env);
        expect(listed.map((r) => [r.number, r.retracted?.replacement])).toEqual([
          [5, undefined],
          [4, 2],
          [3, 2],
          [2, undefined],
          [1, undefined],
        ]);
        expect(listed.find((r) => r.number === 2)!.tags).toEqual(['prod', 'qa']);
      });

      it('resolves reads of a retracted revision to its replacement, following chains', async () => {
        await withRevisions(5);
        await store.retractRevision(storage.db, env, 2, { replacement: 3 });
        await store.retractRevision(storage.db, env, 3, { replacement: 4 });
        const r = await store.getRevision(storage.db, env, 2);
        expect(r).toMatchObject({ requested: 2, revision: 4, yaml: 'values:\n  v: 4\n' });
        expect(r.retracted?.replacement).toBe(3);
        expect(await codeOf(store.getRevision(storage.db, env, 2, { followRetracted: false }))).toBe(
          'retracted',
        );
        expect((await store.getRevision(storage.db, env, 4, { followRetracted: false })).revision).toBe(4);
      });

      it('never retracts the latest revision', async () => {
        await withRevisions(3);
        expect(await codeOf(store.retractRevision(storage.db, env, 3))).toBe('latest-tag-immutable');
        expect(await codeOf(store.retractRevision(storage.db, env, 'latest'))).toBe('latest-tag-immutable');
        expect(await codeOf(store.retractRevision(storage.db, env, 3, { replacement: 2 }))).toBe(
          'latest-tag-immutable',
        );
        // As Pulumi advises: write a new revision, then retract the old one.
        await store.update(storage.db, env, 'values:\n  v: fixed\n');
        await store.retractRevision(storage.db, env, 3);
        expect((await store.getRevision(storage.db, env, 'latest')).revision).toBe(4);
      });

      it('refuses bad replacements and double retraction', async () => {
        await withRevisions(4);
        expect(await codeOf(store.retractRevision(storage.db, env, 1))).toBe('invalid-revision');
        expect(await codeOf(store.retractRevision(storage.db, env, 2, { replacement: 2 }))).toBe(
          'invalid-revision',
        );
        expect(await codeOf(store.retractRevision(storage.db, env, 2, { replacement: 9 }))).toBe(
          'revision-not-found',
        );
        expect(await codeOf(store.retractRevision(storage.db, env, 9))).toBe('revision-not-found');
        await store.retractRevision(storage.db, env, 1, { replacement: 4 });
        expect(await codeOf(store.retractRevision(storage.db, env, 1))).toBe('retracted');
        expect(await codeOf(store.retractRevision(storage.db, env, 2, { replacement: 1 }))).toBe('retracted');
        // Revision 1 is retracted, so revision 2 has no earlier live revision to default to.
        expect(await codeOf(store.retractRevision(storage.db, env, 2))).toBe('invalid-revision');
        await store.retractRevision(storage.db, env, 2, { replacement: 3 });
      });
    });

    describe('revision tags', () => {
      it('keeps latest on the newest revision and refuses to change it', async () => {
        await withRevisions(2);
        expect(await codeOf(store.createRevisionTag(storage.db, env, 'latest', 1))).toBe(
          'latest-tag-immutable',
        );
        expect(await codeOf(store.updateRevisionTag(storage.db, env, 'latest', 1))).toBe(
          'latest-tag-immutable',
        );
        expect(await codeOf(store.deleteRevisionTag(storage.db, env, 'latest'))).toBe('latest-tag-immutable');
        clock += 1000;
        await store.update(storage.db, env, 'x', { actor: bob });
        expect(await store.getRevisionTag(storage.db, env, 'latest')).toMatchObject({
          revision: 3,
          modified: clock,
          editorLogin: 'bob',
          created: 1_700_000_000_000,
        });
      });

      it('creates, reads, moves and deletes tags, recording the editor', async () => {
        await withRevisions(3);
        const created = await store.createRevisionTag(storage.db, env, 'prod', 2, alice);
        expect(created).toEqual({
          name: 'prod',
          revision: 2,
          created: clock,
          modified: clock,
          editorLogin: 'alice',
          editorName: 'Alice Liddell',
        });
        expect(await codeOf(store.createRevisionTag(storage.db, env, 'prod', 1))).toBe('already-exists');
        const defaulted = await store.createRevisionTag(storage.db, env, 'head');
        expect(defaulted.revision).toBe(3);
        clock += 1000;
        const moved = await store.updateRevisionTag(storage.db, env, 'prod', 3, bob);
        expect(moved).toMatchObject({
          revision: 3,
          previousRevision: 2,
          modified: clock,
          editorLogin: 'bob',
        });
        expect(moved.created).toBe(created.created);
        expect(await codeOf(store.updateRevisionTag(storage.db, env, 'prod', 7))).toBe('revision-not-found');
        expect(await codeOf(store.updateRevisionTag(storage.db, env, 'ghost', 1))).toBe('tag-not-found');
        expect((await store.deleteRevisionTag(storage.db, env, 'prod')).name).toBe('prod');
        expect(await codeOf(store.getRevisionTag(storage.db, env, 'prod'))).toBe('tag-not-found');
        expect(await codeOf(store.deleteRevisionTag(storage.db, env, 'prod'))).toBe('tag-not-found');
        expect(await codeOf(store.createRevisionTag(storage.db, env, '1st', 1))).toBe('invalid-name');
        expect((await store.getRevision(storage.db, env, 'head')).revision).toBe(3);
      });

      it('refuses to point a tag at a retracted revision', async () => {
        await withRevisions(3);
        await store.retractRevision(storage.db, env, 1, { replacement: 2 });
        expect(await codeOf(store.createRevisionTag(storage.db, env, 'old', 1))).toBe('retracted');
        await store.createRevisionTag(storage.db, env, 'old', 2);
        expect(await codeOf(store.updateRevisionTag(storage.db, env, 'old', 1))).toBe('retracted');
      });

      it('lists by name with after/count paging and filters by revision', async () => {
        await withRevisions(3);
        const names = ['a', 'testTag', 'b.2', 'Zed', '_x', 'm-1', 'q'];
        for (const [i, name] of names.entries())
          await store.createRevisionTag(storage.db, env, name, (i % 3) + 1);
        const first = await store.listRevisionTags(storage.db, env);
        expect(first.nextToken).toBeUndefined();
        const sorted = [...names, 'latest'].sort();
        expect(first.tags.map((t) => t.name)).toEqual(sorted);
        const seen: string[] = [];
        let after: string | undefined;
        do {
          const page = await store.listRevisionTags(storage.db, env, { after, count: 3 });
          seen.push(...page.tags.map((t) => t.name));
          after = page.nextToken;
        } while (after);
        expect(seen).toEqual(sorted);
        const atThree = await store.listRevisionTags(storage.db, env, { revision: 3 });
        expect(atThree.tags.map((t) => t.name)).toEqual(['b.2', 'latest', 'm-1']);
      });
    });

    describe('environment tags', () => {
      it('creates, reads, renames, revalues and deletes tags', async () => {
        await store.create(storage.db, env);
        expect((await store.listTags(storage.db, env)).tags).toEqual({});
        const created = await store.createTag(storage.db, env, { name: 'region', value: 'us-east-1' }, alice);
        expect(created).toMatchObject({
          name: 'region',
          value: 'us-east-1',
          created: clock,
          editorLogin: 'alice',
        });
        expect(await codeOf(store.createTag(storage.db, env, { name: 'region', value: 'x' }))).toBe(
          'already-exists',
        );
        await store.createTag(storage.db, env, { name: 'team', value: 'platform' });
        expect(await store.getTag(storage.db, env, 'region')).toEqual(created);
        clock += 1000;
        const updated = await store.updateTag(
          storage.db,
          env,
          'region',
          { currentValue: 'us-east-1', newName: 'location', newValue: 'eu-west-1' },
          bob,
        );
        expect(updated).toMatchObject({
          name: 'location',
          value: 'eu-west-1',
          created: created.created,
          modified: clock,
          editorLogin: 'bob',
          previous: { name: 'region', value: 'us-east-1' },
        });
        expect(await codeOf(store.getTag(storage.db, env, 'region'))).toBe('tag-not-found');
        expect(Object.keys((await store.listTags(storage.db, env)).tags)).toEqual(['location', 'team']);
        await store.deleteTag(storage.db, env, 'location');
        await store.deleteTag(storage.db, env, 'team');
        expect(await codeOf(store.deleteTag(storage.db, env, 'team'))).toBe('tag-not-found');
        const empty = await store.listTags(storage.db, env);
        expect(Object.keys(empty.tags)).toHaveLength(0);
        expect(empty.nextToken).toBeUndefined();
      });

      it('checks the current value and refuses renaming onto another tag', async () => {
        await store.create(storage.db, env);
        await store.createTag(storage.db, env, { name: 'a', value: '1' });
        await store.createTag(storage.db, env, { name: 'b', value: '2' });
        expect(
          await codeOf(store.updateTag(storage.db, env, 'a', { currentValue: 'stale', newValue: '3' })),
        ).toBe('etag-mismatch');
        expect(await codeOf(store.updateTag(storage.db, env, 'a', { currentValue: '1', newName: 'b' }))).toBe(
          'already-exists',
        );
        expect(await codeOf(store.updateTag(storage.db, env, 'zz', { newValue: '1' }))).toBe('tag-not-found');
        expect(await codeOf(store.updateTag(storage.db, env, 'a', { newValue: 'x'.repeat(257) }))).toBe(
          'invalid-argument',
        );
        expect((await store.getTag(storage.db, env, 'a')).value).toBe('1');
        expect((await store.updateTag(storage.db, env, 'a', { newValue: '9' })).value).toBe('9');
      });

      it('treats names like __proto__ as plain keys', async () => {
        await store.create(storage.db, env);
        await store.createTag(storage.db, env, { name: '__proto__', value: 'p' });
        await store.createTag(storage.db, env, { name: 'constructor', value: 'c' });
        const { tags } = await store.listTags(storage.db, env);
        expect(Object.keys(tags)).toEqual(['__proto__', 'constructor']);
        expect(tags['__proto__']?.value).toBe('p');
        expect(JSON.stringify(await store.listOrgTagValues(storage.db, env.org))).toBe(
          '{"__proto__":["p"],"constructor":["c"]}',
        );
      });

      it('pages through tags with after/count', async () => {
        await store.create(storage.db, env);
        const names = ['k5', 'k1', 'k3', 'k2', 'k4'];
        for (const name of names) await store.createTag(storage.db, env, { name, value: name });
        const seen: string[] = [];
        let after: string | undefined;
        do {
          const page = await store.listTags(storage.db, env, { after, count: 2 });
          seen.push(...Object.keys(page.tags));
          after = page.nextToken;
        } while (after);
        expect(seen).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
      });

      it('lists distinct values per tag name across the organization’s live environments', async () => {
        const other = { ...env, name: 'prod' };
        const gone = { ...env, name: 'gone' };
        for (const e of [env, other, gone]) await store.create(storage.db, e);
        await store.createTag(storage.db, env, { name: 'region', value: 'us' });
        await store.createTag(storage.db, other, { name: 'region', value: 'eu' });
        await store.createTag(storage.db, env, { name: 'team', value: 'core' });
        await store.createTag(storage.db, other, { name: 'team', value: 'core' });
        await store.createTag(storage.db, gone, { name: 'secret', value: 'x' });
        await store.delete(storage.db, gone);
        await store.create(storage.db, { ...env, org: `${env.org}-x` });
        await store.createTag(storage.db, { ...env, org: `${env.org}-x` }, { name: 'region', value: 'ap' });
        expect(await store.listOrgTagValues(storage.db, env.org)).toEqual({
          region: ['eu', 'us'],
          team: ['core'],
        });
        expect(await store.listOrgTagValues(storage.db, 'nobody')).toEqual({});
      });
    });
  });
}
