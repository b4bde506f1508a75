import { EVENT_TYPES } from '@vigil/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_LOG_PAGE_SIZE } from '../src/http/routes/auditlog-routes.js';
import { client, ORG, seed, seedRecord, signedIn, T0, type Json } from './auditlog-support.js';
import { DIALECTS } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const L = `/api/orgs/${ORG}/auditlogs`;
type Event = Json & { timestamp: number; description: string; event: string };
/** The fields of Pulumi's `AuditLogEvent` that are always present, in its order. */
const ALWAYS = ['timestamp', 'sourceIP', 'event', 'description', 'user'];

for (const dialect of DIALECTS) {
  describe(`audit log API on ${dialect}`, () => {
    let running: RunningServer;
    let api: ReturnType<typeof client>;
    let auditor: string;
    let member: string;

    beforeAll(async () => {
      running = await startServer(dialect);
      api = client(running);
      auditor = await signedIn(running, 'audrey', 'auditor', 'Audrey Auditor');
      member = await signedIn(running, 'mel', 'member');
      // Five seconds of history, three events each, at T0 … T0+4.
      await seed(
        running,
        [...Array(15).keys()].map((n) => seedRecord((T0 + Math.floor(n / 3)) * 1000 + (n % 3), n)),
      );
    }, 60_000);
    afterAll(async () => running.stop());

    /** Every event of a listing, following continuation tokens. */
    async function all(path: string, token = ADMIN_TOKEN): Promise<Event[]> {
      const out: Event[] = [];
      let next: string | undefined;
      do {
        const sep = path.includes('?') ? '&' : '?';
        const url = next ? `${path}${sep}continuationToken=${encodeURIComponent(next)}` : path;
        const { status, body } = await api.json(url, token);
        expect(status, JSON.stringify(body)).toBe(200);
        out.push(...(body.auditLogEvents as Event[]));
        next = body.continuationToken as string | undefined;
      } while (next);
      return out;
    }
    const seeds = (events: Event[]) =>
      events.filter((e) => e.description.startsWith('seed ')).map((e) => Number(e.description.slice(5)));

    it('V1 requires startTime or continuationToken, and treats startTime as an upper bound', async () => {
      const missing = await api.json(L);
      expect(missing.status).toBe(400);
      expect(missing.body).toMatchObject({ code: 400, errorCode: 'invalid-parameter', param: 'startTime' });
      // Older than T0+2: the six events of T0 and T0+1, newest first.
      expect(seeds(await all(`${L}?startTime=${T0 + 2}`))).toEqual([5, 4, 3, 2, 1, 0]);
      // endTime is an inclusive upper bound as well.
      expect(seeds(await all(`${L}?startTime=${T0 + 4}&endTime=${T0}`))).toEqual([2, 1, 0]);
    });

    it('V2 treats startTime as an inclusive lower bound and endTime as an inclusive upper bound', async () => {
      expect(seeds(await all(`${L}/v2?startTime=${T0 + 3}&endTime=${T0 + 4}`))).toEqual([
        14, 13, 12, 11, 10, 9,
      ]);
      expect(seeds(await all(`${L}/v2?startTime=${T0 + 1}&endTime=${T0 + 1}`))).toEqual([5, 4, 3]);
      // No parameters at all: everything in reverse log order — the seeds, then the server's own first records
      // (whose times are later: order is the log's, not the clock's).
      const everything = await all(`${L}/v2`);
      expect(seeds(everything)).toEqual([...Array(15).keys()].reverse());
      expect(everything.at(-1)).toMatchObject({ event: 'member-added', user: { githubLogin: 'system' } });
      expect(everything.at(-1)!.timestamp).toBeGreaterThan(T0 + 4);
      const bad = await api.json(`${L}/v2?startTime=${T0 + 2}&endTime=${T0 + 1}`);
      expect(bad.body).toMatchObject({ errorCode: 'invalid-parameter', param: 'endTime' });
    });

    it('rejects malformed parameters with 400 naming the parameter', async () => {
      const cases: Array<[string, string]> = [
        ['v2?startTime=1e9', 'startTime'],
        ['v2?startTime=-1', 'startTime'],
        ['v2?endTime=0100', 'endTime'],
        ['v2?endTime=99999999999999', 'endTime'],
        ['v2?continuationToken=abc', 'continuationToken'],
        [`v2?continuationToken=${Buffer.from('{"before":-1}').toString('base64url')}`, 'continuationToken'],
        [
          `v2?continuationToken=${Buffer.from('{"before":1,"x":2}').toString('base64url')}`,
          'continuationToken',
        ],
        ['v2?eventFilter=no-such-event', 'eventFilter'],
        ['v2?format=csv', 'format'],
        ['v2?userFilter=a&userFilter=b', 'userFilter'],
        ['v2/export?format=xml', 'format'],
      ];
      for (const [path, param] of cases) {
        const { status, body } = await api.json(`${L}/${path}`);
        expect(status, path).toBe(400);
        expect(body, path).toMatchObject({ code: 400, errorCode: 'invalid-parameter', param });
      }
    });

    it(`pages ${AUDIT_LOG_PAGE_SIZE} at a time through 300 events of one second, skipping and repeating nothing while new ones arrive`, async () => {
      const T = T0 + 100;
      const actor = { kind: 'user' as const, login: 'pager', name: 'Pager' };
      await seed(
        running,
        [...Array(300).keys()].map((n) => seedRecord(T * 1000 + 500, n, { actor })),
      );
      const path = `${L}/v2?userFilter=pager&startTime=${T}&endTime=${T}`;
      const seen: number[] = [];
      let next: string | undefined;
      let pages = 0;
      let arrived = 300;
      do {
        const { body } = await api.json(next ? `${path}&continuationToken=${next}` : path);
        const events = body.auditLogEvents as Event[];
        expect(events.length).toBeLessThanOrEqual(AUDIT_LOG_PAGE_SIZE);
        seen.push(...seeds(events));
        next = body.continuationToken as string | undefined;
        pages++;
        // New events of the same second and user between pages: later pages must not shift.
        await seed(
          running,
          [0, 1, 2].map(() => seedRecord(T * 1000 + 500, arrived++, { actor })),
        );
      } while (next);
      expect(pages).toBe(3);
      expect(seen).toEqual([...Array(300).keys()].reverse());
      // A fresh listing sees the newcomers first.
      expect(seeds(await all(path)).slice(0, 9)).toEqual([...Array(9).keys()].map((i) => arrived - 1 - i));
    });

    it('filters by user (any case) and by event id, display name or legacy name', async () => {
      const T = T0 + 200;
      await seed(running, [
        seedRecord(T * 1000, 1, {
          event: 'environment-cloned',
          actor: { kind: 'user', login: 'Zoe', name: 'Zoe' },
        }),
        seedRecord(T * 1000, 2, {
          event: 'environment-read',
          actor: { kind: 'user', login: 'Zoe', name: 'Zoe' },
        }),
        seedRecord(T * 1000, 3, { event: 'environment-cloned' }),
      ]);
      const window = `startTime=${T}&endTime=${T}`;
      expect(seeds(await all(`${L}/v2?${window}&userFilter=zoe`))).toEqual([2, 1]);
      expect(seeds(await all(`${L}/v2?${window}&userFilter=ZOE&eventFilter=environment-cloned`))).toEqual([
        1,
      ]);
      for (const name of [
        'environment-cloned',
        'Environment Cloned',
        'Environment Clone',
        'environment clone',
      ])
        expect(seeds(await all(`${L}/v2?${window}&eventFilter=${encodeURIComponent(name)}`)), name).toEqual([
          3, 1,
        ]);
      expect(
        seeds(await all(`${L}?startTime=${T + 1}&eventFilter=Environment%20Clone&userFilter=zoe`)),
      ).toEqual([1]);
      expect(await all(`${L}/v2?${window}&userFilter=nobody`)).toEqual([]);
    });

    it("answers exactly Pulumi's fields, types and omissions", async () => {
      const T = T0 + 300;
      await seed(running, [
        seedRecord(T * 1000 + 999, 1, {
          event: 'member-role-changed',
          description: 'Changed organization role for "user2" to admin',
          actor: {
            kind: 'token',
            login: 'dana',
            name: 'Dana Okonkwo',
            avatarUrl: 'https://example.com/d.png',
            tokenId: 'tok-1',
            tokenName: 'ci-deploy',
            tokenKind: 'personal',
          },
          sourceIP: '203.0.113.42',
          reqOrgAdmin: true,
          userAgent: 'curl/8',
          requestId: 'r-1',
          resource: { member: 'user2' },
        }),
        seedRecord(T * 1000, 2, {
          event: 'auth-failure-organization-role',
          description: 'dana may not read',
          actor: { kind: 'user', login: 'dana', name: 'Dana Okonkwo' },
          outcome: 'denied',
          authFailure: true,
        }),
      ]);
      const events = await all(`${L}/v2?startTime=${T}&endTime=${T}`);
      expect(events).toHaveLength(2);
      events.reverse(); // newest first: the second record appended comes first
      expect(Object.keys(events[0]!)).toEqual([...ALWAYS, 'tokenID', 'tokenName', 'reqOrgAdmin']);
      expect(events[0]).toEqual({
        timestamp: T,
        sourceIP: '203.0.113.42',
        event: 'member-role-changed',
        description: 'Changed organization role for "user2" to admin',
        user: { name: 'Dana Okonkwo', githubLogin: 'dana', avatarUrl: 'https://example.com/d.png' },
        tokenID: 'tok-1',
        tokenName: 'ci-deploy',
        reqOrgAdmin: true,
      });
      expect(events[1]).toEqual({
        timestamp: T,
        sourceIP: '198.51.100.7',
        event: 'auth-failure-organization-role',
        description: 'dana may not read',
        user: { name: 'Dana Okonkwo', githubLogin: 'dana', avatarUrl: '' },
        authFailure: true,
      });
      const { body } = await api.json(`${L}/v2?startTime=${T}&endTime=${T}`);
      expect(Object.keys(body)).toEqual(['auditLogEvents']);
    });

    it('names non-human actors (the server, team and organization tokens) in actorName and actorUrn', async () => {
      const T = T0 + 400;
      const token = (tokenKind: 'team' | 'organization', login: string) =>
        ({
          kind: 'token',
          login,
          name: 'deploy-bot',
          tokenId: `tok-${tokenKind}`,
          tokenName: 'deploy-bot',
          tokenKind,
        }) as const;
      await seed(running, [
        seedRecord(T * 1000, 1, {
          event: 'environment-rotated',
          actor: { kind: 'system', login: 'system', name: 'Vigil', scheduleId: 'sch 1', onBehalfOf: 'dana' },
        }),
        seedRecord(T * 1000, 2, { actor: { kind: 'system', login: 'system', name: 'Vigil' } }),
        seedRecord(T * 1000, 3, { actor: token('team', `${ORG}/ops`) }),
        seedRecord(T * 1000, 4, { actor: token('organization', ORG) }),
        seedRecord(T * 1000, 5, {
          actor: {
            kind: 'token',
            login: 'dana',
            name: 'Dana',
            tokenId: 't5',
            tokenName: 'mine',
            tokenKind: 'personal',
          },
        }),
      ]);
      const events = (await all(`${L}/v2?startTime=${T}&endTime=${T}`)).reverse();
      const actors = events.map((e) => [e.user, e.tokenName, e.actorName, e.actorUrn]);
      expect(actors).toEqual([
        [
          { name: 'Vigil', githubLogin: 'system', avatarUrl: '' },
          undefined,
          'Vigil',
          `urn:vigil:${ORG}:schedule:sch%201`,
        ],
        [
          { name: 'Vigil', githubLogin: 'system', avatarUrl: '' },
          undefined,
          'Vigil',
          `urn:vigil:${ORG}:system`,
        ],
        [
          { name: 'deploy-bot', githubLogin: `${ORG}/ops`, avatarUrl: '' },
          'deploy-bot',
          'deploy-bot',
          `urn:vigil:${ORG}:team-token:tok-team`,
        ],
        [
          { name: 'deploy-bot', githubLogin: ORG, avatarUrl: '' },
          'deploy-bot',
          'deploy-bot',
          `urn:vigil:${ORG}:organization-token:tok-organization`,
        ],
        // A personal token acts as its user: a person, no actor fields.
        [{ name: 'Dana', githubLogin: 'dana', avatarUrl: '' }, 'mine', undefined, undefined],
      ]);
      // Pulumi's order: the actor fields come last.
      expect(Object.keys(events[3]!)).toEqual([...ALWAYS, 'tokenID', 'tokenName', 'actorName', 'actorUrn']);

      // As the server records them: an organization token at work, and the server's own first-start records.
      const created = await api.send('POST', `/api/orgs/${ORG}/tokens`, { name: 'ci-bot', expires: 0 });
      const { id, tokenValue } = (await created.json()) as { id: string; tokenValue: string };
      const made = await api.send(
        'POST',
        `/api/esc/environments/${ORG}`,
        { project: 'bots', name: 'ci' },
        tokenValue,
      );
      expect(made.status).toBe(200);
      const [byToken] = await all(`${L}/v2?q=${encodeURIComponent('event:environment-created env:bots/ci')}`);
      expect(byToken).toMatchObject({
        user: { githubLogin: ORG },
        tokenID: id,
        tokenName: 'ci-bot',
        actorName: 'ci-bot',
        actorUrn: `urn:vigil:${ORG}:organization-token:${id}`,
      });
      const bySystem = await all(`${L}/v2?userFilter=system&startTime=${T + 1}`);
      expect(bySystem.length).toBeGreaterThan(0);
      for (const e of bySystem)
        expect(e).toMatchObject({ actorName: 'Vigil', actorUrn: `urn:vigil:${ORG}:system` });
    });

    it('lists what the server itself recorded, in the same shape', async () => {
      const { body } = await api.json(`${L}/v2?eventFilter=member-added&userFilter=admin`);
      const added = body.auditLogEvents as Event[];
      expect(added.map((e) => e.description)).toEqual(
        expect.arrayContaining([expect.stringContaining('audrey'), expect.stringContaining('mel')]),
      );
      expect(added[0]).toMatchObject({
        event: 'member-added',
        sourceIP: '127.0.0.1',
        user: { githubLogin: 'admin', name: 'Administrator', avatarUrl: '' },
        tokenName: 'bootstrap',
        reqOrgAdmin: true,
      });
      expect(typeof added[0]!.tokenID).toBe('string');
      expect(Math.abs((added[0]!.timestamp as number) - Date.now() / 1000)).toBeLessThan(120);
    });

    it('serves the event-type catalog sorted by id', async () => {
      const { status, body } = await api.json(`${L}/event-types`, member);
      expect(status).toBe(200);
      const types = body.eventTypes as Json[];
      expect(types.map((t) => t.event)).toEqual(EVENT_TYPES.map((e) => e.id));
      expect([...types.map((t) => t.event as string)].sort()).toEqual(types.map((t) => t.event));
      expect(types.find((t) => t.event === 'audit-log-exported')).toEqual({
        event: 'audit-log-exported',
        displayName: 'Audit Log Exported',
        description: "The organization's audit log was exported.",
        requiresOrgAdmin: false,
        requiresStackAdmin: false,
        authenticationFailure: false,
        deprecated: false,
      });
      expect((await api.call(`${L}/event-types`, null)).status).toBe(401);
    });

    it('lets admins and auditors read; refuses members with a recorded auth-failure-organization-role', async () => {
      expect((await api.json(`${L}/v2`, auditor)).status).toBe(200);
      const before = (await running.records()).length;
      const refused = await api.json(`${L}/v2`, member);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ code: 403, errorCode: 'access-denied' });
      const fresh = (await running.records()).slice(before);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]).toMatchObject({
        event: 'auth-failure-organization-role',
        outcome: 'denied',
        authFailure: true,
        actor: { login: 'mel' },
      });
      expect(fresh[0]!.description).toContain('read the audit log');
      // Listings themselves are not recorded.
      await api.json(`${L}/v2`);
      expect((await running.records()).length).toBe(before + 1);
      expect((await api.call(`${L}/v2`, null)).status).toBe(401);
      expect((await api.json(`/api/orgs/initech/auditlogs/v2`)).status).toBe(404);
    });

    it('guards the ledger verification endpoints: key public, checkpoint for members, the rest for readers', async () => {
      await running.server.publisher.publishAll();
      expect((await api.call(`${L}/verifier-key`, null)).status).toBe(200);
      expect((await api.call(`${L}/checkpoint`, null)).status).toBe(401);
      expect((await api.call(`${L}/checkpoint`, member)).status).toBe(200);
      expect((await api.call(`${L}/entries?start=0&end=2`, auditor)).status).toBe(200);
      for (const path of [
        'entries?start=0&end=2',
        'hashes?start=0&end=2',
        'proof/inclusion?index=0&treeSize=2',
      ]) {
        const before = (await running.records()).length;
        const response = await api.call(`${L}/${path}`, member);
        expect(response.status, path).toBe(403);
        expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
        expect(await response.json()).toMatchObject({ code: 'access-denied', status: 403 });
        const fresh = (await running.records()).slice(before);
        expect(fresh.map((r) => r.event)).toEqual(['auth-failure-organization-role']);
      }
    });
  });
}
