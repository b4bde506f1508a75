/**
 * A delivery the receiver did not acknowledge. The message is the server's own words (an HTTP status, a socket
 * error code, "timeout"): never a URL, a header, a body or a driver message that could quote a secret.
 */
export class DeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** The safe description of a network failure: its error code, or its class. */
export function networkFailure(error: unknown): DeliveryError {
  if (error instanceof DeliveryError) return error;
  type Failure = { name?: string; code?: unknown; cause?: Failure; errors?: Failure[] };
  const e = error as Failure | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new DeliveryError('timeout');
  // fetch wraps the socket's error in `cause`; a connection tried on several addresses, in `errors`.
  const code = e?.code ?? e?.cause?.code ?? e?.cause?.errors?.[0]?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code))
    return new DeliveryError(`network error ${code}`);
  return new DeliveryError('network error');
}
