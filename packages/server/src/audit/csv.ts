import type { CsvFields } from './pulumi-event.js';

/** Pulumi's export header, exactly (audit-log reference §1.5). */
export const CSV_HEADER =
  'Timestamp,Name,Login,Event,Description,SourceIP,RequireOrgAdmin,RequireStackAdmin,AuthenticationFailure';

/** RFC 4180 line ending. */
const CRLF = '\r\n';

/**
 * One CSV line (with its CRLF) per event: Pulumi's columns, RFC 3339 UTC seconds, `true`/`false`. Exports call it
 * for every entry (with `csvFields` of the entry): one concatenation, no intermediate array.
 */
export function csvLine(event: CsvFields): string {
  return (
    csvCell(rfc3339(event.timestamp)) +
    ',' +
    csvCell(event.name) +
    ',' +
    csvCell(event.login) +
    ',' +
    csvCell(event.event) +
    ',' +
    csvCell(event.description) +
    ',' +
    csvCell(event.sourceIP) +
    (event.reqOrgAdmin ? ',true' : ',false') +
    (event.reqStackAdmin ? ',true' : ',false') +
    (event.authFailure ? ',true' : ',false') +
    CRLF
  );
}

export function csvHeaderLine(): string {
  return CSV_HEADER + CRLF;
}

/** Characters that make a spreadsheet evaluate a cell as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** Characters that make RFC 4180 quote a cell. */
const QUOTED = /[",\r\n]/;
/** Either: most cells have neither, and are written as they are after one test. */
const SPECIAL = /^[=+\-@\t\r]|[",\r\n]/;

/**
 * One cell. Text that a spreadsheet would execute (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading
 * `'`, which spreadsheets show as text; then RFC 4180: a cell holding `"`, `,`, CR or LF is quoted, `"` doubled.
 * Descriptions quote user-chosen names and values (tags, team descriptions): they are attacker-controlled.
 */
export function csvCell(value: string): string {
  if (!SPECIAL.test(value)) return value;
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return QUOTED.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

const DAY_SECONDS = 86_400;
/** Largest magnitude of a JavaScript date, in milliseconds. */
const DATE_LIMIT_MS = 8.64e15;
/** `DATE_LIMIT_MS` less a day (the day's start must be a date too). */
const MAX_DATE_MS = DATE_LIMIT_MS - DAY_SECONDS * 1000;

/**
 * Unix seconds → `2021-04-11T23:51:45Z` (a year beyond 9999 or before 0 as `toISOString` writes it). A time beyond
 * JavaScript's dates (±275,760 years: only a record edited by hand holds one) is written as its number of seconds:
 * the value is kept, and the export goes on.
 */
export function rfc3339(seconds: number): string {
  // Exports format runs of events from the same second, and of the same day: remember the last of each.
  if (seconds === last.seconds) return last.text;
  if (!(Math.abs(seconds * 1000) <= DATE_LIMIT_MS)) return String(seconds);
  if (!Number.isInteger(seconds) || Math.abs(seconds * 1000) > MAX_DATE_MS)
    return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const day = Math.floor(seconds / DAY_SECONDS);
  if (day !== last.day) {
    const iso = new Date(day * DAY_SECONDS * 1000).toISOString();
    last.day = day;
    last.date = iso.slice(0, iso.indexOf('T') + 1);
  }
  const s = seconds - day * DAY_SECONDS;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  last.seconds = seconds;
  last.text = `${last.date}${two(h)}:${two(m)}:${two(s % 60)}Z`;
  return last.text;
}
const last = { seconds: Number.NaN, text: '', day: Number.NaN, date: '' };

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
