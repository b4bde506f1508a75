import { randomBytes } from 'node:crypto';
import { PostgresAdapter, sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { createIamService, type IamServiceDeps } from './iam-service.js';
import { checkOrgLogin, checkUserLogin } from './names.js';

/** The first admin's login. */
export const DEFAULT_BOOTSTRAP_ADMIN = 'admin';
/** Description of the admin's first personal token, as listings show it. */
export const BOOTSTRAP_TOKEN_DESCRIPTION = 'bootstrap';
/** PostgreSQL advisory lock key that serializes first starts (ASCII "vigilIAM"). */
export const BOOTSTRAP_LOCK_KEY = 0x76696769_6c49414dn;

export interface BootstrapOptions extends IamServiceDeps {
  /** The organization to create (`VIGIL_BOOTSTRAP_ORG`; its default is the config's `DEFAULT_BOOTSTRAP_ORG`). */
  readonly org: string;
  /** `VIGIL_BOOTSTRAP_TOKEN`: becomes the admin's personal token; 20 to 256 printable ASCII characters. */
  readonly token?: string;
  readonly adminLogin?: string;
}

/**
 * What the first start created. `token` (only when generated now) and `password` exist nowhere else: print them
 * once, to the operator's terminal, and never to a log that is shipped anywhere.
 */
export type BootstrapResult =
  | {
      readonly created: true;
      readonly org: string;
      readonly adminLogin: string;
      /** Id of the admin's personal token (the supplied or the generated one). */
      readonly tokenId: string;
      readonly token?: string;
      readonly password: string;
    }
  | { readonly created: false };

/**
 * First start: on a database without organizations, creates `org`, an admin user with a generated password, and
 * a personal token for the admin (the supplied one, or a generated one). On any database that has an organization
 * it creates nothing. All in one transaction; concurrent first starts are serialized (PostgreSQL: an advisory
 * transaction lock; SQLite: the write lock, taken up front), so exactly one of them creates.
 */
export async function bootstrap(db: Kysely<Database>, options: BootstrapOptions): Promise<BootstrapResult> {
  const org = checkOrgLogin(options.org);
  const adminLogin = checkUserLogin(options.adminLogin ?? DEFAULT_BOOTSTRAP_ADMIN);
  const iam = createIamService(options);
  return db.transaction().execute(async (tx) => {
    if (tx.getExecutor().adapter instanceof PostgresAdapter) {
      await sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY})`.execute(tx);
    } else {
      // A write that changes nothing still takes SQLite's write lock, so the check below cannot go stale.
      await sql`UPDATE iam_organizations SET updated_at = updated_at WHERE 1 = 0`.execute(tx);
    }
    const existing = await tx.selectFrom('iam_organizations').select('id').limit(1).executeTakeFirst();
    if (existing) return { created: false };

    const password = randomBytes(24).toString('base64url');
    await iam.createOrganization(tx, { login: org });
    await iam.createUser(tx, { login: adminLogin, name: 'Administrator', password });
    await iam.addMember(tx, org, adminLogin, 'admin');
    const created = await iam.createToken(
      tx,
      { kind: 'personal', user: adminLogin, description: BOOTSTRAP_TOKEN_DESCRIPTION },
      options.token,
    );
    return {
      created: true,
      org,
      adminLogin,
      tokenId: created.id,
      ...(options.token === undefined ? { token: created.token } : {}),
      password,
    };
  });
}
