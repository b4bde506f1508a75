// `fn::rotate::postgres` against the PostgreSQL on this machine: two throwaway roles rotated alternately with a
// managing credential imported from another environment. That machine trusts every local connection, so which
// password "signs in" is decided the way PostgreSQL's scram-sha-256 authentication decides it: against the
// SCRAM verifier stored in pg_authid (the checker below is itself checked against verifiers PostgreSQL computed).
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_AVAILABLE, POSTGRES_URL } from './support/databases.js';
import { ADMIN_TOKEN, startServer, type RunningServer } from './support/server.js';

const ORG = 'acme';
/** Answers parsed from JSON, read loosely in assertions. */
type Loose = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const E = (name: string) => `/api/esc/environments/${ORG}/app/${name}`;

/** RFC 5802 §3: does `password` match the stored `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`? */
function scramAccepts(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const salted = pbkdf2Sync(password, Buffer.from(m[2]!, 'base64'), Number(m[1]), 32, 'sha256');
  const storedKey = createHash('sha256')
    .update(createHmac('sha256', salted).update('Client Key').digest())
    .digest();
  const expected = Buffer.from(m[3]!, 'base64');
  return expected.length === storedKey.length && timingSafeEqual(expected, storedKey);
}

describe.skipIf(!POSTGRES_AVAILABLE)('fn::rotate::postgres against PostgreSQL', () => {
  const suffix = randomBytes(4).toString('hex');
  const manager = `vt_rot_mgr_${suffix}`;
  const user1 = `vt_rot_u1_${suffix}`;
  const user2 = `vt_rot_u2_${suffix}`;
  const scratch = `vt_rot_scratch_${suffix}`;
  const managerPassword = randomBytes(12).toString('hex');
  let admin: pg.Client;
  let running: RunningServer;

  const send = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${running.url}${path}`, {
      method,
      headers: { authorization: `token ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: Loose;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json };
  };
  const verifier = async (role: string): Promise<string> =>
    (await admin.query<{ p: string }>('SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1', [role]))
      .rows[0]!.p;
  /** The rotation state as an opener of the environment sees it. */
  const state = async () => {
    const session = await send('POST', `${E('db')}/open`);
    const creds = await send('GET', `${E('db')}/open/${session.json.id}?property=creds`);
    const v = creds.json.value;
    const pair = (c: Loose) => c && { username: c.value.username.value, password: c.value.password.value };
    return { current: pair(v.current), previous: pair(v.previous) };
  };

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${manager} LOGIN CREATEROLE PASSWORD '${managerPassword}'`);
    for (const role of [user1, user2, scratch])
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'initial'`);
    running = await startServer('sqlite');
    const url = new URL(POSTGRES_URL);
    for (const name of ['pgadmin', 'db'])
      expect((await send('POST', `/api/esc/environments/${ORG}`, { project: 'app', name })).status).toBe(200);
    const creds = await send(
      'PATCH',
      E('pgadmin'),
      `values:\n  managingUser:\n    username: ${manager}\n    password:\n      fn::secret: ${managerPassword}\n`,
    );
    expect(creds.status, creds.text).toBe(200);
    const db = await send(
      'PATCH',
      E('db'),
      `values:
  creds:
    fn::rotate::postgres:
      inputs:
        database:
          host: ${url.hostname}
          port: ${url.port || 5432}
          database: ${url.pathname.slice(1)}
          managingUser: \${environments.app.pgadmin.managingUser}
        rotateUsers:
          username1: ${user1}
          username2: ${user2}
`,
    );
    expect(db.status, db.text).toBe(200);
  });

  afterAll(async () => {
    await running?.stop();
    for (const role of [user1, user2, scratch, manager]) await admin?.query(`DROP ROLE IF EXISTS ${role}`);
    await admin?.end();
  });

  it('checks passwords the way PostgreSQL does (against verifiers PostgreSQL computed)', async () => {
    await admin.query(`ALTER ROLE ${scratch} PASSWORD 'known-password'`);
    expect(scramAccepts(await verifier(scratch), 'known-password')).toBe(true);
    expect(scramAccepts(await verifier(scratch), 'known-passwore')).toBe(false);
  });

  it('rotates the two roles alternately: the new and the previous password sign in, the one before does not', async () => {
    const rotate = async () => {
      const r = await send('POST', `${E('db')}/rotate`);
      expect(r.status, r.text).toBe(200);
      expect(r.json.secretRotationEvent, r.text).toMatchObject({
        status: 'succeeded',
        rotations: [{ environmentPath: 'creds', status: 'succeeded' }],
      });
      return state();
    };
    const first = await rotate();
    expect(first.current.username).toBe(user1);
    expect(first.previous).toBeUndefined();
    expect(scramAccepts(await verifier(user1), first.current.password)).toBe(true);

    const second = await rotate();
    expect(second.current.username).toBe(user2);
    expect(second.previous).toEqual(first.current);
    expect(scramAccepts(await verifier(user2), second.current.password)).toBe(true);
    expect(scramAccepts(await verifier(user1), second.previous.password)).toBe(true);

    const third = await rotate();
    expect(third.current.username).toBe(user1);
    expect(third.previous).toEqual(second.current);
    expect(scramAccepts(await verifier(user1), third.current.password)).toBe(true);
    expect(scramAccepts(await verifier(user2), third.previous.password)).toBe(true);
    // The password before the previous one no longer signs in.
    expect(scramAccepts(await verifier(user1), first.current.password)).toBe(false);

    // The rotated role signs in (trust here; the password check is above) and is who it says.
    const url = new URL(POSTGRES_URL);
    const client = new pg.Client({
      host: url.hostname,
      port: Number(url.port || 5432),
      database: url.pathname.slice(1),
      user: third.current.username,
      password: third.current.password,
    });
    await client.connect();
    expect((await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(user1);
    await client.end();

    // No plaintext anywhere it is stored: the definition (ciphertext), the database (a verifier), the audit log.
    const stored = await send('GET', E('db'));
    expect(stored.text).not.toContain(third.current.password);
    expect(await verifier(user1)).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(JSON.stringify(await running.records())).not.toContain(third.current.password);
  });

  it('fails a path whose role the manager cannot alter, leaving its state as it was', async () => {
    const before = await state();
    const stored = await send('GET', E('db'));
    const edited = stored.text.replace(`username2: ${user2}`, `username2: vt_rot_missing_${suffix}`);
    expect((await send('PATCH', E('db'), edited)).status).toBe(200);
    // The next role to rotate is username2 (current is user1): it does not exist.
    const r = await send('POST', `${E('db')}/rotate`, { paths: ['creds'] });
    expect(r.json.secretRotationEvent).toMatchObject({
      status: 'failed',
      rotations: [
        {
          environmentPath: 'creds',
          status: 'failed',
          errorMessage: expect.stringMatching(/^rotate: postgres: role "vt_rot_missing_\w+" does not exist$/),
        },
      ],
    });
    expect(r.json.secretRotationEvent.postRotationRevision).toBeUndefined();
    expect(await state()).toEqual(before);
    expect((await running.records()).findLast((x) => x.event === 'environment-rotated')).toMatchObject({
      description: expect.stringMatching(
        /^Rotation of environment "app\/db" failed for creds; nothing written$/,
      ),
    });
  });
});
