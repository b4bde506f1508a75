import type { Caller } from '../esc/esc-service.js';
import {
  EXPORT_STREAM_NAME,
  StreamError,
  type ExportAttempt,
  type LogStreamService,
  type StreamRequest,
  type StreamView,
} from './log-stream-service.js';

/**
 * Pulumi's automated audit-log export (reference §1.2, §1.9: `GET|POST|DELETE …/auditlogs/export/config`,
 * `…/config/test`, `…/config/force`) over Vigil's log streams: the organization's s3 stream named
 * `EXPORT_STREAM_NAME`. Pulumi's three fields (`s3BucketName`, `s3PathPrefix`, `iamRoleArn`) set its bucket and
 * prefix; `iamRoleArn` is kept and answered back but means nothing to a self-hosted S3-compatible service, so the
 * connection (endpoint, region, access key, path-style) is the stream's, set through the stream API or with
 * Vigil's optional fields beside Pulumi's in the same object (docs/log-streams.md, "Pulumi's export API").
 */

/** Pulumi's `AuditLogsExportS3Config`. */
export interface AuditLogsExportS3Config {
  readonly s3BucketName: string;
  readonly s3PathPrefix: string;
  readonly iamRoleArn: string;
}

/** Pulumi's `AuditLogExportResult`: `message` is `""` on success, else what went wrong. */
export interface AuditLogExportResult {
  readonly timestamp: number;
  readonly message: string;
}

/** Pulumi's `OrganizationAuditLogExportSettings`. */
export interface OrganizationAuditLogExportSettings {
  readonly enabled: boolean;
  readonly s3Config: AuditLogsExportS3Config;
  readonly lastResult: AuditLogExportResult;
}

/** Pulumi's answers, word for word. */
export const NOT_CONFIGURED = 'Organization has not configured audit log export.';
export const NOT_AVAILABLE = 'Audit log export is not available for this organization.';

/** Latest `force?timestamp=` accepted: 9999-12-31T23:59:59Z in unix seconds. */
export const MAX_EXPORT_TIMESTAMP = 253_402_300_799;
const HOUR_MS = 3_600_000;

/** Pulumi's field names for the stream fields they set (errors name the field the caller sent). */
const PULUMI_FIELDS: Record<string, string> = { bucket: 's3BucketName', prefix: 's3PathPrefix' };

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `AuditLogsExportS3Config` (attacker-controlled) as a stream request: Pulumi's fields, and Vigil's optional
 * connection fields `endpoint`, `region`, `accessKeyId`, `secretAccessKey` (write-only) and `pathStyle`.
 */
export function s3ConfigRequest(body: unknown, at = ''): StreamRequest {
  if (!isObject(body))
    throw new StreamError('invalid-argument', `${at || 'the body'} must be a JSON object`, at);
  const out: Record<string, unknown> = { kind: 's3' };
  const take = (from: string, to: string, type: 'string' | 'boolean', required = false) => {
    const v = body[from];
    const param = at ? `${at}.${from}` : from;
    if (v === undefined || v === null) {
      if (required) throw new StreamError('invalid-argument', `${param} is required`, param);
      return;
    }
    if (typeof v !== type) throw new StreamError('invalid-argument', `${param} must be a ${type}`, param);
    out[to] = v;
  };
  take('s3BucketName', 'bucket', 'string', true);
  take('s3PathPrefix', 'prefix', 'string');
  take('iamRoleArn', 'iamRoleArn', 'string');
  for (const field of ['endpoint', 'region', 'accessKeyId', 'secretAccessKey']) take(field, field, 'string');
  take('pathStyle', 'pathStyle', 'boolean');
  return out as StreamRequest;
}

/** `UpdateOrganizationAuditLogExportSettingsRequest` `{newEnabled, newS3Configuration}` as a stream request. */
export function exportSettingsRequest(body: unknown): StreamRequest {
  if (!isObject(body)) throw new StreamError('invalid-argument', 'the body must be a JSON object');
  if (typeof body.newEnabled !== 'boolean')
    throw new StreamError('invalid-argument', 'newEnabled must be a boolean', 'newEnabled');
  return { ...s3ConfigRequest(body.newS3Configuration, 'newS3Configuration'), paused: !body.newEnabled };
}

