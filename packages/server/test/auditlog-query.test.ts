import type { AuditRecord } from '@vigil/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TIME_BLOCK } from '../src/audit/audit-query.js';
import { ipKey } from '../src/audit/ip-key.js';
import {
  MAX_QUERY_DEPTH,
  MAX_QUERY_LENGTH,
  parseQuery,
  QueryError,
  type QueryNode,
} from '../src/audit/query-language.js';
import { client, ORG, seed, seedRecord, type Json } from './auditlog-support.js';
import { DIALECTS } from './support/databases.js';
import { startServer, type RunningServer } from './support/server.js';

const L = `/api/orgs/${ORG}/auditlogs`;
const at = (iso: string) => Date.parse(iso);
type Event = Json & { event: string; description: string };

/** The seeded log: each record's `n` is its position among the seeds (appended in this order). */
const SEEDS: Array<Partial<AuditRecord> & { time: number }> = [
  {
    time: at('2025-12-31T23:59:59.999Z'),
    actor: { kind: 'token', login: 'alice', name: 'Alice', tokenName: 'ci-deploy', tokenId: 't1' },
    event: 'environment-open',
    resource: { project: 'payments', environment: 'prod' },
    sourceIP: '10.1.2.3',
    description: 'Opened environment "payments/prod"',
  },
  {
    time: at('2026-01-01T00:00:00Z'),
    actor: { kind: 'user', login: 'Alice', name: 'Alice' },
    event: 'environment-read',
    resource: { project: 'payments', environment: 'dev' },
    sourceIP: '10.200.0.1',
    description: 'Read environment "payments/dev"',
  },
  {
    time: at('2026-01-15T12:00:00Z'),
    actor: { kind: 'user', login: 'bob', name: 'Bob' },
    event: 'environment-deleted',
    resource: { project: 'web', environment: 'prod' },
    sourceIP: '192.168.1.5',
    description: 'Deleted environment "web/prod"',
  },
  {
    time: at('2026-01-31T23:59:59.999Z'),
    actor: { kind: 'token', login: 'carol', name: 'Carol', tokenName: 'ci-deploy', tokenId: 't2' },
    event: 'environment-open',
    resource: { project: 'web', environment: 'prod' },
    sourceIP: '2001:db8::1',
    description: 'Opened environment "web/prod" at revision 3',
  },
  {
    time: at('2026-02-01T00:00:00Z'),
    actor: { kind: 'user', login: 'bob', name: 'Bob' },
    event: 'auth-failure-environment',
    resource: { project: 'payments', environment: 'prod' },
    sourceIP: '2001:db8:1::5',
    outcome: 'denied',
    authFailure: true,
    description: 'bob may not delete environment "payments/prod"',
  },
  {
    time: at('2026-02-10T08:00:00Z'),
    actor: { kind: 'user', login: 'alice', name: 'Alice' },
    event: 'member-added',
    sourceIP: '::ffff:10.9.9.9',
    description: 'Added member "dave" at 50% off_sale',
  },
  {
    time: at('2026-03-01T00:00:00Z'),
    actor: { kind: 'user', login: 'dave', name: 'Dave' },
    event: 'user-login-failed',
    sourceIP: 'unknown',
    outcome: 'denied',
    description: 'Failed sign-in for "dave" from the ÉCOLE network',
  },
  {
    time: at('2026-01-20T00:00:00Z'),
    actor: { kind: 'system', login: 'system', name: 'Vigil' },
    event: 'environment-rotated',
    resource: { project: 'payments', environment: 'prod' },
    sourceIP: '127.0.0.1',
    description: 'Rotated environment "payments/prod": deleted environment credentials',
  },
  {
    time: at('2026-01-10T00:00:00Z'),
    actor: { kind: 'user', login: 'alice', name: 'Alice' },
    event: 'environment-read',
    resource: { project: 'payments' },
    sourceIP: '10.1.2.4',
    description: 'Listed payments, 500 items in offXsale',
  },
];

