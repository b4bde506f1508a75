import { ipKey } from './ip-key.js';

/**
 * The query-index row of one ledger entry (`audit_events`), or undefined when the entry is not an audit record
 * (the ledger itself accepts any JSON object; its own tests append plain ones). Pure: the sequencer calls it for
 * every record it sequences, inside the batch transaction.
 *
 * An audit record, for the index, is an object with a string `event` and a finite numeric `time` (ms); every other
 * field is taken only when it has the expected type, so an odd record is indexed with nulls rather than failing the
 * batch.
 */
export interface AuditIndexRow {
  readonly logId: number;
  readonly index: number;
  readonly time: number;
  readonly event: string;
  /** `actor.login` in lower case (logins are unique case-insensitively); `''` when absent. */
  readonly actorLogin: string;
  readonly tokenName: string | null;
  readonly project: string | null;
  readonly environment: string | null;
  readonly sourceIp: string | null;
  readonly outcome: string | null;
  /** The description in lower case, for the query language's free words (migration 0007); `''` when absent. */
  readonly descriptionFolded: string;
  /** `sourceIP` as a 16-byte sortable key (see `ipKey`), for `ip:` CIDR ranges; null when not an address. */
  readonly sourceIpKey: Uint8Array | null;
}

export function auditIndexRow(logId: number, index: number, record: object): AuditIndexRow | undefined {
  const r = record as Record<string, unknown>;
  if (typeof r.event !== 'string' || typeof r.time !== 'number' || !Number.isFinite(r.time)) return undefined;
  const actor = objectOr(r.actor);
  const resource = objectOr(r.resource);
  return {
    logId,
    index,
    time: Math.trunc(r.time),
    event: r.event,
    actorLogin: (stringOr(actor.login) ?? '').toLowerCase(),
    tokenName: stringOr(actor.tokenName),
    project: stringOr(resource.project),
    environment: stringOr(resource.environment),
    sourceIp: stringOr(r.sourceIP),
    outcome: stringOr(r.outcome),
    ...auditQueryColumns(r),
  };
}

/** The index columns migration 0007 added, from a record (its backfill computes them the same way). */
export function auditQueryColumns(record: object): Pick<AuditIndexRow, 'descriptionFolded' | 'sourceIpKey'> {
  const r = record as Record<string, unknown>;
  const sourceIp = stringOr(r.sourceIP);
  return {
    descriptionFolded: (stringOr(r.description) ?? '').toLowerCase(),
    sourceIpKey: (sourceIp === null ? undefined : ipKey(sourceIp)) ?? null,
  };
}

function objectOr(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
