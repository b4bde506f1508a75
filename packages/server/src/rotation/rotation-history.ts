import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';

/** The outcome of one `fn::rotate` path in a rotation. */
export interface PathRotation {
  readonly id: string;
  /** Relative to `values`, as `POST …/rotate` takes it (e.g. `db.creds`). */
  readonly environmentPath: string;
  readonly status: 'succeeded' | 'failed';
  readonly errorMessage?: string;
}

/** One rotation of an environment (Pulumi's `SecretRotationEvent`), times in epoch milliseconds. */
export interface RotationEvent {
  readonly id: string;
  readonly environmentId: string;
  readonly created: number;
  readonly completed: number;
  readonly preRotationRevision: number;
  /** The revision the rotation wrote; absent when nothing rotated. */
  readonly postRotationRevision?: number;
  /** Login of who rotated (`system` for a schedule). */
  readonly userID: string;
  readonly status: 'succeeded' | 'failed';
  readonly scheduledActionID?: string;
  readonly errorMessage?: string;
  readonly rotations: readonly PathRotation[];
}

/** The rotation history table, outside `Database` so that this feature's schema stays in this folder. */
export type RotationTables = {
  rotation_events: {
    id: string;
    env_id: string;
    created_at: number;
    completed_at: number;
    pre_revision: number;
    post_revision: number | null;
    user_login: string;
    status: 'succeeded' | 'failed';
    scheduled_action_id: string | null;
    error_message: string | null;
    rotations: string;
  };
};

type Executor = Kysely<Database> | Transaction<Database>;

/** Most events `history` answers: the newest first. */
export const ROTATION_HISTORY_LIMIT = 100;

export function newRotationId(): string {
  return randomUUID();
}

/** Appends a completed rotation (in the caller's audited transaction). */
export async function recordRotation(db: Executor, event: RotationEvent): Promise<void> {
  await db
    .withTables<RotationTables>()
    .insertInto('rotation_events')
    .values({
      id: event.id,
      env_id: event.environmentId,
      created_at: event.created,
      completed_at: event.completed,
      pre_revision: event.preRotationRevision,
      post_revision: event.postRotationRevision ?? null,
      user_login: event.userID,
      status: event.status,
      scheduled_action_id: event.scheduledActionID ?? null,
      error_message: event.errorMessage ?? null,
      rotations: JSON.stringify(event.rotations),
    })
    .execute();
}

/** An environment's rotations, newest first. */
export async function rotationHistory(db: Executor, environmentId: string): Promise<RotationEvent[]> {
  const rows = await db
    .withTables<RotationTables>()
    .selectFrom('rotation_events')
    .selectAll()
    .where('env_id', '=', environmentId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(ROTATION_HISTORY_LIMIT)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    environmentId: r.env_id,
    created: r.created_at,
    completed: r.completed_at,
    preRotationRevision: r.pre_revision,
    ...(r.post_revision !== null ? { postRotationRevision: r.post_revision } : {}),
    userID: r.user_login,
    status: r.status,
    ...(r.scheduled_action_id !== null ? { scheduledActionID: r.scheduled_action_id } : {}),
    ...(r.error_message !== null ? { errorMessage: r.error_message } : {}),
    rotations: JSON.parse(r.rotations) as PathRotation[],
  }));
}