/** Queries and the seeds they select, newest first. */
const CASES: Array<[string, number[]]> = [
  ['actor:alice', [8, 5, 1, 0]],
  ['actor:ALICE', [8, 5, 1, 0]],
  ['event:environment-open', [3, 0]],
  ['event:"Environment Open"', [3, 0]],
  ['event:environment-*', [8, 7, 3, 2, 1, 0]],
  ['env:payments/prod', [7, 4, 0]],
  ['env:prod', [7, 4, 3, 2, 0]],
  ['project:payments', [8, 7, 4, 1, 0]],
  ['ip:10.0.0.0/8', [8, 5, 1, 0]],
  ['ip:10.1.2.3', [0]],
  ['ip:10.1.2.0/30', [0]],
  ['ip:10.1.2.7/29', [8, 0]],
  ['ip:2001:db8::/32', [4, 3]],
  ['ip:2001:db8::/48', [3]],
  ['ip:2001:db8::1', [3]],
  ['ip:::ffff:0:0/96', [8, 7, 5, 2, 1, 0]],
  ['token:ci-deploy', [3, 0]],
  ['outcome:denied', [6, 4]],
  ['created:>=2026-01-01', [8, 7, 6, 5, 4, 3, 2, 1]],
  ['created:<2026-02-01', [8, 7, 3, 2, 1, 0]],
  ['created:2026-01-01..2026-01-31', [8, 7, 3, 2, 1]],
  ['created:2026-01-31', [3]],
  ['created:<=2026-01-31T23:59:59Z', [8, 7, 3, 2, 1, 0]],
  ['created:>2026-01-31T23:59:59.999Z', [6, 5, 4]],
  ['created:2026-01-01T01:00:00+01:00', [1]],
  ['created:*..2025-12-31', [0]],
  ['deleted', [7, 2]],
  ['DELETED', [7, 2]],
  ['"deleted environment"', [7, 2]],
  ['"environment credentials"', [7]],
  ['50%', [5]],
  ['off_sale', [5]],
  ['école', [6]],
  ['-actor:alice', [7, 6, 4, 3, 2]],
  ['-project:payments', [6, 5, 3, 2]],
  ['-ip:10.0.0.0/8', [7, 6, 4, 3, 2]],
  ['actor:bob OR actor:carol', [4, 3, 2]],
  ['actor:alice event:environment-read OR outcome:denied', [8, 6, 4, 1]],
  ['actor:alice (event:environment-read OR outcome:denied)', [8, 1]],
  ['actor:alice AND event:member-added', [5]],
  ['-(actor:alice OR actor:bob) project:payments', [7]],
  ['env:payments/prod -outcome:denied created:2026-01-01..*', [7]],
  ['((actor:carol))', [3]],
];

/** A plain evaluation of a parsed query over one record: what the SQL must agree with. */
function naive(node: QueryNode, r: Record<string, unknown>): boolean {
  const actor = (r.actor ?? {}) as Record<string, unknown>;
  const resource = (r.resource ?? {}) as Record<string, unknown>;
  switch (node.kind) {
    case 'and':
      return node.terms.every((t) => naive(t, r));
    case 'or':
      return node.terms.some((t) => naive(t, r));
    case 'not':
      return !naive(node.term, r);
    case 'actor':
      return String(actor.login).toLowerCase() === node.login;
    case 'event':
      return (node.ids as readonly string[]).includes(r.event as string);
    case 'project':
      return resource.project === node.project;
    case 'environment':
      return (
        resource.environment === node.environment &&
        (node.project === undefined || resource.project === node.project)
      );
    case 'token':
      return actor.tokenName === node.name;
    case 'outcome':
      return r.outcome === node.outcome;
    case 'ip': {
      const key = ipKey(String(r.sourceIP));
      return !!key && Buffer.compare(key, node.low) >= 0 && Buffer.compare(key, node.high) <= 0;
    }
    case 'time':
      return (
        (node.fromMs === undefined || (r.time as number) >= node.fromMs) &&
        (node.untilMs === undefined || (r.time as number) < node.untilMs)
      );
    case 'text':
      return String(r.description).toLowerCase().includes(node.needle);
  }
}

