// Shared setup of the log-stream suites: real receivers (an HTTP endpoint that checks the HMAC, a TCP or TLS
// syslog collector that parses RFC 5425 octet-counted frames) and a server that can be stopped and started
// again on the same database.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { generateSignerKey } from '@vigil/ledger';
import { parseExportLine } from '@vigil/protocol';
import { loadConfig } from '../src/config/config.js';
import { createServer, type Server, type ServerOptions } from '../src/server.js';
import type { TestDatabase } from './support/databases.js';
import { ADMIN_TOKEN } from './support/server.js';

export const ORG = 'acme';

/** Fast delivery for tests: look every 50 ms, give up on a receiver after 1 s, back off from 50 ms to 200 ms. */
export const FAST_STREAMS: NonNullable<ServerOptions['streams']> = {
  intervalMs: 50,
  timeoutMs: 1000,
  backoff: { baseMs: 50, maxMs: 200 },
};

export interface StreamingServer {
  readonly server: Server;
  readonly url: string;
  readonly log: string[];
  call(method: string, path: string, body?: unknown, token?: string): Promise<Response>;
  close(): Promise<void>;
}

/** Signing keys per database: a restarted server must sign with the key its database knows. */
const keys = new WeakMap<TestDatabase, string>();

/** A server on `db` (closing it keeps the database, so another can start on it). */
export async function startStreaming(
  db: TestDatabase,
  streams: ServerOptions['streams'] = FAST_STREAMS,
): Promise<StreamingServer> {
  if (!keys.has(db)) keys.set(db, generateSignerKey('vigil.test').privateKey);
  const config = loadConfig({
    VIGIL_DATA_DIR: db.dataDir,
    VIGIL_DATABASE_URL: db.databaseUrl,
    VIGIL_LOG_ORIGIN: 'vigil.test',
    VIGIL_SIGNING_KEY: keys.get(db)!,
    VIGIL_BOOTSTRAP_TOKEN: ADMIN_TOKEN,
    VIGIL_CHECKPOINT_INTERVAL_MS: '50',
  });
  const log: string[] = [];
  const server = await createServer(config, {
    schema: db.schema,
    logger: { write: (line: string) => void log.push(line) },
    streams,
  });
  const url = await server.app.fastify.listen({ port: 0, host: '127.0.0.1' });
  return {
    server,
    url,
    log,
    call: (method, path, body, token = ADMIN_TOKEN) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `token ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    close: () => server.close(),
  };
}

/** One delivered event: its log index and its record. */
export interface Delivered {
  readonly index: number;
  readonly record: Record<string, unknown> & { event: string };
}

function decode(line: Uint8Array): Delivered {
  const parsed = parseExportLine(line);
  if (!parsed) throw new Error(`not an export line: ${Buffer.from(line).toString()}`);
  return {
    index: parsed.index,
    record: JSON.parse(Buffer.from(parsed.entry).toString()) as Delivered['record'],
  };
}

export interface WebhookReceiver {
  readonly url: string;
  /** Set once the stream is created (the secret is answered then). */
  secret: string | undefined;
  /** Events of every acknowledged request, in arrival order (duplicates included). */
  readonly events: Delivered[];
  readonly requests: number;
  /** Requests whose signature did not verify (answered 401). */
  readonly badSignatures: number;
  readonly headers: IncomingMessage['headers'][];
  close(): Promise<void>;
}

/**
 * An HTTP receiver. `fail` answers 500 to the first N requests; `hang` never answers. A request is recorded only if
 * its `X-Vigil-Signature` is the HMAC of its body under `secret`.
 */
export async function webhookReceiver(
  options: { fail?: number; hang?: boolean } = {},
): Promise<WebhookReceiver> {
  let requests = 0;
  let badSignatures = 0;
  const events: Delivered[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const receiver: WebhookReceiver = {
    url: '',
    secret: undefined,
    events,
    headers,
    get requests() {
      return requests;
    },
    get badSignatures() {
      return badSignatures;
    },
    close: async () => {},
  };
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      requests++;
      if (options.hang) return;
      if (options.fail !== undefined && requests <= options.fail) {
        response.writeHead(500).end('try later');
        return;
      }
      const body = Buffer.concat(chunks);
      const expected = Buffer.from(
        `sha256=${createHmac('sha256', receiver.secret ?? '')
          .update(body)
          .digest('hex')}`,
      );
      const given = Buffer.from(String(request.headers['x-vigil-signature'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        badSignatures++;
        response.writeHead(401).end();
        return;
      }
      headers.push(request.headers);
      for (const line of body.toString().split('\n').filter(Boolean)) events.push(decode(Buffer.from(line)));
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook?tenant=t1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export interface SyslogReceiver {
  readonly port: number;
  /** Every frame's message, in arrival order. */
  readonly messages: string[];
  close(): Promise<void>;
}

/** Splits RFC 5425 octet-counted frames (`LEN SP MSG`) out of a TCP stream; a malformed frame fails the test. */
function frameParser(onMessage: (message: string) => void): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const space = buffer.indexOf(0x20);
      if (space < 0) return;
      const digits = buffer.subarray(0, space).toString();
      if (!/^[1-9][0-9]*$/.test(digits)) throw new Error(`bad frame length "${digits}"`);
      const length = Number(digits);
      if (buffer.length < space + 1 + length) return;
      onMessage(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
      buffer = buffer.subarray(space + 1 + length);
    }
  };
}

/** A syslog collector over TCP, or TLS when given a key and certificate. */
export async function syslogReceiver(tls?: { key: string; cert: string }): Promise<SyslogReceiver> {
  const messages: string[] = [];
  const handle = (socket: Socket) => {
    const parse = frameParser((m) => messages.push(m));
    socket.on('data', parse);
    socket.on('error', () => {});
  };
  const server: NetServer = tls ? createTlsServer(tls, handle) : createTcpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Parses one RFC 5424 message as Vigil writes it. */
export function parseSyslog(message: string) {
  const m =
    /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[vigil@32473 index="(\d+)" org="([^"]*)" event="([^"]*)"(?: outcome="([^"]*)")?\] (.*)$/s.exec(
      message,
    );
  if (!m) throw new Error(`not an RFC 5424 message of Vigil's: ${message}`);
  return {
    pri: Number(m[1]),
    timestamp: m[2]!,
    appName: m[4]!,
    msgId: m[6]!,
    index: Number(m[7]),
    event: m[9]!,
    outcome: m[10],
    body: decode(Buffer.from(m[11]!)),
  };
}

/** Polls `condition` every 25 ms until it holds or `timeoutMs` passes. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Distinct delivered indexes, sorted. */
export const indexesOf = (events: readonly Delivered[]): number[] =>
  [...new Set(events.map((e) => e.index))].sort((a, b) => a - b);
