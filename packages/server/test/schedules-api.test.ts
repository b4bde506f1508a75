// Environment schedules through the API on both engines: create/list/get/PATCH/pause/resume/delete in Pulumi's
// shapes, validation (cron at most daily, one time in the future, one schedule per environment), permissions and
// records, and the scheduler on a moved clock: a due run rotates as `system` on behalf of the creator and lands
// in the history; missed slots run once; paused schedules wait; one-time schedules run once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createServer, type Server } from '../src/server.js';
import { DIALECTS, testDatabase, type TestDatabase } from './support/databases.js';
import { ADMIN_TOKEN, testServerEnv } from './support/server.js';

const ORG = 'acme';
type Loose = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);

const ROTATED = `values:
  token:
    fn::rotate::random:
      inputs: { length: 24 }
`;

for (const dialect of DIALECTS) {
  describe(`environment schedules on ${dialect}`, () => {
    let db: TestDatabase;
    let server: Server;
    let url = '';
    let now = at('2030-01-01T00:00:00Z');
    let bob = '';

    async function call(method: string, path: string, body?: object | string, token = ADMIN_TOKEN) {
      const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const response = await fetch(`${url}/api/esc/environments/${ORG}${path}`, {
        method,
        headers: {
          authorization: `token ${token}`,
          ...(text !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(text !== undefined ? { body: text } : {}),
      });
      const out = await response.text();
      return { status: response.status, text: out, json: (out ? JSON.parse(out) : undefined) as Loose };
    }

    async function records(): Promise<Loose[]> {
      const size = await server.ledger.size(ORG);
      const out = [];
      for await (const e of server.ledger.entries(ORG, 0, size))
        out.push(JSON.parse(Buffer.from(e.data).toString()));
      return out;
    }

    async function environment(name: string, yaml = ROTATED): Promise<void> {
      expect((await call('POST', '', { project: 'app', name })).status).toBe(200);
      expect((await call('PATCH', `/app/${name}`, yaml)).status).toBe(200);
    }

    beforeAll(async () => {
      db = testDatabase(dialect);
      const config = loadConfig({ ...testServerEnv(db), VIGIL_CHECKPOINT_INTERVAL_MS: '50' });
      // The loop never fires on its own here: the tests move the clock and look with tick().
      server = await createServer(config, {
        schema: db.schema,
        scheduler: { now: () => now, intervalMs: 3_600_000 },
      });
      url = await server.app.fastify.listen({ port: 0, host: '127.0.0.1' });
      const { iam, storage } = server;
      await iam.createUser(storage.db, { login: 'bob', name: 'Bob' });
      await iam.addMember(storage.db, ORG, 'bob', 'member');
      await iam.updateOrganizationSettings(storage.db, ORG, { defaultEnvironmentPermission: 'read' });
      bob = (await iam.createToken(storage.db, { kind: 'personal', user: 'bob', description: 't' })).token;
      for (const name of ['web', 'api', 'once', 'paused', 'bad']) await environment(name);
    });
    afterAll(async () => {
      await server.close();
      await db.drop();
    });

    it('creates a cron schedule in Pulumi shape, recorded, and refuses a second on the environment', async () => {
      const before = (await records()).length;
      const r = await call('POST', '/app/web/schedules', { scheduleCron: '0 3 * * *' });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({
        id: expect.any(String),
        orgID: ORG,
        kind: 'environment_rotation',
        paused: false,
        created: '2030-01-01T00:00:00.000Z',
        modified: '2030-01-01T00:00:00.000Z',
        lastExecuted: null,
        nextExecution: '2030-01-01T03:00:00.000Z',
        definition: { environmentPath: '' },
        scheduleCron: '0 3 * * *',
      });
      const fresh = (await records()).slice(before);
      expect(fresh).toEqual([
        expect.objectContaining({
          event: 'environment-schedule-created',
          outcome: 'success',
          resource: { project: 'app', environment: 'web' },
          description: `Created schedule ${r.json.id} on environment "app/web": rotate every rotated path cron "0 3 * * *"`,
        }),
      ]);
      const second = await call('POST', '/app/web/schedules', { scheduleOnce: '2030-02-01T00:00:00Z' });
      expect(second.status, second.text).toBe(409);
      expect((await call('GET', '/app/web/schedules')).json.schedules).toEqual([r.json]);
      expect((await call('GET', `/app/web/schedules/${r.json.id}`)).json).toEqual(r.json);
    });

    it.each([
      [{ scheduleCron: '0 */12 * * *' }, 'scheduleCron', 'runs more than once a day'],
      [{ scheduleCron: '* * * * *' }, 'scheduleCron', 'minimum interval is once per day'],
      [{ scheduleCron: '0 3 * *' }, 'scheduleCron', 'needs 5 fields'],
      [{ scheduleCron: '0 0 31 2 *' }, 'scheduleCron', 'never fires'],
      [{ scheduleOnce: '2029-12-31T23:59:59Z' }, 'scheduleOnce', 'must be in the future'],
      [{ scheduleOnce: 'tomorrow' }, 'scheduleOnce', 'not an RFC 3339 time'],
      [{ scheduleOnce: '2030-02-01' }, 'scheduleOnce', 'not an RFC 3339 time'],
      [{ scheduleCron: '0 3 * * *', scheduleOnce: '2030-02-01T00:00:00Z' }, 'scheduleCron', 'not both'],
      [{}, 'scheduleCron', 'set scheduleCron or scheduleOnce'],
      [{ scheduleCron: 5 }, 'scheduleCron', 'must be a string'],
      [
        { scheduleCron: '0 3 * * *', secretRotationRequest: [] },
        'secretRotationRequest',
        'must be an object',
      ],
    ])('refuses %j with a 400 naming %s', async (body, field, message) => {
      const r = await call('POST', '/app/api/schedules', body);
      expect(r.status, r.text).toBe(400);
      expect(r.json.message).toContain(field);
      expect(r.json.message).toContain(message);
    });

    it('needs write on the environment to schedule, and records the refusal', async () => {
      const before = (await records()).length;
      const r = await call('POST', '/app/api/schedules', { scheduleCron: '0 3 * * *' }, bob);
      expect(r.status, r.text).toBe(403);
      expect((await records()).slice(before)).toEqual([
        expect.objectContaining({
          event: 'auth-failure-environment',
          outcome: 'denied',
          actor: expect.objectContaining({ login: 'bob' }),
        }),
      ]);
      expect((await call('GET', '/app/api/schedules', undefined, bob)).json).toEqual({ schedules: [] });
      expect((await call('GET', '/app/nowhere/schedules')).status).toBe(404);
      expect((await call('GET', '/app/api/schedules/nope')).status).toBe(404);
    });

    it('runs a due schedule as the system on behalf of its creator, and shows it in the history', async () => {
      const [schedule] = (await call('GET', '/app/web/schedules')).json.schedules;
      expect(await server.scheduler.tick()).toBe(0); // not due yet
      const before = (await records()).length;
      now = at('2030-01-01T03:00:30Z');
      expect(await server.scheduler.tick()).toBe(1);
      expect(await server.scheduler.tick()).toBe(0);
      const rotated = (await records()).slice(before);
      expect(rotated).toEqual([
        expect.objectContaining({
          event: 'environment-rotated',
          outcome: 'success',
          actor: {
            kind: 'system',
            login: 'system',
            name: 'Vigil',
            scheduleId: schedule.id,
            onBehalfOf: 'admin',
          },
          description: `Rotated environment "app/web" (schedule ${schedule.id}): succeeded for token; wrote revision 3`,
        }),
      ]);
      const history = await call('GET', `/app/web/schedules/${schedule.id}/history`);
      expect(history.json).toEqual({
        scheduleHistoryEvents: [
          {
            id: expect.any(String),
            scheduledActionID: schedule.id,
            executed: '2030-01-01T03:00:30.000Z',
            version: 3,
            result: 'succeeded',
            secretRotationEventID: expect.any(String),
          },
        ],
      });
      const rotations = await call('GET', '/app/web/rotate/history');
      expect(rotations.json.events[0]).toMatchObject({
        id: history.json.scheduleHistoryEvents[0].secretRotationEventID,
        userID: 'system',
        scheduledActionID: schedule.id,
      });
      expect((await call('GET', `/app/web/schedules/${schedule.id}`)).json).toMatchObject({
        lastExecuted: '2030-01-01T03:00:30.000Z',
        nextExecution: '2030-01-02T03:00:00.000Z',
      });
    });

    it('runs a schedule missed during downtime once, not once per missed slot', async () => {
      const [schedule] = (await call('GET', '/app/web/schedules')).json.schedules;
      now = at('2030-01-05T12:00:00Z'); // four slots passed
      expect(await server.scheduler.tick()).toBe(1);
      expect(await server.scheduler.tick()).toBe(0);
      const history = (await call('GET', `/app/web/schedules/${schedule.id}/history`)).json
        .scheduleHistoryEvents;
      expect(history.map((e: Loose) => e.executed)).toEqual([
        '2030-01-05T12:00:00.000Z',
        '2030-01-01T03:00:30.000Z',
      ]);
      expect((await call('GET', `/app/web/schedules/${schedule.id}`)).json.nextExecution).toBe(
        '2030-01-06T03:00:00.000Z',
      );
    });

    it('runs a one-time schedule once, for one path', async () => {
      const r = await call('POST', '/app/once/schedules', {
        scheduleOnce: '2030-01-05T14:00:00+01:00',
        secretRotationRequest: { environmentPath: 'token' },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({
        scheduleOnce: '2030-01-05T13:00:00.000Z',
        nextExecution: '2030-01-05T13:00:00.000Z',
        definition: { environmentPath: 'token' },
      });
      expect(r.json).not.toHaveProperty('scheduleCron');
      now = at('2030-01-05T13:00:01Z');
      expect(await server.scheduler.tick()).toBe(1);
      now += 10 * DAY;
      expect(await server.scheduler.tick()).toBe(1); // the web schedule's, not this one
      expect((await call('GET', `/app/once/schedules/${r.json.id}`)).json.nextExecution).toBeNull();
      const history = (await call('GET', `/app/once/schedules/${r.json.id}/history`)).json
        .scheduleHistoryEvents;
      expect(history).toMatchObject([{ result: 'succeeded', version: 3 }]);
    });

    it('pauses, resumes at the next slot from now, updates and deletes, recording each', async () => {
      const created = await call('POST', '/app/paused/schedules', { scheduleCron: '0 6 * * *' });
      const path = `/app/paused/schedules/${created.json.id}`;
      const before = (await records()).length;
      expect((await call('POST', `${path}/pause`)).status).toBe(200);
      expect((await call('GET', path)).json.paused).toBe(true);
      now += 3 * DAY;
      expect(await server.scheduler.tick()).toBe(1); // web only
      expect((await call('GET', `${path}/history`)).json.scheduleHistoryEvents).toEqual([]);
      expect((await call('POST', `${path}/resume`)).status).toBe(200);
      const resumed = (await call('GET', path)).json;
      expect(resumed.paused).toBe(false);
      expect(Date.parse(resumed.nextExecution)).toBeGreaterThan(now);
      expect(Date.parse(resumed.nextExecution) - now).toBeLessThanOrEqual(DAY);

      const patched = await call('PATCH', path, { scheduleOnce: new Date(now + DAY).toISOString() });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.json).toMatchObject({ nextExecution: new Date(now + DAY).toISOString() });
      expect(patched.json).not.toHaveProperty('scheduleCron');
      const repathed = await call('PATCH', path, { secretRotationRequest: { environmentPath: 'token' } });
      expect(repathed.json).toMatchObject({
        definition: { environmentPath: 'token' },
        scheduleOnce: patched.json.scheduleOnce,
      });
      expect((await call('PATCH', path, { scheduleCron: '*/5 * * * *' })).status).toBe(400);
      expect((await call('PATCH', path, { scheduleCron: '0 6 * * *' }, bob)).status).toBe(403);

      expect((await call('DELETE', path)).status).toBe(200);
      expect((await call('GET', path)).status).toBe(404);
      expect((await call('DELETE', path)).status).toBe(404);
      const events = (await records())
        .slice(before)
        .filter((e) => e.outcome === 'success')
        .map((e) => e.event);
      expect(events.filter((e) => e.startsWith('environment-schedule-'))).toEqual([
        'environment-schedule-updated',
        'environment-schedule-updated',
        'environment-schedule-updated',
        'environment-schedule-updated',
        'environment-schedule-deleted',
      ]);
      // The environment may have a schedule again.
      expect((await call('POST', '/app/paused/schedules', { scheduleCron: '0 6 * * *' })).status).toBe(200);
    });

    it('records a failed run when the path is not rotated or the creator lost write', async () => {
      const r = await call('POST', '/app/bad/schedules', {
        scheduleCron: '0 0 * * *',
        secretRotationRequest: { environmentPath: 'missing' },
      });
      now = Date.parse(r.json.nextExecution) + 1000;
      await server.scheduler.tick();
      const history = (await call('GET', `/app/bad/schedules/${r.json.id}/history`)).json
        .scheduleHistoryEvents;
      expect(history).toMatchObject([
        { result: 'failed', errorMessage: expect.stringContaining('"missing"') },
      ]);

      // A schedule bob created while he could write runs with his current permissions: none now.
      const { iam, storage } = server;
      await iam.updateOrganizationSettings(storage.db, ORG, { defaultEnvironmentPermission: 'write' });
      const mine = await call('POST', '/app/api/schedules', { scheduleCron: '0 0 * * *' }, bob);
      expect(mine.status, mine.text).toBe(200);
      await iam.updateOrganizationSettings(storage.db, ORG, { defaultEnvironmentPermission: 'read' });
      const before = (await records()).length;
      now = Date.parse(mine.json.nextExecution) + 1000;
      await server.scheduler.tick();
      const refused = (await records()).slice(before).find((e) => e.event === 'auth-failure-environment');
      expect(refused).toMatchObject({
        outcome: 'denied',
        actor: { kind: 'system', scheduleId: mine.json.id, onBehalfOf: 'bob' },
      });
      const runs = (await call('GET', `/app/api/schedules/${mine.json.id}/history`)).json
        .scheduleHistoryEvents;
      expect(runs).toMatchObject([
        { result: 'failed', errorMessage: expect.stringContaining('needs write') },
      ]);
    });

    it('lets exactly one of several concurrent creates on an environment win; the others get 409', async () => {
      await environment('racy');
      const answers = await Promise.all(
        [0, 1, 2, 3, 4].map(() => call('POST', '/app/racy/schedules', { scheduleCron: '0 4 * * *' })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409]);
      const winner = answers.find((a) => a.status === 200)!;
      expect((await call('DELETE', `/app/racy/schedules/${String(winner.json.id)}`)).status).toBe(200);
    });
  });
}
