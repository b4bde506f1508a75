import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SelectedEntry, SelectedText } from './audit-query.js';
import { cefLine } from './cef.js';
import { blockEntries, packEntries, recycleBlock, type EntryBlock } from './copy-rows.js';
import { csvLine } from './csv.js';
import { CHUNK_ROUNDING, csvBlock, newChunk } from './csv-block.js';
import { ocsfEvent } from './ocsf.js';
import { csvFields, toTimedAuditLogEvent } from './pulumi-event.js';

/** The export formats rendered from each entry's record (`jsonl` is the entries' own bytes, never rendered). */
export type RenderedFormat = 'csv' | 'cef' | 'ocsf';

/** What a CEF line names besides the record: the organization and the server's host. */
export interface RenderContext {
  readonly org: string;
  readonly host: string;
}

/** An entry to render: its record's bytes, or their text (`SelectedText`); both render to the same line. */
export type RenderEntry = SelectedEntry | SelectedText;

/** A page to render: entries, or a block of them as PostgreSQL's COPY sent them (decoded where it renders). */
export type RenderPage = readonly RenderEntry[] | EntryBlock;

function entriesOf(page: RenderPage): readonly RenderEntry[] {
  return 'kind' in page ? blockEntries(page) : page;
}

/** One entry as a line of a rendered format, newline included. */
export function renderLine(entry: RenderEntry, format: RenderedFormat, context: RenderContext): string {
  switch (format) {
    case 'csv':
      return csvLine(csvFields(entry.data));
    case 'cef': {
      const { event, timeMs } = toTimedAuditLogEvent(entry.data);
      return cefLine(event, { ...context, timeMs });
    }
    case 'ocsf':
      return `${JSON.stringify(ocsfEvent(entry.index, entry.data))}\n`;
  }
}

/**
 * A page of entries as one UTF-8 chunk of lines, written into `into` if it is large enough (a buffer given back by
 * `ExportRenderer.giveBack`), else into a buffer of its own (never a slice of Buffer's shared pool: it may be
 * transferred). CSV is written straight from the entries' bytes (`csvBlock`). Other formats' lines are gathered in
 * an array and encoded once, joined: encoding a string built by `+=` first flattens it, four times the cost.
 */
export function renderPage(
  page: RenderPage,
  format: RenderedFormat,
  context: RenderContext,
  into?: ArrayBuffer,
): Buffer {
  if (format === 'csv') {
    if ('kind' in page) return csvBlock(page, into);
    const block = packEntries(page);
    const chunk = csvBlock(block, into);
    recycleBlock(block.bytes.buffer);
    return chunk;
  }
  const entries = entriesOf(page);
  const lines = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) lines[i] = renderLine(entries[i]!, format, context);
  const text = lines.join('');
  const bytes = Buffer.byteLength(text);
  const out = into && into.byteLength >= bytes ? Buffer.from(into) : newChunk(bytes);
  out.write(text, 0);
  return out.subarray(0, bytes);
}

/**
 * Chunk buffers kept for reuse (`ExportRenderer.giveBack`), for the whole process, none larger than
 * `MAX_SPARE_CHUNK` (the chunk of a page of huge records is not kept).
 */
const SPARE_CHUNKS = 16;
const MAX_SPARE_CHUNK = 2 ** 20;

/**
 * A page as it crosses to the render thread: a block of entries (a COPY block as it came, or the page's entries
 * packed as one, `packEntries`), whose buffer is transferred.
 */
export interface PageMessage {
  readonly id: number;
  /** A buffer to render into, if it is large enough (transferred). */
  readonly into?: ArrayBuffer;
  readonly format: RenderedFormat;
  readonly context: RenderContext;
  readonly block: EntryBlock;
}

/** The buffers a message transfers rather than copies. */
export function transferred(page: PageMessage): ArrayBuffer[] {
  const moved = page.block.bytes.buffer;
  return page.into ? [moved, page.into] : [moved];
}

/** What the render thread answers: a chunk (its buffer transferred), or an error. */
export interface ChunkMessage {
  readonly id: number;
  readonly chunk?: ArrayBuffer;
  /** The chunk's length: its buffer may be larger. */
  readonly length?: number;
  /** The page's block's buffer, rendered, for a later block (`recycleBlock`). */
  readonly spare?: ArrayBuffer;
  readonly error?: string;
}

export interface ExportRendererOptions {
  /**
   * Pages the render thread may hold (rendering or queued) before further pages are rendered here instead.
   * Unbounded by default: every page goes to the thread.
   */
  readonly threadQueue?: number;
}

/**
 * Renders export pages on a thread of its own, so that a CSV, CEF or OCSF export uses both of a small machine's
 * cores: this thread reads the next page while the render thread parses and formats the last one (decoding each
 * record is most of an export's cost). Rendering costs more than reading, so with `threadQueue` this thread
 * renders a page itself whenever the render thread already holds enough: both cores then render. Pages come back
 * in the order they were sent. One thread, started on the first export and shared by all; if it cannot start or
 * fails, pages are rendered here, with the same bytes.
 */
export class ExportRenderer {
  private worker: Worker | undefined;
  private broken = false;
  private next = 0;
  private readonly threadQueue: number;
  private readonly pending = new Map<
    number,
    { resolve: (b: Buffer) => void; reject: (e: unknown) => void }
  >();
  /** Chunk buffers given back, for the next chunks. */
  private readonly spareChunks: ArrayBuffer[] = [];
  /** Pages rendered on this thread (the render thread being busy, gone or never started). */
  renderedHere = 0;

