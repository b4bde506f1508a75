// Errors of the ledger: one class, a closed union of codes, and evidence a caller can show or keep.
// Modelled on sigstore-js: callers and tests branch on `code`, never on the message.

import type { Hash } from './hash.js';

/** Every code a LedgerError can carry. Adding a code is an API change. */
export const LEDGER_ERROR_CODES = [
  // Formats (attacker-controlled text that does not parse).
  'malformed-note',
  'malformed-checkpoint',
  'malformed-key',
  'unsupported-json-value',
  // Signatures and identity.
  'signature-invalid',
  'unknown-key',
  'origin-mismatch',
  // Merkle proofs.
  'invalid-proof',
  'checkpoint-inconsistent',
  // Log contents against a signed checkpoint.
  'entry-modified',
  'entries-missing',
  'entries-inserted',
  'entries-reordered',
  'root-mismatch',
] as const;

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number];

/**
 * What an error points at. Every field is optional; each code documents which ones it sets.
 * Indexes are 0-based leaf indexes; `indexEnd` is exclusive.
 */
export interface LedgerErrorEvidence {
  /** First leaf index concerned (the first damaged or missing entry). */
  readonly index?: number;
  /** End (exclusive) of the leaf range that contains the damage, when it is a range. */
  readonly indexEnd?: number;
  /** For `entries-reordered`: the position where the entry found at `index` belongs. */
  readonly otherIndex?: number;
  readonly size?: number;
  readonly otherSize?: number;
  /** The root that was expected (signed or trusted). */
  readonly expectedRoot?: Hash;
  /** The root that was computed from the data at hand. */
  readonly actualRoot?: Hash;
  /** Signed note text of the checkpoint concerned. */
  readonly checkpoint?: string;
  /** Signed note text of the other checkpoint, for inconsistencies. */
  readonly otherCheckpoint?: string;
  readonly proof?: readonly Hash[];
  readonly origin?: string;
  readonly expectedOrigin?: string;
  /** Key name and id (`name+8hex`) for signature errors. */
  readonly key?: string;
  /** Which element of an input list is concerned (e.g. `checkpoints[i]`). */
  readonly inputIndex?: number;
  /** Short machine-oriented reason within the code (e.g. 'ambiguous-key'). */
  readonly reason?: string;
}

export class LedgerError<C extends LedgerErrorCode = LedgerErrorCode> extends Error {
  override readonly name = 'LedgerError';
  readonly code: C;
  readonly evidence: LedgerErrorEvidence;

  constructor(code: C, message: string, evidence: LedgerErrorEvidence = {}, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
    this.evidence = evidence;
  }
}

/** Type guard, optionally narrowed to one code. */
export function isLedgerError<C extends LedgerErrorCode>(err: unknown, code?: C): err is LedgerError<C> {
  return err instanceof LedgerError && (code === undefined || err.code === code);
}
