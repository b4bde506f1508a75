import { hash, randomBytes } from 'node:crypto';
import { EnvironmentStoreError } from './errors.js';
import type { StoreContext } from './internal.js';
import { checkOrgName, type EnvironmentRef } from './names.js';
import type { Executor, OpenSession } from './types.js';

/** 32 random bytes: an unguessable, URL-safe session id (43 base64url characters). */
const SESSION_ID_BYTES = 32;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export interface CreateOpenSession {
  readonly org: string;
  /** The opened environment's project and name; anonymous (`yaml/open`) sessions may use any label. */
  readonly project: string;
  readonly env: string;
  readonly revision: number;
  /** The evaluated environment; JSON-serializable; holds secret plaintext. Sealed before it is stored. */
  readonly values: unknown;
  /** Epoch ms after which the session no longer opens. */
  readonly expiresAt: number;
  readonly openedBy: string;
}

/**
 * Open sessions: an evaluated environment kept for `duration`, readable by id. The values hold secrets in the
 * clear, so they are stored only sealed by the SecretBox, bound (as GCM additional data) to the session id and
 * the environment; the id itself is stored only as its SHA-256, so a copy of the database yields neither the
 * values nor usable ids.
 */
export function openSessions(ctx: StoreContext) {
  function aad(idHash: string, s: { org: string; project: string; env: string; revision: number }) {
    return Buffer.from(
      JSON.stringify(['vigil open-session v1', idHash, s.org, s.project, s.env, s.revision]),
      'utf8',
    );
  }

  return {
    async createOpenSession(
      db: Executor,
      session: CreateOpenSession,
    ): Promise<{ id: string; expiresAt: number }> {
      checkOrgName(session.org);
      if (!Number.isSafeInteger(session.revision) || !Number.isSafeInteger(session.expiresAt))
        throw new EnvironmentStoreError('invalid-argument', 'revision and expiresAt are integers');
      const json = JSON.stringify(session.values);
      if (json === undefined) throw new EnvironmentStoreError('invalid-argument', 'values must be JSON');
      const id = randomBytes(SESSION_ID_BYTES).toString('base64url');
      const idHash = hashId(id);
      const plaintext = Buffer.from(json, 'utf8');
      const sealed = ctx.secrets.seal(plaintext, aad(idHash, session));
      plaintext.fill(0);
      await db
        .insertInto('environment_open_sessions')
        .values({
          id_hash: idHash,
          org: session.org,
          project: session.project,
          env: session.env,
          revision: session.revision,
          sealed,
          opened_by: session.openedBy,
          created_at: ctx.now(),
          expires_at: session.expiresAt,
        })
        .execute();
      return { id, expiresAt: session.expiresAt };
    },

    /**
     * The session's values: 'not-found' for an unknown id (or one opened for another environment than `scope`),
     * 'expired' once `expiresAt` has passed. A row that fails authentication throws SecretBoxError.
     */
    async getOpenSession(db: Executor, id: string, scope?: EnvironmentRef): Promise<OpenSession> {
      const missing = () => new EnvironmentStoreError('not-found', 'open session not found');
      // The id is client input: refuse anything that is not one of ours before hashing or querying.
      if (typeof id !== 'string' || !SESSION_ID.test(id)) throw missing();
      const idHash = hashId(id);
      const row = await db
        .selectFrom('environment_open_sessions')
        .selectAll()
        .where('id_hash', '=', idHash)
        .executeTakeFirst();
      if (!row) throw missing();
      if (scope && (scope.org !== row.org || scope.project !== row.project || scope.name !== row.env))
        throw missing();
      if (ctx.now() >= row.expires_at) throw new EnvironmentStoreError('expired', 'open session has expired');
      const plaintext = ctx.secrets.open(row.sealed, aad(idHash, row));
      try {
        return {
          org: row.org,
          project: row.project,
          env: row.env,
          revision: row.revision,
          values: JSON.parse(plaintext.toString()) as unknown,
          openedBy: row.opened_by,
          created: row.created_at,
          expiresAt: row.expires_at,
        };
      } finally {
        plaintext.fill(0);
      }
    },

    /** Deletes expired sessions; returns how many. Run it periodically (and at start). */
    async purgeExpiredOpenSessions(db: Executor): Promise<number> {
      const result = await db
        .deleteFrom('environment_open_sessions')
        .where('expires_at', '<=', ctx.now())
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

/** One-shot `hash`: every open and every read of an open session computes one. */
function hashId(id: string): string {
  return hash('sha256', id, 'hex');
}