describe('query language parser', () => {
  const error = (q: string): string => {
    try {
      parseQuery(q);
    } catch (e) {
      expect(e).toBeInstanceOf(QueryError);
      return (e as QueryError).message;
    }
    throw new Error(`${q} parsed`);
  };

  it('binds AND tighter than OR, and reads - as negation of the next term or group', () => {
    expect(parseQuery('actor:a event:user-login OR outcome:denied')).toEqual({
      kind: 'or',
      terms: [
        {
          kind: 'and',
          terms: [
            { kind: 'actor', login: 'a' },
            { kind: 'event', ids: ['user-login'] },
          ],
        },
        { kind: 'outcome', outcome: 'denied' },
      ],
    });
    expect(parseQuery('-(a OR "B c") x-y')).toEqual({
      kind: 'and',
      terms: [
        {
          kind: 'not',
          term: {
            kind: 'or',
            terms: [
              { kind: 'text', needle: 'a' },
              { kind: 'text', needle: 'b c' },
            ],
          },
        },
        { kind: 'text', needle: 'x-y' },
      ],
    });
    expect(parseQuery('   ')).toBeUndefined();
    expect(parseQuery('or and')).toEqual({
      kind: 'and',
      terms: [
        { kind: 'text', needle: 'or' },
        { kind: 'text', needle: 'and' },
      ],
    });
  });

  it('resolves dates to UTC bounds: a date covers its day, a datetime its second', () => {
    const day = at('2026-01-01T00:00:00Z');
    expect(parseQuery('created:2026-01-01')).toEqual({
      kind: 'time',
      fromMs: day,
      untilMs: day + 86_400_000,
    });
    expect(parseQuery('created:>2026-01-01')).toEqual({ kind: 'time', fromMs: day + 86_400_000 });
    expect(parseQuery('created:<=2026-01-01T00:00:00Z')).toEqual({ kind: 'time', untilMs: day + 1000 });
    expect(parseQuery('created:>=2026-01-01T00:00:00.5-02:00')).toEqual({
      kind: 'time',
      fromMs: day + 2 * 3_600_000 + 500,
    });
  });

  it('points at the offending token', () => {
    expect(error('actor:alice)')).toBe('unexpected ")" at 11');
    expect(error('(actor:alice event:environment-open))')).toBe('unexpected ")" at 36');
    expect(error('(actor:alice')).toBe('missing ")" for "(" at 0');
    expect(error('actor:alice OR')).toBe('unexpected end of query at 14');
    expect(error('OR actor:alice')).toBe('unexpected "OR" at 0');
    expect(error('a AND AND b')).toBe('unexpected "AND" at 6');
    expect(error('()')).toBe('unexpected ")" at 1');
    expect(error('a - b')).toBe('unexpected "-" at 2');
    expect(error('--a')).toBe('unexpected "-" at 1');
    expect(error('a "b')).toBe('unterminated quote at 2');
    expect(error('ab"c"')).toBe(`unexpected '"' at 2`);
    expect(error('""')).toBe('empty phrase at 0');
    expect(error('actor:')).toBe('"actor:" at 0 needs a value');
    expect(error('x foo:bar')).toMatch(/^unknown qualifier "foo" at 2/);
    expect(error('ip:10.0.0.0/33')).toBe('expected an IP address or CIDR block, not "10.0.0.0/33" at 3');
    expect(error('ip:010.0.0.1')).toMatch(/at 3$/);
    expect(error('ip:fe80::1%eth0')).toMatch(/at 3$/);
    expect(error('created:2026-02-30')).toMatch(/"2026-02-30" at 8$/);
    expect(error('created:2026-01-31..2026-01-01')).toMatch(/at 8$/);
    expect(error('created:*..*')).toMatch(/at 8$/);
    expect(error('created:2026-01-01T24:00:00Z')).toMatch(/at 8$/);
    expect(error('event:nope')).toBe('no event type is named "nope" at 6');
    expect(error('event:nope-*')).toBe('no event type matches "nope-*" at 6');
    expect(error('env:a/b/c')).toMatch(/at 4$/);
    expect(error('outcome:maybe')).toBe('outcome is success or denied, not "maybe" at 8');
    const deep = `${'('.repeat(MAX_QUERY_DEPTH + 1)}a${')'.repeat(MAX_QUERY_DEPTH + 1)}`;
    expect(error(deep)).toBe(`nesting deeper than ${MAX_QUERY_DEPTH} at ${MAX_QUERY_DEPTH}`);
    expect(error('a '.repeat(65))).toBe('more than 64 terms at 128');
    expect(error('a'.repeat(MAX_QUERY_LENGTH + 1))).toMatch(/longer than/);
  });
});

