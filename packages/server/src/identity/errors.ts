/**
 * Why an identity request is refused before anything could be recorded. Closed union; the HTTP layer maps codes to
 * answers (`identity-routes.ts`), tests assert codes. Messages never contain a password or token text.
 */
export type IdentityErrorCode =
  /** The credential is of the wrong kind for the endpoint (an organization token asking for `/api/user`). */
  | 'wrong-credential'
  /** The user belongs to no organization, so the operation has no audit log to be recorded in. */
  | 'no-organization';

export class IdentityError<C extends IdentityErrorCode = IdentityErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}
