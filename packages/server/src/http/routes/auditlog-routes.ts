import { hostname } from 'node:os';
import { EVENT_TYPES, formatExportLine, resolveEventName, type EventId } from '@vigil/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLogService, ExportPages } from '../../audit/audit-log-service.js';
import type { AuditSelection, SelectedEntry, TextPage } from '../../audit/audit-query.js';
import { formatContinuationToken, parseContinuationToken } from '../../audit/continuation-token.js';
import { csvHeaderLine, rfc3339 } from '../../audit/csv.js';
import { ExportRenderer, type RenderContext, type RenderedFormat } from '../../audit/export-render.js';
import { parseQuery, QueryError, type QueryNode } from '../../audit/query-language.js';
import type { Authenticate } from '../authenticate.js';
import { gzipped } from '../gzipped.js';
import { ProblemError } from '../problem-reply.js';
import type { RouteAudit } from '../route-audit.js';

/** Events per page of `…/auditlogs` and `…/auditlogs/v2` (Pulumi documents none): a console screenful. */
export const AUDIT_LOG_PAGE_SIZE = 100;
/** Latest time a query may name: 9999-12-31T23:59:59Z in unix seconds (milliseconds stay safe integers). */
export const MAX_QUERY_TIME = 253_402_300_799;
/** Longest `userFilter` accepted (logins are far shorter). */
export const MAX_USER_FILTER = 256;
/** Export formats: Pulumi's two, then Vigil's (docs/api.md). */
export const EXPORT_FORMATS = ['csv', 'cef', 'jsonl', 'ocsf'] as const;
type ExportFormat = (typeof EXPORT_FORMATS)[number];
/** Export bytes gathered before a chunk goes to the compressor. */
const EXPORT_CHUNK_BYTES = 64 * 1024;

type Query = Record<string, unknown>;
type Req = FastifyRequest<{ Params: { org: string }; Querystring: Query }>;
type Version = 'v1' | 'v2';

const exempt = (reason: string): { config: { audit: RouteAudit } } => ({
  config: { audit: { exempt: reason } },
});
const READS = exempt(
  'reading the log is not recorded (as on Pulumi Cloud; a poller would fill the log with its own reads); refusals are recorded',
);
const EXPORTS: { config: { audit: RouteAudit } } = { config: { audit: { action: 'audit-log-exported' } } };

/**
 * Pulumi Cloud's audit-log API (issue #6): list (V1 and V2 time semantics), export as gzip-compressed CSV or CEF,
 * and the event-type catalog. Answers in Pulumi's shapes and error format; docs/api.md describes the differences.
 */
export function auditLogRoutes(
  app: FastifyInstance,
  deps: { auditLog: AuditLogService; authenticate: Authenticate },
): void {
  const { auditLog, authenticate } = deps;
  const base = '/api/orgs/:org/auditlogs';
  const host = hostname().replace(/\s/g, '') || 'vigil';
  const renderer = new ExportRenderer({ threadQueue: RENDER_THREAD_QUEUE });
  app.addHook('onClose', () => renderer.close());

  for (const version of ['v1', 'v2'] as const) {
    const path = version === 'v1' ? base : `${base}/v2`;

    app.get(path, READS, async (request: Req) => {
      const caller = await authenticate(request);
      const format = single(request.query, 'format');
      if (format !== undefined && format !== 'json')
        throw new ProblemError(
          'invalid-parameter',
          'format must be json (export offers csv, cef, jsonl and ocsf)',
          'format',
        );
      const selection = parseSelection(request.query, version);
      if (
        version === 'v1' &&
        single(request.query, 'continuationToken') === undefined &&
        single(request.query, 'startTime') === undefined
      )
        throw new ProblemError(
          'invalid-parameter',
          'either continuationToken or startTime is required',
          'startTime',
        );
      const page = await auditLog.list(caller, request.params.org, selection, AUDIT_LOG_PAGE_SIZE);
      return {
        auditLogEvents: page.events,
        ...(page.next === undefined ? {} : { continuationToken: formatContinuationToken(page.next) }),
      };
    });

    app.get(`${path}/export`, EXPORTS, async (request: Req, reply) => {
      const caller = await authenticate(request);
      const org = request.params.org;
      const requested = single(request.query, 'format') ?? 'csv';
      const format = EXPORT_FORMATS.find((f) => f === requested);
      if (!format)
        throw new ProblemError('invalid-parameter', 'format must be csv, cef, jsonl or ocsf', 'format');
      const selection = parseSelection(request.query, version);
      const pages = await auditLog.export(
        caller,
        org,
        selection,
        `Exported the audit log of organization "${org}" as ${format.toUpperCase()} (${describe(request.query, version)})`,
      );
      const body = gzipped(
        exportChunks(pages, format, renderer, { org, host }),
        // The rendered formats' chunks come from the renderer, whose buffers they may take again.
        format === 'jsonl' ? () => {} : (chunk) => renderer.giveBack(chunk),
        // A client that goes away ends the stream early: not an error worth more than a line.
        (error) =>
          request.log.info({ code: (error as { code?: string }).code }, 'audit log export ended early'),
      );
      // Pulumi: "The response is always gzip compressed" (whatever Accept-Encoding says), text/plain; Vigil's JSON
      // lines formats are NDJSON, gzip-compressed the same way.
      const lines = format === 'jsonl' || format === 'ocsf';
      return reply
        .header('content-encoding', 'gzip')
        .header(
          'content-disposition',
          `attachment; filename="auditlogs.${format === 'ocsf' ? 'ocsf.jsonl' : format}"`,
        )
        .header('cache-control', 'no-store')
        .type(lines ? 'application/x-ndjson' : 'text/plain; charset=utf-8')
        .send(body);
    });
  }

  app.get(
    `${base}/event-types`,
    exempt('the static event catalog, the same for every organization'),
    async (request: Req) => {
      await authenticate(request);
      return {
        eventTypes: EVENT_TYPES.map((e) => ({
          event: e.id,
          displayName: e.displayName,
          description: e.description,
          requiresOrgAdmin: e.requiresOrgAdmin,
          requiresStackAdmin: e.requiresStackAdmin,
          authenticationFailure: e.authenticationFailure,
          deprecated: e.deprecated,
        })),
      };
    },
  );
}