for (const dialect of DIALECTS) {
  describe(`audit log queries (q=) on ${dialect}`, () => {
    let running: RunningServer;
    let api: ReturnType<typeof client>;

    beforeAll(async () => {
      running = await startServer(dialect);
      api = client(running);
      await seed(
        running,
        SEEDS.map(({ time, ...over }, n) => seedRecord(time, n, over)),
      );
    }, 60_000);
    afterAll(async () => running.stop());

    async function all(path: string): Promise<Event[]> {
      const out: Event[] = [];
      let next: string | undefined;
      do {
        const url = next ? `${path}&continuationToken=${encodeURIComponent(next)}` : path;
        const { status, body } = await api.json(url);
        expect(status, `${url}: ${JSON.stringify(body)}`).toBe(200);
        out.push(...(body.auditLogEvents as Event[]));
        next = body.continuationToken as string | undefined;
      } while (next);
      return out;
    }
    const numbered = (events: Event[]) =>
      events.map((e) => SEEDS.findIndex((s) => s.description === e.description)).filter((n) => n >= 0);

    it('selects what each query names, and agrees with a plain evaluation over the whole log', async () => {
      const records = (await running.records()).reverse();
      for (const [q, expected] of CASES) {
        const events = await all(`${L}/v2?q=${encodeURIComponent(q)}`);
        expect(numbered(events), q).toEqual(expected);
        const node = parseQuery(q)!;
        expect(
          events.map((e) => `${e.event} ${e.description}`),
          q,
        ).toEqual(records.filter((r) => naive(node, r)).map((r) => `${r.event} ${String(r.description)}`));
      }
    });

    it('applies q with the other parameters, on V1 and V2', async () => {
      const window = `startTime=${at('2026-01-01T00:00:00Z') / 1000}&endTime=${at('2026-01-31T00:00:00Z') / 1000}`;
      expect(numbered(await all(`${L}/v2?${window}&q=project%3Apayments`))).toEqual([8, 7, 1]);
      expect(numbered(await all(`${L}/v2?userFilter=alice&q=event%3Aenvironment-*`))).toEqual([8, 1, 0]);
      // V1: startTime is an upper bound.
      expect(
        numbered(await all(`${L}?startTime=${at('2026-01-02T00:00:00Z') / 1000}&q=actor%3Aalice`)),
      ).toEqual([1, 0]);
    });

    it('answers a query that does not parse with 400 invalid-parameter naming the token', async () => {
      for (const path of ['v2', '', 'export', 'v2/export']) {
        const sep = path === '' ? '?startTime=1&' : '?';
        const { status, body } = await api.json(
          `${L}${path ? `/${path}` : ''}${sep}q=${encodeURIComponent('actor:alice)')}`,
        );
        expect(status, path).toBe(400);
        expect(body, path).toEqual({
          code: 400,
          message: 'q: unexpected ")" at 11',
          errorCode: 'invalid-parameter',
          param: 'q',
        });
      }
      const twice = await api.json(`${L}/v2?q=a&q=b`);
      expect(twice.body).toMatchObject({ errorCode: 'invalid-parameter', param: 'q' });
    });

    it('pages exactly through a filtered selection while matching and other events arrive', async () => {
      const T = at('2027-01-01T00:00:00Z');
      const actor = { kind: 'user' as const, login: 'pager', name: 'Pager' };
      // 250 matches interleaved with 250 events of the same actor that do not match.
      await seed(
        running,
        [...Array(500).keys()].map((n) =>
          seedRecord(T, n, {
            actor,
            event: n % 2 === 0 ? 'environment-open' : 'environment-read',
            description: `page ${n}`,
          }),
        ),
      );
      const path = `${L}/v2?q=${encodeURIComponent('actor:pager event:environment-open')}`;
      const seen: number[] = [];
      let next: string | undefined;
      let pages = 0;
      let arrived = 500;
      do {
        const { body } = await api.json(next ? `${path}&continuationToken=${next}` : path);
        seen.push(...(body.auditLogEvents as Event[]).map((e) => Number(e.description.slice(5))));
        next = body.continuationToken as string | undefined;
        pages++;
        await seed(
          running,
          [0, 1].map(() =>
            seedRecord(T, arrived, {
              actor,
              event: arrived++ % 2 === 0 ? 'environment-open' : 'environment-read',
              description: `page ${arrived - 1}`,
            }),
          ),
        );
      } while (next);
      expect(pages).toBe(3);
      expect(seen).toEqual([...Array(250).keys()].map((i) => 498 - 2 * i));
    });

    it('reads time ranges exactly across many index blocks, whatever the order of the times', async () => {
      // Over three time-summary blocks of records a minute apart, with some recorded late (times from long
      // before their neighbours') and some early (times ahead), so times only roughly follow the log's order.
      const B = at('2028-01-01T00:00:00Z');
      const MIN = 60_000;
      const count = 3 * TIME_BLOCK + 500;
      const minute = (n: number) => (n % 97 === 5 ? n - 2500 : n % 131 === 7 ? n + 3000 : n);
      await seed(
        running,
        [...Array(count).keys()].map((n) =>
          seedRecord(B + minute(n) * MIN, n, {
            actor: { kind: 'user', login: n % 3 === 0 ? 'tina' : 'tom', name: 'T' },
            event: n % 5 === 0 ? 'environment-open' : 'environment-read',
            resource: { project: n % 2 === 0 ? 'blocks' : 'other', environment: 'prod' },
            description: `block ${n}`,
          }),
        ),
      );
      const records = (await running.records()).reverse();
      const s = (m: number) => (B + m * MIN) / 1000;
      const queries: Array<[string, (r: Record<string, unknown>) => boolean]> = [];
      const within = (from: number, to: number) => (r: Record<string, unknown>) =>
        (r.time as number) >= from * 1000 && (r.time as number) < (to + 1) * 1000;
      for (const [from, to] of [
        [100, 1500],
        [2600, 2700],
        [-2500, -1000], // only late records
        [3200, 6000], // the newest blocks and the early records
        [1030, 1030],
        [9000, 9999], // nothing
      ] as const) {
        queries.push([`/v2?startTime=${s(from)}&endTime=${s(to)}`, within(s(from), s(to))]);
        queries.push([
          `/v2?startTime=${s(from)}&endTime=${s(to)}&userFilter=tina`,
          (r) => within(s(from), s(to))(r) && (r.actor as Json).login === 'tina',
        ]);
        queries.push([
          `/v2?startTime=${s(from)}&endTime=${s(to)}&q=${encodeURIComponent('env:blocks/prod event:environment-open')}`,
          (r) =>
            within(s(from), s(to))(r) &&
            (r.resource as Json | undefined)?.project === 'blocks' &&
            r.event === 'environment-open',
        ]);
      }
      queries.push([`?startTime=${s(2000)}`, (r) => (r.time as number) < s(2000) * 1000]);
      queries.push([`/v2?startTime=${s(3000)}`, (r) => (r.time as number) >= s(3000) * 1000]);
      for (const q of [
        `created:${new Date(s(500) * 1000).toISOString()}..${new Date(s(700) * 1000).toISOString()}`,
        `created:<${new Date(s(-100) * 1000).toISOString().slice(0, 10)} actor:tom`,
        `(created:<${new Date(s(10) * 1000).toISOString()} OR created:>=${new Date(s(3500) * 1000).toISOString()}) event:environment-open`,
      ]) {
        const node = parseQuery(q)!;
        queries.push([`/v2?q=${encodeURIComponent(q)}`, (r) => naive(node, r)]);
      }
      for (const [path, select] of queries) {
        const events = await all(`${L}${path}`);
        const expected = records.filter(select).map((r) => `${r.event} ${String(r.description)}`);
        expect(
          events.map((e) => `${e.event} ${e.description}`),
          path,
        ).toEqual(expected);
      }
      // The queries above select late and early records too (not only the blocks their range mostly lies in).
      expect(records.filter(within(s(-2500), s(-1000))).length).toBeGreaterThan(10);
    });
  });
}