  constructor(options: ExportRendererOptions = {}) {
    this.threadQueue = options.threadQueue ?? Number.POSITIVE_INFINITY;
  }

  /** One page as a chunk of lines. */
  render(entries: RenderPage, format: RenderedFormat, context: RenderContext): Promise<Buffer> {
    const worker = this.thread();
    const block =
      worker && this.pending.size < this.threadQueue
        ? 'kind' in entries
          ? entries
          : packEntries(entries)
        : undefined;
    if (!worker || !block || block.bytes.byteLength > THREAD_PAGE_BYTES) {
      this.renderedHere++;
      // A page packed for the thread but too large for it renders here from its block (packed once).
      const page = block ?? entries;
      const chunk = renderPage(page, format, context, this.spareChunks.pop());
      if ('kind' in page) recycleBlock(page.bytes.buffer);
      return Promise.resolve(chunk);
    }
    const into = this.spareChunks.pop();
    const page: PageMessage = { id: this.next, format, context, block, ...(into ? { into } : {}) };
    this.next++;
    const chunk = new Promise<Buffer>((resolve, reject) => {
      this.pending.set(page.id, { resolve, reject });
      worker.postMessage(page, transferred(page));
    });
    // Pages render ahead of their turn: if the thread fails, those not yet awaited reject unobserved, which must
    // not count as an unhandled rejection (it would end the process). Awaiting the chunk still throws.
    chunk.catch(() => {});
    return chunk;
  }

  /**
   * Gives back a chunk `render` returned, once nothing reads it any more (a compressor has consumed it): its buffer
   * takes a later page's lines. An export then reuses a few buffers rather than leaving one a page to the
   * collector, which frees them late (bench/auditlog.ts). Other buffers are ignored.
   */
  giveBack(chunk: Buffer): void {
    const buffer = chunk.buffer as ArrayBuffer;
    if (
      this.spareChunks.length < SPARE_CHUNKS &&
      chunk.byteOffset === 0 &&
      buffer.byteLength >= CHUNK_ROUNDING &&
      buffer.byteLength <= MAX_SPARE_CHUNK &&
      buffer.byteLength % CHUNK_ROUNDING === 0
    )
      this.spareChunks.push(buffer);
  }

  /** Whether pages go to the render thread (false once it has failed, or if it could not start). */
  threaded(): boolean {
    return this.thread() !== undefined;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.broken = true;
    this.fail(new Error('the export renderer was closed'));
    await worker?.terminate();
  }

  private thread(): Worker | undefined {
    if (this.worker || this.broken) return this.worker;
    try {
      // Built, the thread is the compiled module. Running from TypeScript sources (tests,
      // `--conditions=vigil-source`), a small bootstrap registers tsx in the thread before it loads them.
      const worker = import.meta.url.endsWith('.ts')
        ? new Worker(SOURCE_BOOTSTRAP, {
            eval: true,
            workerData: {
              module: new URL('./export-render-thread.ts', import.meta.url).href,
              tsx: new URL('index.mjs', pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')))
                .href,
            },
            execArgv: ['--conditions=vigil-source'],
            resourceLimits: THREAD_LIMITS,
          })
        : new Worker(new URL('./export-render-thread.js', import.meta.url), {
            resourceLimits: THREAD_LIMITS,
          });
      worker.unref();
      worker.on('message', (message: ChunkMessage) => {
        if (message.spare) recycleBlock(message.spare);
        const waiting = this.pending.get(message.id);
        if (!waiting) return;
        this.pending.delete(message.id);
        if (message.chunk) waiting.resolve(Buffer.from(message.chunk, 0, message.length));
        else waiting.reject(new Error(`the export renderer failed: ${message.error ?? 'unknown error'}`));
      });
      const down = (error: unknown) => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        this.broken = true;
        this.fail(error);
      };
      worker.on('error', down);
      worker.on('exit', (code) => down(new Error(`the export renderer exited (code ${code})`)));
      this.worker = worker;
    } catch {
      this.broken = true;
    }
    return this.worker;
  }

  private fail(error: unknown): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

/**
 * The render thread's heap. Its live data is a page or two, so its generations are capped well below V8's
 * defaults: the young one (a page's garbage is short-lived), and the old one, which otherwise grew to 25–40 MB of
 * promoted page texts between collections. Measured with bench/auditlog.ts (SQLite, 1M events, first export):
 * peak resident growth 62–71 MiB uncapped, 47–54 MiB capped at 32 MB, at the same speed. A 16 MB cap saved another
 * ~10 MB on PostgreSQL's first export, but the thread's old generation swings between 4 and 11 MB while it renders
 * SQLite's pages, and it ran out of memory in one run of 1M events: 32 MB it is. A page is sent to the thread only
 * if its block holds at most `THREAD_PAGE_BYTES` bytes (records are a few hundred bytes, pages a few hundred
 * KB; only a database edited by hand holds huge records), so that no page can exhaust the thread: larger pages
 * render here. Decoded, such a block is at most 4 MiB of strings (2 Mi two-byte characters, each two bytes of UTF-8
 * at least). (At 16 MB, a page of 3 Mi two-byte characters rendered on the thread in every format and one of 4 Mi
 * exhausted it; at 32 MB both render.) Should the thread run out of memory anyway, it stops like any failed thread
 * (see `ExportRenderer`).
 */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 32 };
const THREAD_PAGE_BYTES = 4 * 2 ** 20;

const SOURCE_BOOTSTRAP = `
(async () => {
  const { workerData } = await import('node:worker_threads');
  (await import(workerData.tsx)).register();
  await import(workerData.module);
})();
`;
