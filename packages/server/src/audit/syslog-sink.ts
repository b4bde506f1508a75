import { hostname } from 'node:os';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { formatExportLine } from '@vigil/protocol';
import type { SelectedEntry } from './audit-query.js';
import { DeliveryError, networkFailure } from './stream-delivery-error.js';

/** RFC 5424 §6.2.1 facility 13, "log audit". */
export const SYSLOG_FACILITY = 13;
/** Severity of a completed action (5, notice) and of a refused one (4, warning). */
export const SYSLOG_SEVERITY = { success: 5, denied: 4 } as const;
/**
 * The SD-ID of Vigil's structured data. 32473 is the private enterprise number IANA reserves for documentation
 * (RFC 5612); an operator's collector keys on the name, not the number.
 */
export const SYSLOG_SD_ID = 'vigil@32473';
export const SYSLOG_APP_NAME = 'vigil';

/** RFC 5424 §6.2.4: HOSTNAME is 1–255 printable US-ASCII characters (33–126). */
const HOST = (hostname().replace(/[^\x21-\x7e]/g, '') || 'vigil').slice(0, 255);

/** RFC 5424 §6.3.3: inside a PARAM-VALUE, `"`, `\` and `]` are escaped with `\`. */
const sdValue = (value: string): string => value.replace(/["\\\]]/g, (c) => `\\${c}`);

/**
 * One event as an RFC 5424 message (without framing):
 *
 *     <PRI>1 TIMESTAMP HOSTNAME vigil PROCID audit [vigil@32473 index="N" org="…" event="…" outcome="…"] MSG
 *
 * PRI = facility × 8 + severity. TIMESTAMP is the record's time (RFC 3339, UTC, milliseconds). MSG is the
 * `format=jsonl` line of the entry (`{"index":N,"entry":…}`): the exact bytes the tree hashes, verifiable.
 */
export function syslogMessage(entry: SelectedEntry, procId: string = String(process.pid)): Buffer {
  const record = JSON.parse(Buffer.from(entry.data).toString('utf8')) as {
    time?: number;
    org?: string;
    event?: string;
    outcome?: string;
  };
  const severity = record.outcome === 'denied' ? SYSLOG_SEVERITY.denied : SYSLOG_SEVERITY.success;
  const time = new Date(typeof record.time === 'number' ? record.time : 0).toISOString();
  const params = [
    `index="${entry.index}"`,
    `org="${sdValue(String(record.org ?? ''))}"`,
    `event="${sdValue(String(record.event ?? ''))}"`,
    ...(record.outcome ? [`outcome="${sdValue(record.outcome)}"`] : []),
  ];
  const head = `<${SYSLOG_FACILITY * 8 + severity}>1 ${time} ${HOST} ${SYSLOG_APP_NAME} ${procId} audit [${SYSLOG_SD_ID} ${params.join(' ')}] `;
  const line = formatExportLine(entry.index, entry.data);
  return Buffer.concat([Buffer.from(head), line.subarray(0, line.length - 1)]);
}

/** RFC 5425 §4.3 octet-counting framing: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN in bytes. */
export function octetFrame(message: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `), message]);
}

/**
 * Sends one batch over a connection of its own, TCP or TLS (RFC 5425; the server's certificate is checked against
 * `ca` or the system's roots, and its name against `host`). Acknowledged means every frame was written and the
 * connection's end flushed to the collector without error: syslog has no application-level acknowledgement.
 */
export async function deliverSyslog(
  destination: { host: string; port: number; tls: boolean; ca?: string },
  entries: readonly SelectedEntry[],
  options: { timeoutMs: number },
): Promise<void> {
  const payload = Buffer.concat(entries.map((e) => octetFrame(syslogMessage(e))));
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve();
      else reject(networkFailure(error));
    };
    const socket: Socket = destination.tls
      ? connectTls({
          host: destination.host,
          port: destination.port,
          ...(isIP(destination.host) ? {} : { servername: destination.host }),
          ...(destination.ca ? { ca: destination.ca } : {}),
        })
      : connectTcp({ host: destination.host, port: destination.port });
    const timer = setTimeout(() => finish(new DeliveryError('timeout')), options.timeoutMs);
    socket.on('error', finish);
    socket.once(destination.tls ? 'secureConnect' : 'connect', () => {
      socket.end(payload, () => finish());
    });
  });
}
