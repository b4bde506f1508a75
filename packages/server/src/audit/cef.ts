import type { AuditLogEvent } from './pulumi-event.js';

/** CEF header constants. Pulumi does not document its own (reference §1.5, unverified); these are Vigil's. */
export const CEF_VENDOR = 'Vigil';
export const CEF_PRODUCT = 'Vigil';
export const CEF_VERSION = '1';
/** Severity 0–10: refused attempts stand out; everything else is routine. */
export const CEF_SEVERITY = { authFailure: 7, admin: 5, routine: 3 } as const;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * One CEF line in a syslog prefix, as Pulumi's export (`MMM dd HH:mm:ss host CEF:0|…`, UTC):
 * `CEF:0|Vigil|Vigil|1|<event id>|<description>|<severity>|dvchost=… rt=… src=… suser=… orgID=… …`.
 * `rt` is the event time in epoch milliseconds (CEF's numeric form).
 */
export function cefLine(
  event: AuditLogEvent,
  context: { org: string; host: string; timeMs: number },
): string {
  const severity = event.authFailure
    ? CEF_SEVERITY.authFailure
    : event.reqOrgAdmin
      ? CEF_SEVERITY.admin
      : CEF_SEVERITY.routine;
  const header = [
    'CEF:0',
    cefHeader(CEF_VENDOR),
    cefHeader(CEF_PRODUCT),
    cefHeader(CEF_VERSION),
    cefHeader(event.event),
    cefHeader(event.description),
    String(severity),
  ].join('|');
  const extension: Array<[string, string]> = [
    ['dvchost', context.host],
    ['rt', String(context.timeMs)],
    ['src', event.sourceIP],
    ['suser', event.user.githubLogin],
    ['orgID', context.org],
    ['requireOrgAdmin', String(event.reqOrgAdmin === true)],
    ['requireStackAdmin', String(event.reqStackAdmin === true)],
    ['authenticationFailure', String(event.authFailure === true)],
  ];
  const ext = extension.map(([k, v]) => `${k}=${cefExtension(v)}`).join(' ');
  return `${syslogTime(context.timeMs)} ${context.host} ${header}|${ext}\n`;
}

/** CEF header field: `\` and `|` escaped; a line break would end the record, so it becomes a space. */
export function cefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');
}

/** CEF extension value: `\` and `=` escaped, CR and LF written as `\r` and `\n`. */
export function cefExtension(value: string): string {
  return value
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n');
}

/**
 * `MMM dd HH:mm:ss`, UTC. A time beyond JavaScript's dates (only a record edited by hand holds one) has no such
 * form: the prefix then shows the epoch, and `rt` the record's own value.
 */
function syslogTime(ms: number): string {
  let d = new Date(ms);
  if (Number.isNaN(d.getTime())) d = new Date(0);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}