/**
 * The stream as Pulumi's settings. `lastResult` is the latest delivery attempt: a success (`message` `""`) or the
 * last error, whichever is newer; `{timestamp: 0, message: ""}` before the first. Times are unix seconds.
 */
export function exportSettings(view: StreamView): OrganizationAuditLogExportSettings {
  const s = view.stream;
  const d = s.destination;
  if (d.kind !== 's3') throw new Error(`log stream "${s.name}" is not an s3 stream`);
  return {
    enabled: !s.paused,
    s3Config: { s3BucketName: d.bucket, s3PathPrefix: d.prefix, iamRoleArn: d.iamRoleArn ?? '' },
    lastResult: exportResult(
      s.lastErrorAt !== undefined && (s.lastSuccess ?? -1) < s.lastErrorAt
        ? { at: s.lastErrorAt, error: s.lastError ?? 'failed' }
        : { at: s.lastSuccess ?? 0 },
    ),
  };
}

export const exportResult = (attempt: ExportAttempt): AuditLogExportResult => ({
  timestamp: Math.floor(attempt.at / 1000),
  message: attempt.error ?? '',
});

/** The hour `force?timestamp=<unix seconds>` exports: the one containing it, as epoch milliseconds. */
export function exportHour(timestamp: number): { since: number; before: number } {
  if (timestamp > MAX_EXPORT_TIMESTAMP)
    throw new StreamError(
      'invalid-argument',
      `timestamp must be at most ${MAX_EXPORT_TIMESTAMP}`,
      'timestamp',
    );
  const since = Math.floor((timestamp * 1000) / HOUR_MS) * HOUR_MS;
  return { since, before: since + HOUR_MS };
}

/**
 * Says what is missing when the organization has no stream to take the connection from and the request did not
 * bring one: Pulumi's sentence, then Vigil's reason. Other errors are answered as they are, under Pulumi's names.
 */
function explained(error: unknown): never {
  if (!(error instanceof StreamError)) throw error;
  if (error.param === 'accessKeyId' || error.param === 'secretAccessKey')
    throw new StreamError(
      'invalid-argument',
      `${NOT_AVAILABLE} No S3 credentials are configured: send endpoint, region, accessKeyId, secretAccessKey (and pathStyle) beside s3BucketName, or create the s3 log stream "${EXPORT_STREAM_NAME}" first.`,
      error.param,
    );
  const param = error.param && (PULUMI_FIELDS[error.param] ?? error.param);
  throw new StreamError(error.code, error.message, param);
}

/** Pulumi's `…/export/config` operations, each over the organization's export stream. */
export function exportConfig(logStreams: LogStreamService) {
  const NAME = EXPORT_STREAM_NAME;
  return {
    /** GET: undefined when not configured (404). */
    async get(caller: Caller, org: string): Promise<OrganizationAuditLogExportSettings | undefined> {
      const view = await logStreams.getNamed(caller, org, NAME);
      return view && exportSettings(view);
    },

    /** POST: creates the stream (from now on; Pulumi exports no history) or changes it. */
    async update(caller: Caller, org: string, body: unknown): Promise<void> {
      await logStreams.upsertNamed(caller, org, NAME, exportSettingsRequest(body)).catch(explained);
    },

    /** DELETE: the stream, with its credentials. */
    async remove(caller: Caller, org: string): Promise<void> {
      await logStreams.removeNamed(caller, org, NAME).catch(notConfigured);
    },

    /** POST `…/test`: a test object written with the body's settings over the stream's. */
    async test(caller: Caller, org: string, body: unknown): Promise<AuditLogExportResult> {
      const request = s3ConfigRequest(body);
      return exportResult(await logStreams.testNamed(caller, org, NAME, request).catch(explained));
    },

    /** POST `…/force?timestamp=`: the hour containing `timestamp`, sent again. */
    async force(caller: Caller, org: string, timestamp: number): Promise<AuditLogExportResult> {
      const hour = exportHour(timestamp);
      return exportResult(await logStreams.exportNamed(caller, org, NAME, hour).catch(notConfigured));
    },
  };
}

/** No export stream: Pulumi's 400 (not a 404) for DELETE and force. */
function notConfigured(error: unknown): never {
  if (error instanceof StreamError && error.code === 'not-found')
    throw new StreamError('invalid-argument', NOT_CONFIGURED);
  throw error;
}

export type ExportConfig = ReturnType<typeof exportConfig>;
