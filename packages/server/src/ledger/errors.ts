/** Why the ledger store could not do what was asked. Callers map codes to HTTP answers; tests assert codes. */
export type LedgerStoreErrorCode =
  /** The organization has no log yet (nothing was ever recorded for it). */
  | 'log-not-found'
  /** A requested index, range or tree size lies outside what the log has integrated. */
  | 'out-of-range'
  /** The database failed or is unreachable: nothing was sequenced. Callers answer 503 and reveal nothing. */
  | 'ledger-unavailable'
  /** Too many appends are waiting: pushback, not a hang. Callers answer 503 with Retry-After. */
  | 'ledger-overloaded'
  /** The record cannot be encoded as RFC 8785 canonical JSON. A programming error, never sequenced. */
  | 'record-invalid'
  /** The stored tree disagrees with a checkpoint the server signed earlier: the publisher refuses to sign. */
  | 'checkpoint-refused'
  /** The store is closed. */
  | 'closed';

export class LedgerStoreError<C extends LedgerStoreErrorCode = LedgerStoreErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LedgerStoreError';
  }
}
