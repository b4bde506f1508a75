import { planConsistencyProof, verifyConsistency } from '@vigil/ledger';
import { sql, type Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { Storage } from '../storage/storage.js';
import { LedgerStoreError } from './errors.js';
import { rootFromStore } from './ledger-store.js';
import type { CheckpointSigner } from './signing-key.js';
import { LOCK_CLASS_PUBLISHER, lookupIn, readNodes, toBytes } from './tree-store.js';

export interface PublishedCheckpoint {
  readonly org: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly note: string;
}

export interface PublisherOptions {
  readonly storage: Storage;
  readonly signer: CheckpointSigner;
  /** Origin prefix: the log of organization `o` has origin `<originPrefix>/<o>`. */
  readonly originPrefix: string;
  readonly intervalMs: number;
  /** Told when the stored tree contradicts a signed checkpoint (the publisher then stops signing that log). */
  readonly onRefusal?: (org: string, error: LedgerStoreError) => void;
}

/**
 * The *published* stage: signs a checkpoint for every log that grew, at most `intervalMs` after it grew.
 *
 * Before signing size n it proves, from the stored hashes, that the new tree is consistent with the latest
 * checkpoint it signed (RFC 6962 consistency proof, checked like a verifier would); if not, it refuses, so the
 * server never signs a fork of its own history. Every signed checkpoint is kept.
 */
export class CheckpointPublisher {
  private readonly dirty = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly refused = new Map<number, LedgerStoreError>();

  constructor(private readonly options: PublisherOptions) {}

  /** Notes logs that grew; they are signed on the next tick. */
  markDirty(logIds: readonly number[]): void {
    for (const id of logIds) this.dirty.add(id);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    // Sign what is left, so a clean shutdown leaves no entry unpublished.
    await this.publishDirty();
  }

  /** Logs whose stored tree contradicts their last checkpoint, with the evidence. */
  refusals(): ReadonlyMap<number, LedgerStoreError> {
    return this.refused;
  }

  private async tick(): Promise<void> {
    if (this.running || this.dirty.size === 0) return;
    this.running = this.publishDirty().finally(() => (this.running = undefined));
    await this.running;
  }

  private async publishDirty(): Promise<void> {
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      try {
        await this.publishLog(id);
      } catch (error) {
        // A failure other than a refusal (database down) is retried on the next tick.
        if (!(error instanceof LedgerStoreError && error.code === 'checkpoint-refused')) this.dirty.add(id);
      }
    }
  }

  /**
   * Signs every log whose size is beyond its latest checkpoint (start-up after a crash, or on demand). When it
   * returns, each log's size at the call is covered by a checkpoint: it waits for a publication under way rather
   * than leave the log to it, since that one may have read the size before the latest entries committed.
   */
  async publishAll(): Promise<PublishedCheckpoint[]> {
    const logs = await this.options.storage.db.selectFrom('ledger_logs').select('id').execute();
    const out: PublishedCheckpoint[] = [];
    for (const { id } of logs) {
      const cp = await this.publishLog(id, { wait: true });
      if (cp) out.push(cp);
    }
    return out;
  }

  /**
   * Signs a checkpoint for the log's current size if it has none yet. Returns it, or undefined if none was due —
   * or, unless `wait`, if another publisher holds the log (PostgreSQL; the log is then retried on the next tick).
   */
  async publishLog(
    logId: number,
    options: { wait?: boolean } = {},
  ): Promise<PublishedCheckpoint | undefined> {
    const { storage, signer, originPrefix } = this.options;
    // Sign only what is durable: a commit can be visible a moment before the disk has it (see WalSync), and a
    // checkpoint must never cover entries that a power loss could take back.
    const size = await logSize(storage.db, logId);
    await storage.walSync?.durable();
    return storage.db.transaction().execute(async (tx) => {
      if (storage.dialect === 'postgres' && options.wait) {
        await sql`SELECT pg_advisory_xact_lock(${LOCK_CLASS_PUBLISHER}, ${logId})`.execute(tx);
      } else if (storage.dialect === 'postgres') {
        // Another publisher (this process's timer, or another process) holds the log right now. It may have read
        // the size before these entries committed: the next tick looks again.
        const { rows } = await sql<{ ok: boolean }>`
          SELECT pg_try_advisory_xact_lock(${LOCK_CLASS_PUBLISHER}, ${logId}) AS ok`.execute(tx);
        if (!rows[0]?.ok) {
          this.dirty.add(logId);
          return undefined;
        }
      }
      const log = await tx
        .selectFrom('ledger_logs')
        .select('org')
        .where('id', '=', logId)
        .executeTakeFirstOrThrow();
      const latest = await tx
        .selectFrom('ledger_checkpoints')
        .select(['size', 'root'])
        .where('log_id', '=', logId)
        .orderBy('size', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (latest && latest.size >= size) return undefined;
      const root = await rootFromStore(tx, logId, size);
      if (latest && latest.size > 0)
        await this.checkConsistent(tx, log.org, logId, latest.size, toBytes(latest.root), size, root);
      const note = signer.sign({ origin: `${originPrefix}/${log.org}`, size, root });
      await tx
        .insertInto('ledger_checkpoints')
        .values({ log_id: logId, size, root, note, created_at: Date.now() })
        .onConflict((oc) => oc.columns(['log_id', 'size']).doNothing())
        .execute();
      return { org: log.org, size, root, note };
    });
  }

  private async checkConsistent(
    tx: Transaction<Database>,
    org: string,
    logId: number,
    oldSize: number,
    oldRoot: Uint8Array,
    size: number,
    root: Uint8Array,
  ): Promise<void> {
    const plan = planConsistencyProof(oldSize, size);
    const found = await readNodes(tx, logId, plan.nodeIds);
    let ok = false;
    try {
      const proof = plan.build(lookupIn(found));
      verifyConsistency(oldSize, size, oldRoot, root, proof);
      ok = true;
    } catch {
      ok = false;
    }
    if (!ok) {
      const error = new LedgerStoreError(
        'checkpoint-refused',
        `the stored tree of "${org}" at size ${size} is not consistent with the checkpoint signed at size ${oldSize}`,
      );
      this.refused.set(logId, error);
      this.options.onRefusal?.(org, error);
      throw error;
    }
  }
}

async function logSize(db: Storage['db'], logId: number): Promise<number> {
  const row = await db
    .selectFrom('ledger_entries')
    .select((eb) => eb.fn.max('idx').as('m'))
    .where('log_id', '=', logId)
    .executeTakeFirst();
  return row?.m === null || row?.m === undefined ? 0 : Number(row.m) + 1;
}
