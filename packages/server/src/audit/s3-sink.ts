import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { formatExportLine } from '@vigil/protocol';
import aws4 from 'aws4';
import type { SelectedEntry } from './audit-query.js';
import type { S3Destination } from './log-stream-store.js';
import { DeliveryError, sendToDestination } from './stream-delivery-error.js';

const gzip = promisify(gzipCallback);

/** An entry with its record's time (epoch milliseconds, the index's `time` column): objects are named by hour. */
export interface TimedEntry extends SelectedEntry {
  readonly time: number;
}

/** The last part of every batch object's name: gzip-compressed JSON Lines. */
export const S3_OBJECT_SUFFIX = '.jsonl.gz';
/** What `…/export/config/test` writes, beside the hour folders under the prefix (never a `.jsonl.gz`). */
export const S3_TEST_OBJECT = 'vigil-export-test.json';
/** Most bytes of an error answer read to find its `<Code>`; the rest is discarded unread. */
export const MAX_S3_ERROR_BYTES = 16 * 1024;

const two = (n: number) => String(n).padStart(2, '0');

/** `<prefix>/` or nothing: the prefix is stored without slashes at its ends. */
const under = (prefix: string) => (prefix === '' ? '' : `${prefix}/`);

/**
 * `<prefix>/YYYY/MM/DD/HH/<first>-<last>.jsonl.gz`: the UTC hour its events were recorded in, then the log indexes
 * of its first and last event. A batch sent again (at least once) has the same name, so it replaces itself.
 */
export function s3ObjectKey(prefix: string, first: number, last: number, timeMs: number): string {
  const t = new Date(timeMs);
  const hour = `${t.getUTCFullYear()}/${two(t.getUTCMonth() + 1)}/${two(t.getUTCDate())}/${two(t.getUTCHours())}`;
  return `${under(prefix)}${hour}/${first}-${last}${S3_OBJECT_SUFFIX}`;
}

const HOUR_MS = 3_600_000;

/** Splits a batch (index order) where the hour of a record's time changes: one object per hour folder. */
export function hourBatches<E extends TimedEntry>(entries: readonly E[]): E[][] {
  const batches: E[][] = [];
  for (const entry of entries) {
    const current = batches.at(-1);
    if (current && Math.floor(current[0]!.time / HOUR_MS) === Math.floor(entry.time / HOUR_MS))
      current.push(entry);
    else batches.push([entry]);
  }
  return batches;
}

/** An object's bytes: the `format=jsonl` export's lines (`{"index":N,"entry":…}`), gzip-compressed. */
export async function s3ObjectBody(entries: readonly SelectedEntry[]): Promise<Buffer> {
  return gzip(Buffer.concat(entries.map((e) => formatExportLine(e.index, e.data))));
}

/** The object's URL: `endpoint/bucket/key` (path-style) or `bucket.endpoint-host/key` (virtual-hosted). */
export function s3ObjectUrl(d: S3Destination, key: string): URL {
  const url = new URL(d.endpoint);
  if (d.pathStyle) url.pathname = `/${d.bucket}/${key}`;
  else {
    url.hostname = `${d.bucket}.${url.hostname}`;
    url.pathname = `/${key}`;
  }
  return url;
}

/**
 * PUTs one object, signed with AWS Signature Version 4 (`aws4`; the payload's SHA-256 is signed too, so the bytes
 * cannot be swapped on a plain-HTTP endpoint). Acknowledged means a 2xx answer. Redirects are not followed (S3
 * redirects a wrong region or endpoint: the signature is for this host). A refusal is described by its status and
 * S3 error code (`HTTP 403 SignatureDoesNotMatch`): never the request, its headers or the credentials.
 */
export async function putS3Object(
  d: S3Destination,
  secretAccessKey: string,
  key: string,
  body: Buffer,
  options: { timeoutMs: number; contentType: string },
): Promise<void> {
  const url = s3ObjectUrl(d, key);
  const signed = aws4.sign(
    {
      host: url.host,
      path: url.pathname,
      method: 'PUT',
      service: 's3',
      region: d.region,
      headers: { 'Content-Type': options.contentType, 'User-Agent': 'vigil-log-stream/1' },
      body,
    },
    { accessKeyId: d.accessKeyId, secretAccessKey },
  );
  // fetch sets Host from the URL (the same value, which was signed).
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers ?? {}))
    if (name.toLowerCase() !== 'host' && value !== undefined) headers[name] = String(value);
  const response = await sendToDestination(url, {
    method: 'PUT',
    headers,
    body,
    timeoutMs: options.timeoutMs,
  });
  if (response.status >= 200 && response.status <= 299) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  const code = await s3ErrorCode(response);
  throw new DeliveryError(`HTTP ${response.status}${code ? ` ${code}` : ''}`);
}

/**
 * The `<Code>` of an S3 error answer (`AccessDenied`, `NoSuchBucket`, …), if it has a plausible one. The answer is
 * the receiver's, not ours: only a short identifier is kept, never its message or the rest of its body.
 */
async function s3ErrorCode(response: Response): Promise<string | undefined> {
  let text = '';
  try {
    const reader = response.body?.getReader();
    const decoder = new TextDecoder();
    while (reader && text.length < MAX_S3_ERROR_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    await reader?.cancel().catch(() => {});
  } catch {
    return undefined;
  }
  return /<Code>([A-Za-z][A-Za-z0-9.]{0,63})<\/Code>/.exec(text)?.[1];
}

/**
 * Delivers one batch: an object per hour its events were recorded in (a batch rarely spans two), in index order.
 * The batch is acknowledged when every object was; a failure after some were written writes them again on the
 * retry, under the same names.
 */
export async function deliverS3(
  d: S3Destination,
  secretAccessKey: string,
  entries: readonly TimedEntry[],
  options: { timeoutMs: number },
): Promise<void> {
  for (const batch of hourBatches(entries)) {
    const key = s3ObjectKey(d.prefix, batch[0]!.index, batch.at(-1)!.index, batch[0]!.time);
    await putS3Object(d, secretAccessKey, key, await s3ObjectBody(batch), {
      timeoutMs: options.timeoutMs,
      contentType: 'application/gzip',
    });
  }
}

/** Writes `<prefix>/vigil-export-test.json`: proof that the destination accepts objects from these credentials. */
export async function testS3(
  d: S3Destination,
  secretAccessKey: string,
  options: { timeoutMs: number; org: string; at: number },
): Promise<void> {
  const body = Buffer.from(
    `${JSON.stringify({ vigil: 'audit log export test', org: options.org, time: new Date(options.at).toISOString() })}\n`,
  );
  await putS3Object(d, secretAccessKey, `${under(d.prefix)}${S3_TEST_OBJECT}`, body, {
    timeoutMs: options.timeoutMs,
    contentType: 'application/json',
  });
}
