import type { AuditResource, EventId } from '@vigil/protocol';
import type { Transaction } from 'kysely';
import type { Kernel, Outcome, RequestContext } from '../kernel/kernel.js';
import type { Database } from '../storage/schema.js';

/**
 * A change to a user's own identity (a session, a personal token) belongs to no single organization, so it is
 * recorded in the log of every organization the user is a member of. The change commits atomically with its record
 * in the first log; the same record then goes to each other log, and the caller is answered only once all are
 * sequenced. If a later log cannot record, the caller gets the ledger's error and never sees the result (a
 * session or token whose text nobody received).
 */
export async function performInEach<T>(
  kernel: Kernel,
  ctx: RequestContext,
  orgs: readonly string[],
  event: EventId,
  run: (tx: Transaction<Database>) => Promise<Outcome<T>>,
): Promise<T> {
  const [first, ...rest] = orgs;
  if (first === undefined) throw new Error('performInEach needs at least one organization');
  let outcome: Outcome<T> | undefined;
  const result = await kernel.perform(ctx, {
    org: first,
    event,
    authorize: async () => undefined,
    run: async (tx) => (outcome = await run(tx)),
  });
  await Promise.all(
    rest.map((org) =>
      kernel.note(ctx, org, outcome!.event ?? event, outcome!.description, outcome!.resource),
    ),
  );
  return result;
}

/** Records an event that changed nothing (a failed sign-in) in each of the organizations' logs. */
export async function noteInEach(
  kernel: Kernel,
  ctx: RequestContext,
  orgs: readonly string[],
  event: EventId,
  description: string,
  resource?: AuditResource,
): Promise<void> {
  await Promise.all(orgs.map((org) => kernel.note(ctx, org, event, description, resource)));
}
