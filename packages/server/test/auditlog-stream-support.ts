// Shared setup of the log-stream suites: real receivers (an HTTP endpoint that checks the HMAC, a TCP or TLS
// syslog collector that parses RFC 5425 octet-counted frames, an S3-compatible server) and a server that can be
// stopped and started again on the same database.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createTcpServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { generateSignerKey } from '@vigil/ledger';
import { parseExportLine } from '@vigil/protocol';
import S3rver from 's3rver';
import { expect } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createServer, type Server, type ServerOptions } from '../src/server.js';
import type { TestDatabase } from './support/databases.js';
import { ADMIN_TOKEN, testServerEnv } from './support/server.js';

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
  const config = loadConfig({ ...testServerEnv(db, keys.get(db)), VIGIL_CHECKPOINT_INTERVAL_MS: '50' });
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
  /** Requests held open right now (`hang`). */
  readonly open: number;
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
  let open = 0;
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
    get open() {
      return open;
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
      if (options.hang) {
        open++;
        response.on('close', () => open--);
        return;
      }
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

// ---- calls the suites share ----

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A successful answer's JSON body (`{}` when empty); anything else fails the test with the body. */
export async function json(response: Response): Promise<Json> {
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  const text = await response.text();
  return (text ? JSON.parse(text) : {}) as Json;
}

export const createEnv = async (running: StreamingServer, name: string) =>
  json(await running.call('POST', `/api/esc/environments/${ORG}`, { project: 'app', name }));

/** A stream's `health`, through the API. */
export const health = async (running: StreamingServer, id: string) =>
  (await json(await running.call('GET', `/api/orgs/${ORG}/auditlogs/streams/${id}`))).health as Json;

export const logSize = (running: StreamingServer) => running.server.ledger.size(ORG);

/** Every record of the organization's log, parsed, in index order. */
export async function records(running: StreamingServer): Promise<Json[]> {
  const out: Json[] = [];
  for await (const e of running.server.ledger.entries(ORG, 0, await logSize(running)))
    out.push(JSON.parse(Buffer.from(e.data).toString()) as Json);
  return out;
}

/** Distinct delivered indexes, sorted. */
export const indexesOf = (events: readonly Delivered[]): number[] =>
  [...new Set(events.map((e) => e.index))].sort((a, b) => a - b);

// ---- S3 ----

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** What a SigV4 signature covers: the canonical request's parts, the scope and the key. */
export interface SigV4Input {
  readonly method: string;
  /** The canonical URI: the path as sent (S3 does not encode it twice). */
  readonly path: string;
  /** The canonical query string ('' for none). */
  readonly query?: string;
  /** Header values by lower-case name. */
  readonly headers: Readonly<Record<string, string>>;
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
  /** `YYYYMMDDTHHMMSSZ` */
  readonly amzDate: string;
  readonly region: string;
  readonly service: string;
  readonly secretAccessKey: string;
}

/**
 * The hex signature of AWS Signature Version 4, written from AWS's specification independently of the `aws4`
 * package the server signs with, and checked against AWS's published examples (auditlog-stream-s3.test.ts).
 */
export function sigV4Signature(i: SigV4Input): string {
  const canonical = [
    i.method,
    i.path,
    i.query ?? '',
    ...i.signedHeaders.map((n) => `${n}:${(i.headers[n] ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    i.signedHeaders.join(';'),
    i.payloadHash,
  ].join('\n');
  const day = i.amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/${i.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', i.amzDate, scope, sha256Hex(canonical)].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${i.secretAccessKey}`).update(day).digest();
  for (const part of [i.region, i.service, 'aws4_request'])
    key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(toSign).digest('hex');
}

/** What the receiver does with a request: store it, store it but answer 500, refuse connections, never answer. */
export type S3Mode = 'up' | 'lose-answer' | 'down' | 'hang';

export interface S3Put {
  readonly key: string;
  /** Whether the answer Vigil got was a success (`lose-answer` stores the object and answers 500). */
  readonly acknowledged: boolean;
}

export interface S3Object {
  readonly key: string;
  readonly contentType: string | null;
  readonly body: Buffer;
}

export interface S3Receiver {
  /** The endpoint Vigil is given: the signature-checking front of the S3 server. */
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Every stored PUT, in arrival order. */
  readonly puts: S3Put[];
  /** Requests refused because the access key or the signature did not verify. */
  readonly badSignatures: number;
  /** Requests held open by `hang`. */
  readonly hanging: number;
  mode(mode: S3Mode): Promise<void>;
  /** The objects under `prefix`, read from the S3 server itself. */
  objects(prefix: string): Promise<S3Object[]>;
  close(): Promise<void>;
}

const s3Error = (response: ServerResponse, status: number, code: string) =>
  response
    .writeHead(status, { 'content-type': 'application/xml' })
    .end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>refused</Message></Error>`,
    );

/**
 * An S3-compatible receiver: `s3rver` (from npm) behind a front that checks AWS Signature Version 4 and the
 * payload hash (s3rver checks the access key id but not V4 signatures), then hands the request to s3rver
 * unchanged. The front is what fails on demand (`mode`); s3rver keeps the objects.
 */
export async function s3Receiver(): Promise<S3Receiver> {
  const directory = mkdtempSync(join(tmpdir(), 'vigil-s3-'));
  const bucket = 'vigil-audit';
  const region = 'eu-central-1';
  // s3rver knows one access key, S3RVER; the secret is checked here.
  const accessKeyId = 'S3RVER';
  const secretAccessKey = `s3-secret-${Math.random().toString(36).slice(2)}-do-not-leak`;
  const s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port: s3Port } = await s3.run();
  const puts: S3Put[] = [];
  const held = new Set<ServerResponse>();
  let badSignatures = 0;
  let mode: S3Mode = 'up';

  /** Why the request's credentials or signature are refused (an S3 error code), or undefined. */
  function refusal(request: IncomingMessage, body: Buffer): string | undefined {
    const auth =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        String(request.headers.authorization ?? ''),
      );
    if (!auth || auth[1] !== accessKeyId) return 'InvalidAccessKeyId';
    if (auth[3] !== region) return 'AuthorizationHeaderMalformed';
    const payloadHash = String(request.headers['x-amz-content-sha256'] ?? '');
    if (payloadHash !== sha256Hex(body)) return 'XAmzContentSHA256Mismatch';
    const signedHeaders = auth[4]!.split(';');
    if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) return 'AccessDenied';
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) headers[name] = String(request.headers[name] ?? '');
    const [path, query = ''] = (request.url ?? '/').split('?');
    const expected = sigV4Signature({
      method: request.method ?? 'GET',
      path: path!,
      query,
      headers,
      signedHeaders,
      payloadHash,
      amzDate: headers['x-amz-date']!,
      region,
      service: 's3',
      secretAccessKey,
    });
    return timingSafeEqual(Buffer.from(expected), Buffer.from(auth[5]!))
      ? undefined
      : 'SignatureDoesNotMatch';
  }

  function forward(request: IncomingMessage, body: Buffer, response: ServerResponse, acknowledged: boolean) {
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: s3Port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        if (answer.statusCode === 200 && request.method === 'PUT')
          puts.push({
            key: decodeURIComponent((request.url ?? '').split('?')[0]!.slice(bucket.length + 2)),
            acknowledged,
          });
        if (acknowledged) {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        } else {
          answer.resume();
          s3Error(response, 500, 'InternalError');
        }
      },
    );
    upstream.on('error', () => s3Error(response, 502, 'BadGateway'));
    upstream.end(body);
  }

  const front = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      if (mode === 'hang') {
        held.add(response);
        return;
      }
      const body = Buffer.concat(chunks);
      const refused = refusal(request, body);
      if (refused !== undefined) {
        badSignatures++;
        s3Error(response, 403, refused);
        return;
      }
      forward(request, body, response, mode !== 'lose-answer');
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve) => front.listen(port, '127.0.0.1', () => resolve()));
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const r of held) r.destroy();
      held.clear();
      front.closeAllConnections();
      front.close(() => resolve());
    });
  await listen(0);
  const port = (front.address() as { port: number }).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    puts,
    get badSignatures() {
      return badSignatures;
    },
    get hanging() {
      return held.size;
    },
    async mode(next) {
      if (mode === 'down' && next !== 'down') await listen(port);
      if (mode !== 'down' && next === 'down') await stop();
      if (mode === 'hang' && next !== 'hang') {
        for (const r of held) r.destroy();
        held.clear();
      }
      mode = next;
    },
    async objects(prefix) {
      const base = `http://127.0.0.1:${s3Port}/${bucket}`;
      const listing = await (await fetch(`${base}?list-type=2&prefix=${encodeURIComponent(prefix)}`)).text();
      const keys = [...listing.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
      return Promise.all(
        keys.map(async (key) => {
          const got = await fetch(`${base}/${key}`);
          return {
            key,
            contentType: got.headers.get('content-type'),
            body: Buffer.from(await got.arrayBuffer()),
          };
        }),
      );
    },
    async close() {
      if (mode !== 'down') await stop();
      await s3.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** An object's events: its body gunzipped, each JSON line decoded. */
export const objectEvents = (object: S3Object): Delivered[] =>
  gunzipSync(object.body)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => decode(Buffer.from(line)));