/**
 * Pages an export has in flight: up to `RENDER_THREAD_QUEUE` at the render thread, and this thread reads and renders
 * the others while the thread works. Measured with bench/auditlog.ts (SQLite, 300k events, first/warm export, when
 * pages still crossed as bytes): every page to the thread, 2 in flight, 171k/182k rows/s; 2 at the thread with 4 in
 * flight, 176–184k/205–214k; 1 and 3, or 3 and 6, no better.
 */
const RENDER_AHEAD = 4;
const RENDER_THREAD_QUEUE = 2;

/**
 * The export body: `jsonl` in chunks of about `EXPORT_CHUNK_BYTES` of the entries' exact bytes (never
 * re-encoded); the rendered formats one chunk per page, read as text and rendered on the render thread
 * (`ExportRenderer`) while the next pages are read, or here when the thread already holds enough, and sent in
 * order.
 */
async function* exportChunks(
  pages: ExportPages,
  format: ExportFormat,
  renderer: ExportRenderer,
  context: RenderContext,
): AsyncGenerator<Buffer> {
  if (format === 'jsonl') yield* jsonlChunks(pages.bytes());
  else yield* renderedChunks(pages.text(), format, renderer, context);
}

async function* jsonlChunks(pages: AsyncGenerator<SelectedEntry[]>): AsyncGenerator<Buffer> {
  try {
    let lines: Uint8Array[] = [];
    let size = 0;
    for await (const page of pages)
      for (const entry of page) {
        const line = formatExportLine(entry.index, entry.data);
        lines.push(line);
        size += line.length;
        if (size >= EXPORT_CHUNK_BYTES) {
          yield Buffer.concat(lines);
          lines = [];
          size = 0;
        }
      }
    if (lines.length > 0) yield Buffer.concat(lines);
  } finally {
    // A consumer that stopped (a client that disconnected): the reads stop.
    await pages.return(undefined);
  }
}

async function* renderedChunks(
  pages: AsyncGenerator<TextPage>,
  format: RenderedFormat,
  renderer: ExportRenderer,
  context: RenderContext,
): AsyncGenerator<Buffer> {
  const rendering: Array<Promise<Buffer>> = [];
  try {
    if (format === 'csv') yield Buffer.from(csvHeaderLine());
    let read = pages.next();
    for (;;) {
      const { value: page, done } = await read;
      if (done) break;
      rendering.push(renderer.render(page, format, context));
      // The next page is read while this one renders on the thread, or the chunks before it are sent: on
      // PostgreSQL the server works on it meanwhile. (Asked for before rendering a page here, it ran no faster and
      // held more memory: bench/auditlog.ts, PostgreSQL 300k, peak growth 53–79 MB against 23–53 MB.)
      read = pages.next();
      read.catch(() => {});
      if (rendering.length >= RENDER_AHEAD) yield await rendering.shift()!;
    }
    while (rendering.length > 0) yield await rendering.shift()!;
  } finally {
    // A consumer that stopped (a client that disconnected): no rejection left unhandled, and the reads stop.
    for (const r of rendering) r.catch(() => {});
    await pages.return(undefined);
  }
}

