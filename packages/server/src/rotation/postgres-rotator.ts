import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { randomProvider, type ProviderValue, type Rotator, type Schema } from '@vigil/engine';
import pg from 'pg';

/** Length of generated passwords: 40 letters and digits, about 238 bits. */
export const POSTGRES_PASSWORD_LENGTH = 40;
/** SCRAM-SHA-256 iteration count, PostgreSQL's own default (`scram_iterations`). */
export const SCRAM_ITERATIONS = 4096;
/** How long a rotation waits for the database to answer (connect, then the statement). */
export const POSTGRES_TIMEOUT_MS = 10_000;

const str: Schema = { type: 'string', minLength: 1 };
const credentials: Schema = {
  properties: { username: str, password: { type: 'string' } },
  additionalProperties: false,
  required: ['username', 'password'],
  type: 'object',
};

const inputSchema: Schema = {
  properties: {
    database: {
      properties: {
        host: str,
        port: { type: 'number', minimum: 1, maximum: 65535 },
        database: str,
        ssl: { type: 'boolean' },
        managingUser: credentials,
      },
      additionalProperties: false,
      required: ['host', 'database', 'managingUser'],
      type: 'object',
    },
    rotateUsers: {
      properties: { username1: str, username2: str },
      additionalProperties: false,
      required: ['username1', 'username2'],
      type: 'object',
    },
  },
  additionalProperties: false,
  required: ['database', 'rotateUsers'],
  type: 'object',
};

/** `{current, previous}`, each `{username, password}`. */
const stateSchema: Schema = {
  properties: { current: credentials, previous: credentials },
  additionalProperties: false,
  type: 'object',
};

/**
 * `fn::rotate::postgres`: rotates the password of one of two PostgreSQL roles, alternately (Pulumi's scheme: the
 * role in use keeps working while the other one is rotated). Each rotation sets a new password on the role that
 * is not `current` and makes it current; the old `current` becomes `previous` and still signs in, while the
 * password before it no longer does. The managing user (`database.managingUser`, typically referenced from an
 * admin-only environment with `${environments.<project>.<env>…}`) needs CREATEROLE over both roles.
 *
 * The password never reaches the database in plaintext: the rotator sends a SCRAM-SHA-256 verifier (RFC 5802,
 * RFC 7677), which `ALTER ROLE … PASSWORD` stores as is — so server logs and statement statistics cannot leak it.
 * `database.host` is whatever the definition says: a writer of the environment chooses where the server connects.
 */
export const postgresRotator: Rotator = {
  inputSchema,
  stateSchema,
  outputSchema: stateSchema,
  async open(_inputs, state) {
    const out: { [key: string]: ProviderValue } = {};
    for (const key of ['current', 'previous']) {
      const c = credentialsOf(state?.[key]);
      if (c) out[key] = credentialsValue(c);
    }
    return { value: out };
  },
  async rotate(inputs, state, ctx) {
    const db = objectOf(inputs.database);
    const users = objectOf(inputs.rotateUsers);
    const manager = credentialsOf(db.managingUser);
    const username1 = stringOf(users.username1);
    const username2 = stringOf(users.username2);
    if (!manager) throw new Error('database.managingUser needs a username and a password');
    if (username1 === username2) throw new Error('rotateUsers.username1 and username2 must differ');
    const current = credentialsOf(state?.current);
    const username = current?.username === username1 ? username2 : username1;
    const generated = await randomProvider.open(
      { length: { value: POSTGRES_PASSWORD_LENGTH }, special: { value: false } },
      ctx,
    );
    const password = String(generated.value);

    const port = db.port?.value;
    const client = new pg.Client({
      host: stringOf(db.host),
      port: typeof port === 'number' ? port : 5432,
      database: stringOf(db.database),
      user: manager.username,
      password: manager.password,
      ssl: db.ssl?.value === true,
      connectionTimeoutMillis: POSTGRES_TIMEOUT_MS,
      query_timeout: POSTGRES_TIMEOUT_MS,
      application_name: 'vigil-rotation',
    });
    // A connection error after connect (server restart) must not crash the process.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(
        `ALTER ROLE ${client.escapeIdentifier(username)} WITH PASSWORD ${client.escapeLiteral(scramVerifier(password))}`,
      );
    } catch (error) {
      throw new Error(`postgres: ${(error as Error).message}`);
    } finally {
      await client.end().catch(() => {});
    }
    return {
      value: {
        current: credentialsValue({ username, password }),
        ...(current ? { previous: credentialsValue(current) } : {}),
      },
    };
  },
};

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (its `pg_authid.rolpassword` format):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64. The password must need no SASLprep
 * (generated passwords are ASCII letters and digits).
 */
export function scramVerifier(
  password: string,
  salt = randomBytes(16),
  iterations = SCRAM_ITERATIONS,
): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

interface Credentials {
  username: string;
  password: string;
}

function credentialsValue(c: Credentials): ProviderValue {
  return { value: { username: { value: c.username }, password: { value: c.password, secret: true } } };
}

function objectOf(v: ProviderValue | undefined): { [key: string]: ProviderValue } {
  const r = v?.value;
  return r !== null && typeof r === 'object' && !Array.isArray(r) ? r : {};
}

function stringOf(v: ProviderValue | undefined): string {
  return typeof v?.value === 'string' ? v.value : '';
}

function credentialsOf(v: ProviderValue | undefined): Credentials | undefined {
  const o = objectOf(v);
  const username = stringOf(o.username);
  const password = o.password?.value;
  return username !== '' && typeof password === 'string' ? { username, password } : undefined;
}
