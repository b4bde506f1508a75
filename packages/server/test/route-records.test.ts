// Every route the server registers is listed here with a call that succeeds; each call must leave exactly the
// audit record its route declares. A new route without a case here fails this test.
import type { EventId } from '@vigil/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
const E = `/api/esc/environments/${ORG}/app/prod`;
/** An S3 connection for the export routes (nothing listens on the discard port). */
const EXPORT_CONNECTION = {
  endpoint: 'http://127.0.0.1:9',
  pathStyle: true,
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'not-a-real-secret-access-key',
};

interface Case {
  /** `METHOD /url/pattern` as Fastify registered it. */
  readonly route: string;
  /** Makes the call (and any call it needs first); answers the response of the call under test. */
  readonly call: () => Promise<Response>;
}

describe('every route records what it declares', () => {
  let running: RunningServer;
  const state: Record<string, string> = {};

  const send = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
    fetch(`${running.url}${path}`, {
      method,
      headers: {
        authorization: `token ${token}`,
        'content-type': typeof body === 'string' ? 'application/x-yaml' : 'application/json',
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const json = async (response: Response) => (await response.json()) as Record<string, unknown>;

  // In order: later cases rely on what earlier ones created.
  const cases: Case[] = [
    {
      route: 'POST /api/esc/environments/:org',
      call: () => send('POST', `/api/esc/environments/${ORG}`, { project: 'app', name: 'prod' }),
    },
    {
      route: 'PATCH /api/esc/environments/:org/:project/:env',
      call: () => send('PATCH', E, 'values:\n  a: 1\n  s:\n    fn::secret: hush\n'),
    },
    { route: 'GET /api/esc/environments/:org/:project/:env', call: () => send('GET', E) },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/rotate',
      call: async () => {
        const R = `/api/esc/environments/${ORG}/app/rotated`;
        await send('POST', `/api/esc/environments/${ORG}`, { project: 'app', name: 'rotated' });
        await send('PATCH', R, 'values:\n  k:\n    fn::rotate::random:\n      inputs: {}\n');
        return send('POST', `${R}/rotate`, {});
      },
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/schedules',
      call: async () => {
        const response = await send('POST', `/api/esc/environments/${ORG}/app/rotated/schedules`, {
          scheduleCron: '0 3 * * *',
        });
        state.schedule = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'PATCH /api/esc/environments/:org/:project/:env/schedules/:scheduleID',
      call: () =>
        send('PATCH', `/api/esc/environments/${ORG}/app/rotated/schedules/${state.schedule}`, {
          scheduleCron: '30 4 * * 1',
        }),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/schedules/:scheduleID/pause',
      call: () => send('POST', `/api/esc/environments/${ORG}/app/rotated/schedules/${state.schedule}/pause`),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/schedules/:scheduleID/resume',
      call: () => send('POST', `/api/esc/environments/${ORG}/app/rotated/schedules/${state.schedule}/resume`),
    },
    {
      route: 'DELETE /api/esc/environments/:org/:project/:env/schedules/:scheduleID',
      call: () => send('DELETE', `/api/esc/environments/${ORG}/app/rotated/schedules/${state.schedule}`),
    },
    { route: 'POST /api/esc/environments/:org/:project/:env/check', call: () => send('POST', `${E}/check`) },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/versions/:version/check',
      call: () => send('POST', `${E}/versions/2/check`),
    },
    {
      route: 'GET /api/esc/environments/:org/:project/:env/decrypt',
      call: () => send('GET', `${E}/decrypt`),
    },
    {
      route: 'GET /api/esc/environments/:org/:project/:env/versions/:version/decrypt',
      call: () => send('GET', `${E}/versions/2/decrypt`),
    },
    {
      route: 'GET /api/esc/environments/:org/:project/:env/versions/:version',
      call: () => send('GET', `${E}/versions/1`),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/open',
      call: async () => {
        const response = await send('POST', `${E}/open`);
        state.session = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'GET /api/esc/environments/:org/:project/:env/open/:id',
      call: () => send('GET', `${E}/open/${state.session}`),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/versions/tags',
      call: () => send('POST', `${E}/versions/tags`, { name: 'stable', revision: 2 }),
    },
    {
      route: 'GET /api/esc/environments/:org/:project/:env/versions/tags/:tag',
      call: () => send('GET', `${E}/versions/tags/stable`),
    },
    {
      route: 'PATCH /api/esc/environments/:org/:project/:env/versions/tags/:tag',
      call: async () => {
        await send('PATCH', E, 'values:\n  a: 2\n');
        return send('PATCH', `${E}/versions/tags/stable`, { revision: 3 });
      },
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/versions/:version/open',
      call: () => send('POST', `${E}/versions/stable/open`),
    },
    {
      route: 'DELETE /api/esc/environments/:org/:project/:env/versions/tags/:tag',
      call: () => send('DELETE', `${E}/versions/tags/stable`),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/tags',
      call: () => send('POST', `${E}/tags`, { name: 'owner', value: 'ops' }),
    },
    {
      route: 'PATCH /api/esc/environments/:org/:project/:env/tags/:tag',
      call: () =>
        send('PATCH', `${E}/tags/owner`, {
          currentTag: { value: 'ops' },
          newTag: { name: 'owner', value: 'sre' },
        }),
    },
    {
      route: 'DELETE /api/esc/environments/:org/:project/:env/tags/:tag',
      call: () => send('DELETE', `${E}/tags/owner`),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/versions/:version/retract',
      call: () => send('POST', `${E}/versions/2/retract`, { replacement: 1, reason: 'leaked' }),
    },
    {
      route: 'PATCH /api/esc/environments/:org/:project/:env/settings',
      call: () => send('PATCH', `${E}/settings`, { deletionProtected: true }),
    },
    {
      route: 'POST /api/esc/environments/:org/:project/:env/clone',
      call: () => send('POST', `${E}/clone`, { project: 'app', name: 'copy' }),
    },
    {
      route: 'POST /api/esc/environments/:org/yaml/open',
      call: async () => {
        const response = await send('POST', `/api/esc/environments/${ORG}/yaml/open`, 'values:\n  x: 1\n');
        state.yamlSession = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'GET /api/esc/environments/:org/yaml/open/:id',
      call: () => send('GET', `/api/esc/environments/${ORG}/yaml/open/${state.yamlSession}`),
    },
    {
      route: 'DELETE /api/esc/environments/:org/:project/:env',
      call: () => send('DELETE', `/api/esc/environments/${ORG}/app/copy`),
    },
    {
      route: 'PUT /api/esc/environments/:org/restore',
      call: async () => {
        const deleted = (await json(await send('GET', `/api/esc/environments/${ORG}/restore`)))
          .environments as Array<{ name: string; deletedAt: string }>;
        const copy = deleted.find((e) => e.name === 'copy')!;
        return send('PUT', `/api/esc/environments/${ORG}/restore`, {
          project: 'app',
          name: 'copy',
          deletionTimestamp: copy.deletedAt,
        });
      },
    },
    {
      route: 'POST /api/orgs/:org/members/:login',
      call: () =>
        send('POST', `/api/orgs/${ORG}/members/carol`, {
          role: 'member',
          password: 'carol-has-a-long-password',
        }),
    },
    {
      route: 'PATCH /api/orgs/:org/members/:login',
      call: () => send('PATCH', `/api/orgs/${ORG}/members/carol`, { role: 'admin' }),
    },
    {
      route: 'POST /api/login',
      call: async () => {
        const response = await send('POST', '/api/login', {
          login: 'carol',
          password: 'carol-has-a-long-password',
        });
        state.session = String((await json(response.clone())).token);
        return response;
      },
    },
    {
      route: 'POST /api/user/tokens',
      call: async () => {
        const response = await send('POST', '/api/user/tokens', { description: 'laptop' }, state.session);
        state.personal = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'DELETE /api/user/tokens/:tokenId',
      call: () => send('DELETE', `/api/user/tokens/${state.personal}`, undefined, state.session),
    },
    {
      route: 'POST /api/orgs/:org/tokens',
      call: async () => {
        const response = await send('POST', `/api/orgs/${ORG}/tokens`, { description: 'ci' });
        state.orgToken = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'DELETE /api/orgs/:org/tokens/:tokenId',
      call: () => send('DELETE', `/api/orgs/${ORG}/tokens/${state.orgToken}`),
    },
    {
      route: 'POST /api/orgs/:org/teams',
      call: () => send('POST', `/api/orgs/${ORG}/teams`, { name: 'platform' }),
    },
    {
      route: 'POST /api/orgs/:org/teams/pulumi',
      call: () => send('POST', `/api/orgs/${ORG}/teams/pulumi`, { name: 'data' }),
    },
    {
      route: 'PATCH /api/orgs/:org/teams/:team',
      call: () =>
        send('PATCH', `/api/orgs/${ORG}/teams/platform`, {
          addMembers: ['carol'],
          environmentPermissions: [{ project: 'app', environment: '*', permission: 'open' }],
        }),
    },
    {
      route: 'POST /api/orgs/:org/teams/:team/tokens',
      call: async () => {
        const response = await send('POST', `/api/orgs/${ORG}/teams/platform/tokens`, {
          description: 'deploy',
        });
        state.teamToken = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'DELETE /api/orgs/:org/teams/:team/tokens/:tokenId',
      call: () => send('DELETE', `/api/orgs/${ORG}/teams/platform/tokens/${state.teamToken}`),
    },
    { route: 'DELETE /api/orgs/:org/teams/:team', call: () => send('DELETE', `/api/orgs/${ORG}/teams/data`) },
    {
      route: 'PATCH /api/orgs/:org/settings',
      call: () => send('PATCH', `/api/orgs/${ORG}/settings`, { defaultEnvironmentPermission: 'open' }),
    },
    {
      route: 'DELETE /api/orgs/:org/members/:login',
      call: () => send('DELETE', `/api/orgs/${ORG}/members/carol`),
    },
    {
      route: 'GET /api/orgs/:org/auditlogs/export',
      call: () => send('GET', `/api/orgs/${ORG}/auditlogs/export?format=cef`),
    },
    {
      route: 'GET /api/orgs/:org/auditlogs/v2/export',
      call: () => send('GET', `/api/orgs/${ORG}/auditlogs/v2/export?userFilter=carol`),
    },
    {
      route: 'POST /api/orgs/:org/auditlogs/streams',
      call: async () => {
        const response = await send('POST', `/api/orgs/${ORG}/auditlogs/streams`, {
          name: 'siem',
          kind: 'syslog',
          host: '127.0.0.1',
          port: 6514,
          tls: true,
        });
        state.stream = String((await json(response.clone())).id);
        return response;
      },
    },
    {
      route: 'PATCH /api/orgs/:org/auditlogs/streams/:streamID',
      call: () => send('PATCH', `/api/orgs/${ORG}/auditlogs/streams/${state.stream}`, { q: 'actor:admin' }),
    },
    {
      route: 'POST /api/orgs/:org/auditlogs/streams/:streamID/pause',
      call: () => send('POST', `/api/orgs/${ORG}/auditlogs/streams/${state.stream}/pause`),
    },
    {
      route: 'POST /api/orgs/:org/auditlogs/streams/:streamID/resume',
      call: () => send('POST', `/api/orgs/${ORG}/auditlogs/streams/${state.stream}/resume`),
    },
    {
      route: 'DELETE /api/orgs/:org/auditlogs/streams/:streamID',
      call: () => send('DELETE', `/api/orgs/${ORG}/auditlogs/streams/${state.stream}`),
    },
    {
      route: 'POST /api/orgs/:org/auditlogs/export/config',
      call: () =>
        send('POST', `/api/orgs/${ORG}/auditlogs/export/config`, {
          newEnabled: false,
          newS3Configuration: { s3BucketName: 'audit', iamRoleArn: '', ...EXPORT_CONNECTION },
        }),
    },
    {
      // Nothing listens there: the answer is 200 with the failure as its message, and the attempt is recorded.
      route: 'POST /api/orgs/:org/auditlogs/export/config/test',
      call: () => send('POST', `/api/orgs/${ORG}/auditlogs/export/config/test`, { s3BucketName: 'audit' }),
    },
    {
      route: 'POST /api/orgs/:org/auditlogs/export/config/force',
      call: () =>
        send(
          'POST',
          `/api/orgs/${ORG}/auditlogs/export/config/force?timestamp=${Math.floor(Date.now() / 1000)}`,
        ),
    },
    {
      route: 'DELETE /api/orgs/:org/auditlogs/export/config',
      call: () => send('DELETE', `/api/orgs/${ORG}/auditlogs/export/config`),
    },
  ];

  beforeAll(async () => {
    running = await startServer('sqlite');
  });
  afterAll(async () => running.stop());

  it('has a case for every route that declares an action, and none for routes that do not exist', () => {
    const declared = running.server.app.routes
      .filter((r) => 'action' in r.audit)
      .map((r) => `${r.method} ${r.url}`);
    expect(cases.map((c) => c.route).sort()).toEqual([...new Set(declared)].sort());
  });

  it('leaves the declared record after each call', async () => {
    const routes = new Map(running.server.app.routes.map((r) => [`${r.method} ${r.url}`, r.audit]));
    for (const c of cases) {
      const before = (await running.records()).length;
      const response = await c.call();
      expect(response.status, `${c.route}: ${await response.clone().text()}`).toBeLessThan(300);
      const fresh = (await running.records()).slice(before);
      const audit = routes.get(c.route)!;
      const allowed = 'action' in audit ? ([audit.action].flat() as EventId[]) : [];
      expect(fresh.length, c.route).toBeGreaterThan(0);
      expect(allowed, `${c.route} recorded ${fresh.at(-1)!.event}`).toContain(fresh.at(-1)!.event);
      expect(fresh.at(-1)).toMatchObject({ outcome: 'success', org: ORG });
    }
  });
});