// ---------------------------------------------------------------- query parameters (attacker-controlled)

/** A query parameter given at most once; `''` counts as absent. */
function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string')
    throw new ProblemError('invalid-parameter', `${name} may be given once`, name);
  return value;
}

/** Unix seconds: a canonical non-negative decimal, at most `MAX_QUERY_TIME`. */
function seconds(query: Query, name: string): number | undefined {
  const raw = single(query, name);
  if (raw === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,11})$/.test(raw) || Number(raw) > MAX_QUERY_TIME)
    throw new ProblemError('invalid-parameter', `${name} must be a time in unix seconds`, name);
  return Number(raw);
}

/**
 * The selection a list or export asks for. V1: `startTime` is an UPPER bound (entries older than it, as Pulumi's
 * V1), V2: a lower bound (inclusive); `endTime` is an inclusive upper bound in both. Times are whole seconds, so
 * `endTime` covers its whole second.
 */
function parseSelection(query: Query, version: Version): AuditSelection {
  const start = seconds(query, 'startTime');
  const end = seconds(query, 'endTime');
  if (version === 'v2' && start !== undefined && end !== undefined && end < start)
    throw new ProblemError('invalid-parameter', 'endTime must not be before startTime', 'endTime');
  const token = single(query, 'continuationToken');
  let before: number | undefined;
  if (token !== undefined) {
    before = parseContinuationToken(token);
    if (before === undefined)
      throw new ProblemError(
        'invalid-parameter',
        'continuationToken is not one this server issued',
        'continuationToken',
      );
  }
  const user = single(query, 'userFilter');
  if (user !== undefined && user.length > MAX_USER_FILTER)
    throw new ProblemError(
      'invalid-parameter',
      `userFilter is limited to ${MAX_USER_FILTER} characters`,
      'userFilter',
    );
  const eventName = single(query, 'eventFilter');
  let event: EventId | undefined;
  if (eventName !== undefined) {
    event = resolveEventName(eventName)?.id;
    if (!event)
      throw new ProblemError(
        'invalid-parameter',
        'eventFilter names no event type (see …/auditlogs/event-types)',
        'eventFilter',
      );
  }
  const q = single(query, 'q');
  let parsed: QueryNode | undefined;
  if (q !== undefined) {
    try {
      parsed = parseQuery(q);
    } catch (error) {
      if (error instanceof QueryError)
        throw new ProblemError('invalid-parameter', `q: ${error.message}`, 'q');
      throw error;
    }
  }
  const untilMs = [
    version === 'v1' && start !== undefined ? start * 1000 : undefined,
    end !== undefined ? (end + 1) * 1000 : undefined,
  ].filter((t) => t !== undefined);
  return {
    ...(before === undefined ? {} : { before }),
    ...(version === 'v2' && start !== undefined ? { fromMs: start * 1000 } : {}),
    ...(untilMs.length > 0 ? { untilMs: Math.min(...untilMs) } : {}),
    ...(user === undefined ? {} : { login: user }),
    ...(event === undefined ? {} : { event }),
    ...(parsed === undefined ? {} : { query: parsed }),
  };
}

/** The filters of an export, for its record. */
function describe(query: Query, version: Version): string {
  const parts: string[] = [];
  const start = seconds(query, 'startTime');
  const end = seconds(query, 'endTime');
  if (start !== undefined)
    parts.push(version === 'v1' ? `before ${rfc3339(start)}` : `from ${rfc3339(start)}`);
  if (end !== undefined) parts.push(`until ${rfc3339(end)}`);
  const user = single(query, 'userFilter');
  if (user !== undefined) parts.push(`user "${user}"`);
  const event = single(query, 'eventFilter');
  if (event !== undefined) parts.push(`event ${resolveEventName(event)?.id ?? event}`);
  const q = single(query, 'q');
  if (q !== undefined) parts.push(`query ${JSON.stringify(q)}`);
  if (single(query, 'continuationToken') !== undefined) parts.push('continued');
  return parts.length > 0 ? `${version}; ${parts.join(', ')}` : `${version}; all events`;
}
