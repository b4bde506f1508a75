import {
  eventType,
  type AuditActor,
  type AuditRecord,
  type AuditResource,
  type EventId,
} from '@vigil/protocol';
import type { Transaction } from 'kysely';
import type { LedgerStore, Sequenced } from '../ledger/ledger-store.js';
import type { Database } from '../storage/schema.js';

/** Who is asking, from where: built once per request by the HTTP layer (or by the server for its own work). */
export interface RequestContext {
  readonly actor: AuditActor;
  /** The client address: the socket's, or X-Forwarded-For's when the socket is a trusted proxy. */
  readonly sourceIP: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  /** The events the route declared (`config.audit.action`); perform() refuses to record any other. */
  readonly declared?: readonly EventId[];
}

/** Why an operation is refused, recorded before the refusal is answered. */
export interface Refusal {
  readonly event: EventId;
  readonly description: string;
  /** The refused action needed the organization admin role. */
  readonly reqOrgAdmin?: boolean;
}

/** What an operation did, for its record. */
export interface Outcome<T> {
  readonly result: T;
  readonly description: string;
  /** Defaults to the operation's `event`; some operations name a more specific one (open at a tag). */
  readonly event?: EventId;
  readonly resource?: AuditResource;
}

export interface Operation<T, P> {
  readonly org: string;
  /** The event this operation records on success (or one of those its route declared, via `Outcome.event`). */
  readonly event: EventId;
  readonly resource?: AuditResource;
  /**
   * Decides whether the actor may do this. Undefined means allowed; a Refusal is recorded (as a denied
   * attempt, in its own transaction) and then thrown as AccessDenied.
   */
  authorize(): Promise<Refusal | undefined>;
  /**
   * Work that needs no transaction and may be slow (evaluating an environment, calling providers). Runs after
   * authorization and before the record: its result leaves the server only once the record is sequenced.
   */
  prepare?(): Promise<P>;
  /**
   * The change itself, in the same transaction as its record: both commit, or neither does. Operations that change
   * nothing (reads, opens of what `prepare` computed) set `reads` instead: their record is appended on its own,
   * which lets the ledger batch it without a savepoint.
   */
  run?(tx: Transaction<Database>, prepared: P): Promise<Outcome<T>>;
  /** For operations that change nothing: the outcome to record, from what `prepare` found. */
  reads?(prepared: P): Outcome<T>;
}

/** The operation was refused; its record is already durable. */
export class AccessDenied extends Error {
  constructor(
    readonly refusal: Refusal,
    readonly sequenced: Sequenced,
  ) {
    super(refusal.description);
    this.name = 'AccessDenied';
  }
}

/** A route recorded an event it did not declare: a programming error, caught by the route-audit test. */
export class UndeclaredEventError extends Error {
  constructor(event: string, declared: readonly string[]) {
    super(`recorded ${event}, but the route declares ${declared.join(', ') || 'nothing'}`);
    this.name = 'UndeclaredEventError';
  }
}

/** The system actor: the server itself, e.g. a schedule. */
export const SYSTEM_ACTOR: AuditActor = { kind: 'system', login: 'system', name: 'Vigil' };

/**
 * The one choke point. Every operation a user can do goes through `perform`: authorize → (prepare) → execute
 * and append its audit record in one transaction → answer. A refused attempt is recorded before it is refused.
 * If the ledger cannot write, the operation does not happen and nothing it would reveal leaves the server:
 * the caller gets the ledger's error (HTTP 503).
 */
export class Kernel {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly clock: () => number = Date.now,
  ) {}

  async perform<T, P = undefined>(ctx: RequestContext, op: Operation<T, P>): Promise<T> {
    const refusal = await op.authorize();
    if (refusal) {
      const record = this.record(ctx, op.org, refusal.event, refusal.description, op.resource, {
        outcome: 'denied',
        reqOrgAdmin: refusal.reqOrgAdmin,
      });
      const sequenced = await this.ledger.append(op.org, record);
      throw new AccessDenied(refusal, sequenced);
    }
    const prepared = (op.prepare ? await op.prepare() : undefined) as P;
    const toRecord = (outcome: Outcome<T>) => {
      const event = outcome.event ?? op.event;
      this.checkDeclared(ctx, event);
      return this.record(ctx, op.org, event, outcome.description, outcome.resource ?? op.resource, {
        outcome: 'success',
        reqOrgAdmin: eventType(event).requiresOrgAdmin,
      });
    };
    if (op.reads) {
      const outcome = op.reads(prepared);
      await this.ledger.append(op.org, toRecord(outcome));
      return outcome.result;
    }
    const run = op.run;
    if (!run) throw new Error(`operation ${op.event} has neither run nor reads`);
    const { result } = await this.ledger.commit<T>(op.org, async (tx) => {
      const outcome = await run(tx, prepared);
      return { record: toRecord(outcome), result: outcome.result };
    });
    return result;
  }

  /**
   * Records a refusal and throws it (AccessDenied): for operations whose success is not recorded (listings,
   * metadata reads) or that discover a refusal midway (an import the caller may not open).
   */
  async refuse(ctx: RequestContext, org: string, refusal: Refusal): Promise<never> {
    const record = this.record(ctx, org, refusal.event, refusal.description, undefined, {
      outcome: 'denied',
      reqOrgAdmin: refusal.reqOrgAdmin,
    });
    throw new AccessDenied(refusal, await this.ledger.append(org, record));
  }

  /** Records an event that is not an operation on stored state (a failed sign-in), durably, before answering. */
  async note(
    ctx: RequestContext,
    org: string,
    event: EventId,
    description: string,
    resource?: AuditResource,
  ) {
    this.checkDeclared(ctx, event);
    const type = eventType(event);
    const record = this.record(ctx, org, event, description, resource, {
      outcome: type.authenticationFailure || event === 'user-login-failed' ? 'denied' : 'success',
      reqOrgAdmin: type.requiresOrgAdmin,
    });
    return this.ledger.append(org, record);
  }

  private checkDeclared(ctx: RequestContext, event: EventId): void {
    if (ctx.declared && !ctx.declared.includes(event)) throw new UndeclaredEventError(event, ctx.declared);
  }

  private record(
    ctx: RequestContext,
    org: string,
    event: EventId,
    description: string,
    resource: AuditResource | undefined,
    flags: { outcome: 'success' | 'denied'; reqOrgAdmin?: boolean | undefined },
  ): AuditRecord {
    const type = eventType(event);
    return {
      v: 1,
      time: this.clock(),
      org,
      event,
      description,
      actor: ctx.actor,
      sourceIP: ctx.sourceIP,
      ...(ctx.userAgent ? { userAgent: ctx.userAgent } : {}),
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      ...(resource && Object.keys(resource).length > 0 ? { resource } : {}),
      outcome: flags.outcome,
      ...(flags.reqOrgAdmin ? { reqOrgAdmin: true as const } : {}),
      ...(type.authenticationFailure ? { authFailure: true as const } : {}),
    };
  }
}
