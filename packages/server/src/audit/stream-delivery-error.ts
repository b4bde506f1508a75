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

/**
 * One HTTP request to a destination: no redirects (a 3xx is the destination's answer, not somewhere else to send
 * credentials or signed data), a deadline, and network failures in the server's own words (`networkFailure`).
 */
export async function sendToDestination(
  url: string | URL,
  init: { method: string; headers: Record<string, string>; body: Uint8Array | string; timeoutMs: number },
): Promise<Response> {
  try {
    return await fetch(url, {
      method: init.method,
      redirect: 'manual',
      signal: AbortSignal.timeout(init.timeoutMs),
      headers: init.headers,
      body: init.body,
    });
  } catch (error) {
    throw networkFailure(error);
  }
}
