/** Why the environment store could not do what was asked. Callers map codes to HTTP answers; tests assert codes. */
export type EnvironmentStoreErrorCode =
  /** An organization, project, environment or tag name breaks the naming rules (see `names.ts`). */
  | 'invalid-name'
  /** A tag value, page size or other argument is out of bounds. */
  | 'invalid-argument'
  /** A continuation token this store did not issue (or issued for another listing). */
  | 'invalid-continuation-token'
  /** A live environment, revision tag or environment tag of that name exists already. */
  | 'already-exists'
  /** No live environment of that name (deleted ones count as absent), or no such deleted one to restore. */
  | 'not-found'
  /** The environment has no revision of that number. */
  | 'revision-not-found'
  /** The environment has no revision tag or environment tag of that name. */
  | 'tag-not-found'
  /** The caller's ETag (or a tag's current value) is stale: the resource changed since it was read. */
  | 'etag-mismatch'
  /** Deletion protection is on; turn it off first. */
  | 'deletion-protected'
  /** The revision is retracted: it cannot be tagged, retracted again, cloned, or read without following it. */
  | 'retracted'
  /** A version that is not a canonical revision number, or a retraction replacement that cannot serve. */
  | 'invalid-revision'
  /** `latest` always names the newest revision: it cannot be created, moved or deleted, nor its revision retracted. */
  | 'latest-tag-immutable'
  /** An open session that has expired (it is purged by `purgeExpiredOpenSessions`). */
  | 'expired';

export class EnvironmentStoreError<
  C extends EnvironmentStoreErrorCode = EnvironmentStoreErrorCode,
> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EnvironmentStoreError';
  }
}
