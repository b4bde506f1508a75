import type { ProblemCode } from '@vigil/protocol';
import { EnvironmentStoreError, type EnvironmentStoreErrorCode } from '../environments/errors.js';
import { IamError, type IamErrorCode } from '../iam/errors.js';
import { AccessDenied } from '../kernel/kernel.js';
import { LedgerStoreError } from '../ledger/errors.js';
import { ProblemError } from './problem-reply.js';

/** A domain error as the HTTP layer answers it. */
export interface HttpFailure {
  readonly code: ProblemCode;
  readonly message: string;
  readonly param?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Diagnostics for `invalid-definition`. */
  readonly diagnostics?: readonly unknown[];
}

const IAM: Record<IamErrorCode, ProblemCode> = {
  'invalid-name': 'invalid-argument',
  'invalid-argument': 'invalid-argument',
  'invalid-password': 'invalid-argument',
  'already-exists': 'already-exists',
  'not-found': 'not-found',
  'not-a-member': 'invalid-argument',
  'invalid-credentials': 'unauthenticated',
  'rate-limited': 'rate-limited',
  'token-unknown': 'unauthenticated',
  'token-revoked': 'unauthenticated',
  'token-expired': 'unauthenticated',
  'last-admin': 'conflict',
};

const ENVIRONMENTS: Record<EnvironmentStoreErrorCode, ProblemCode> = {
  'invalid-name': 'invalid-argument',
  'invalid-argument': 'invalid-argument',
  'invalid-continuation-token': 'invalid-argument',
  'already-exists': 'already-exists',
  'not-found': 'not-found',
  'revision-not-found': 'not-found',
  'tag-not-found': 'not-found',
  'etag-mismatch': 'conflict',
  'deletion-protected': 'deletion-protected',
  retracted: 'invalid-argument',
  'invalid-revision': 'invalid-argument',
  'latest-tag-immutable': 'invalid-argument',
  expired: 'session-expired',
};

/** Maps an error to what the client is told, or undefined for an unexpected error (answered 500, logged). */
export function httpFailure(error: unknown): HttpFailure | undefined {
  if (error instanceof ProblemError) return { code: error.code, message: error.message, param: error.param };
  if (error instanceof DefinitionError) {
    return { code: 'invalid-definition', message: error.message, diagnostics: error.diagnostics };
  }
  if (error instanceof AccessDenied) return { code: 'access-denied', message: error.message };
  if (error instanceof IamError) {
    return {
      code: IAM[error.code as IamErrorCode],
      message: error.message,
      ...(error.retryAfterSeconds ? { headers: { 'retry-after': String(error.retryAfterSeconds) } } : {}),
    };
  }
  if (error instanceof EnvironmentStoreError)
    return { code: ENVIRONMENTS[error.code as EnvironmentStoreErrorCode], message: error.message };
  if (error instanceof LedgerStoreError) {
    switch (error.code) {
      case 'out-of-range':
        return { code: 'out-of-range', message: error.message, param: (error as { param?: string }).param };
      case 'log-not-found':
        return { code: 'log-not-found', message: error.message };
      case 'ledger-overloaded':
        return { code: 'ledger-overloaded', message: error.message, headers: { 'retry-after': '1' } };
      default:
        return {
          code: 'ledger-unavailable',
          message: 'the audit ledger is unavailable; nothing was performed',
          headers: { 'retry-after': '5' },
        };
    }
  }
  return undefined;
}

/** An environment definition with errors: answered 400 with its diagnostics (ESC's shape). */
export class DefinitionError extends Error {
  constructor(
    message: string,
    readonly diagnostics: readonly unknown[],
  ) {
    super(message);
    this.name = 'DefinitionError';
  }
}
