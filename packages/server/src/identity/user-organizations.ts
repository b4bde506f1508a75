import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/** An organization a user belongs to, as `/api/user` lists it. */
export interface UserOrganization {
  readonly login: string;
  readonly name: string;
}

/**
 * The organizations `userId` is a member of, in the order they joined (ties by login). Operations on a user's own
 * identity (signing in, personal tokens) are recorded in each of these logs; the first is the default organization.
 */
export async function userOrganizations(db: Kysely<Database>, userId: number): Promise<UserOrganization[]> {
  const rows = await db
    .selectFrom('iam_members as m')
    .innerJoin('iam_organizations as o', 'o.id', 'm.org_id')
    .select(['o.login', 'o.name'])
    .where('m.user_id', '=', userId)
    .orderBy('m.created_at')
    .orderBy('o.login_key')
    .execute();
  return rows.map((r) => ({ login: r.login, name: r.name }));
}
