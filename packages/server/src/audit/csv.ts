import type { AuditLogEvent } from './pulumi-event.js';

/** Pulumi's export header, exactly (audit-log reference §1.5). */
export const CSV_HEADER =
  'Timestamp,Name,Login,Event,Description,SourceIP,RequireOrgAdmin,RequireStackAdmin,AuthenticationFailure';

/** RFC 4180 line ending. */
const CRLF = '\r\n';

/** One CSV line (with its CRLF) per event: Pulumi's columns, RFC 3339 UTC seconds, `true`/`false`. */
export function csvLine(event: AuditLogEvent): string {
  return (
    [
      rfc3339(event.timestamp),
      event.user.name,
      event.user.githubLogin,
      event.event,
      event.description,
      event.sourceIP,
      String(event.reqOrgAdmin === true),
      String(event.reqStackAdmin === true),
      String(event.authFailure === true),
    ]
      .map(csvCell)
      .join(',') + CRLF
  );
}

export function csvHeaderLine(): string {
  return CSV_HEADER + CRLF;
}

/** Characters that make a spreadsheet evaluate a cell as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One cell. Text that a spreadsheet would execute (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading
 * `'`, which spreadsheets show as text; then RFC 4180: a cell holding `"`, `,`, CR or LF is quoted, `"` doubled.
 * Descriptions quote user-chosen names and values (tags, team descriptions): they are attacker-controlled.
 */
export function csvCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** Unix seconds → `2021-04-11T23:51:45Z`. */
export function rfc3339(seconds: number): string {
  // Exports format runs of events from the same second: remember the last one.
  if (seconds !== lastSeconds) {
    lastSeconds = seconds;
    lastText = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return lastText;
}
let lastSeconds = Number.NaN;
let lastText = '';
