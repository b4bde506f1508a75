import { createHmac, randomBytes } from 'node:crypto';
import { formatExportLine } from '@vigil/protocol';
import type { SelectedEntry } from './audit-query.js';
import { DeliveryError, sendToDestination } from './stream-delivery-error.js';

/** The header carrying `sha256=<hex HMAC-SHA256 of the body under the destination's secret>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'X-Vigil-Signature';
/** Generated secrets begin with this, so nobody mistakes one for an access token. */
export const WEBHOOK_SECRET_PREFIX = 'vigil-whsec-';
/** A caller-chosen secret must be at least this long (HMAC keys shorter than the hash are weak). */
export const MIN_WEBHOOK_SECRET = 16;
export const MAX_WEBHOOK_SECRET = 256;

/** A fresh secret: 32 random bytes. */
export const newWebhookSecret = (): string =>
  `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;

/**
 * The body of one delivery: JSON Lines, one `{"index":N,"entry":…}` per event, exactly the `format=jsonl`
 * export's lines (the entry bytes as the tree hashes them), so a receiver can deduplicate by index and verify.
 */
export function webhookBody(entries: readonly SelectedEntry[]): Buffer {
  return Buffer.concat(entries.map((e) => formatExportLine(e.index, e.data)));
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes, keyed by the secret's UTF-8 bytes. */
export function webhookSignature(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs one batch. Acknowledged means a 2xx answer; redirects are not followed (a 3xx is a failure: the
 * signature is for this URL's owner), and the receiver's answer body is discarded unread.
 */
export async function deliverWebhook(
  url: string,
  secret: string,
  entries: readonly SelectedEntry[],
  options: { timeoutMs: number; streamId: string },
): Promise<void> {
  const body = webhookBody(entries);
  const response = await sendToDestination(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-ndjson',
      'user-agent': 'vigil-log-stream/1',
      'x-vigil-stream': options.streamId,
      [WEBHOOK_SIGNATURE_HEADER]: webhookSignature(secret, body),
    },
    body,
    timeoutMs: options.timeoutMs,
  });
  await response.body?.cancel().catch(() => {});
  if (response.status < 200 || response.status > 299) throw new DeliveryError(`HTTP ${response.status}`);
}
