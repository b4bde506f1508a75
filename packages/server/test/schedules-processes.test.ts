// Two server processes on one PostgreSQL database, both looking for due schedules every 20 ms: every due time
// runs exactly once (one history row, one rotation, one record), including schedules missed while no server ran.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import type { ScheduleTables } from '../src/schedules/schedule-store.js';
import { createServer } from '../src/server.js';
import { POSTGRES_AVAILABLE, testDatabase } from './support/databases.js';
import { ADMIN_TOKEN, testServerEnv } from './support/server.js';

const WORKER = fileURLToPath(new URL('./fixtures/schedules-worker.ts', import.meta.url));
const ORG = 'acme';
const COUNT = 12;

describe.skipIf(!POSTGRES_AVAILABLE)(
  'schedules with several server processes on one PostgreSQL database',
  () => {
    it('run every due time exactly once, and a missed one once', async () => {
      const db = testDatabase('postgres');
      const env = testServerEnv(db);
      const workers: Array<{ kill(): void; exited: Promise<unknown> }> = [];
      try {
        // Set up through the API, in this process, with its scheduler idle.
        const setup = await createServer(loadConfig(env), {
          schema: db.schema,
          scheduler: { intervalMs: 3_600_000 },
        });
        const url = await setup.app.fastify.listen({ port: 0, host: '127.0.0.1' });
        const call = async (method: string, path: string, body: object | string) => {
          const response = await fetch(`${url}/api/esc/environments/${ORG}${path}`, {
            method,
            headers: { authorization: `token ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            body: typeof body === 'string' ? body : JSON.stringify(body),
          });
          expect(response.status, await response.clone().text()).toBe(200);
        };
        const onceAt = new Date(Date.now() + 4000).toISOString();
        for (let i = 0; i < COUNT; i++) {
          await call('POST', '', { project: 'app', name: `e${i}` });
          await call('PATCH', `/app/e${i}`, 'values:\n  k:\n    fn::rotate::random:\n      inputs: {}\n');
          await call(
            'POST',
            `/app/e${i}/schedules`,
            i % 2 ? { scheduleCron: '0 3 * * *' } : { scheduleOnce: onceAt },
          );
        }
        // The cron schedules' slots passed three days ago, while "no server ran".
        const missed = Date.now() - 3 * 86_400_000;
        await setup.storage.db
          .withTables<ScheduleTables>()
          .updateTable('environment_schedules')
          .set({ next_execution: missed })
          .where('schedule_cron', 'is not', null)
          .execute();
        await setup.close();

        for (const name of ['a', 'b']) {
          const child = spawn(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', WORKER], {
            env: { ...process.env, ...env, WORKER_SCHEMA: db.schema!, WORKER_NAME: name },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          workers.push({
            kill: () => child.kill('SIGTERM'),
            exited: new Promise((resolve) => child.on('exit', resolve)),
          });
        }

        const storage = await db.open();
        try {
          const runs = () =>
            storage.db
              .withTables<ScheduleTables>()
              .selectFrom('schedule_runs')
              .select(['schedule_id', 'result'])
              .execute();
          const deadline = Date.now() + 30_000;
          while ((await runs()).length < COUNT && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 100));
          await new Promise((r) => setTimeout(r, 1000)); // let any double run show itself
          for (const w of workers) w.kill();
          await Promise.all(workers.map((w) => w.exited));

          const done = await runs();
          expect(done).toHaveLength(COUNT);
          expect(new Set(done.map((r) => r.schedule_id)).size).toBe(COUNT);
          expect(done.every((r) => r.result === 'succeeded')).toBe(true);
          const rotations = await sql<{ n: number }>`SELECT count(*)::int AS n FROM rotation_events`.execute(
            storage.db,
          );
          expect(rotations.rows[0]!.n).toBe(COUNT);
          const heads = await storage.db.selectFrom('environments').select('head_revision').execute();
          expect(heads.map((h) => h.head_revision)).toEqual(Array(COUNT).fill(3));
          const next = await storage.db
            .withTables<ScheduleTables>()
            .selectFrom('environment_schedules')
            .select(['schedule_cron', 'next_execution'])
            .execute();
          for (const s of next) {
            if (s.schedule_cron) expect(Number(s.next_execution)).toBeGreaterThan(Date.now() - 60_000);
            else expect(s.next_execution).toBeNull();
          }
        } finally {
          await storage.close();
        }
      } finally {
        for (const w of workers) w.kill();
        await Promise.all(workers.map((w) => w.exited));
        await db.drop();
      }
    }, 60_000);
  },
);
