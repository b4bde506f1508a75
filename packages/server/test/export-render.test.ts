import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalBytes } from '@vigil/ledger';
import { afterEach, describe, expect, it } from 'vitest';
import type { SelectedEntry } from '../src/audit/audit-query.js';
import type { EntryBlock } from '../src/audit/copy-rows.js';
import { ExportRenderer, renderPage, type RenderedFormat } from '../src/audit/export-render.js';
import { copyBlocks, copyStream } from './support/copy-stream.js';

const context = { org: 'acme', host: 'vigil-test' };
const FORMATS: RenderedFormat[] = ['csv', 'cef', 'ocsf'];

/** Entries an export may meet: ordinary records, hostile text, non-ASCII, and bytes that are not a record at all. */
function entries(count: number, from = 0): SelectedEntry[] {
  const odd: Uint8Array[] = [
    new TextEncoder().encode('{"event":'), // truncated
    new TextEncoder().encode('[1,2,3]'),
    new Uint8Array([0xff, 0xfe, 0x00]),
  ];
  return Array.from({ length: count }, (_, k) => {
    const n = from + k;
    const data =
      n % 17 === 5
        ? odd[n % odd.length]!
        : canonicalBytes({
            v: 1,
            time: 1_764_000_000_000 + n * 1234,
            org: 'acme',
            event: n % 3 === 0 ? 'environment-open' : 'user-login-failed',
            description: [`=cmd|' /C calc'!A0 ${n}`, `Opened "app/prod", rev ${n}`, `ünïcødé ✓ 🔐 ${n}`][
              n % 3
            ]!,
            actor: {
              kind: n % 4 === 0 ? 'token' : 'user',
              login: `user-${n % 7}`,
              name: n % 5 === 0 ? '' : `User, ${n % 7}`,
              ...(n % 4 === 0 ? { tokenId: `tok_${n}`, tokenName: '+ci', tokenKind: 'team' } : {}),
            },
            sourceIP: n % 2 ? '203.0.113.7' : '2001:db8::1',
            outcome: n % 3 === 0 ? 'success' : 'denied',
            ...(n % 3 === 0 ? {} : { authFailure: true }),
          });
    return { index: n, data };
  });
}

describe('export renderer', () => {
  let renderer: ExportRenderer | undefined;

  afterEach(async () => {
    await renderer?.close();
  });

  it('renders on its own thread exactly the bytes the inline path renders, pages in the order sent', async () => {
    renderer = new ExportRenderer();
    expect(renderer.threaded()).toBe(true);
    for (const format of FORMATS) {
      const pages = Array.from({ length: 12 }, (_, p) => entries(50, p * 50));
      // Every page sent before any is awaited: answers must still pair with their pages.
      const rendered = await Promise.all(pages.map((page) => renderer!.render(page, format, context)));
      for (let p = 0; p < pages.length; p++)
        expect(rendered[p]!.toString('utf8')).toBe(renderPage(pages[p]!, format, context).toString('utf8'));
    }
    expect(renderer.renderedHere).toBe(0);
  });

  it('renders here, with the same bytes, the pages beyond its thread queue', async () => {
    renderer = new ExportRenderer({ threadQueue: 2 });
    const pages = Array.from({ length: 12 }, (_, p) => entries(50, p * 50));
    // Sent at once, before the thread can answer: the first two go to the thread, the other ten render here.
    const rendered = await Promise.all(pages.map((page) => renderer!.render(page, 'csv', context)));
    expect(renderer.renderedHere).toBe(10);
    expect(Buffer.concat(rendered).toString('utf8')).toBe(
      pages.map((page) => renderPage(page, 'csv', context).toString('utf8')).join(''),
    );
    // Once the thread has answered, it takes pages again.
    await renderer.render(pages[0]!, 'csv', context);
    expect(renderer.renderedHere).toBe(10);
  });

  it('renders blocks as PostgreSQL COPY sent them exactly as their entries, on its thread (transferred) and here', async () => {
    renderer = new ExportRenderer({ threadQueue: 1 });
    const pages = Array.from({ length: 6 }, (_, p) => entries(40, p * 40));
    for (const format of FORMATS) {
      const blocks: EntryBlock[] = [];
      for (const page of pages) {
        const bytes = copyStream(page.map((e) => ({ index: e.index, data: Buffer.from(e.data) })));
        for await (const block of copyBlocks([bytes], 1 << 20)) blocks.push(block);
      }
      expect(blocks).toHaveLength(pages.length);
      const here = renderer.renderedHere;
      // Sent at once: the first goes to the thread, the others render here.
      const rendered = await Promise.all(blocks.map((block) => renderer!.render(block, format, context)));
      expect(renderer.renderedHere - here).toBe(pages.length - 1);
      for (let p = 0; p < pages.length; p++)
        expect(rendered[p]!.toString('utf8')).toBe(renderPage(pages[p]!, format, context).toString('utf8'));
      // The block the thread rendered crossed without a copy: its buffer was transferred.
      expect(blocks[0]!.bytes.byteLength).toBe(0);
      expect(blocks[1]!.bytes.byteLength).toBeGreaterThan(0);
    }
  });

  it('renders into the buffers of chunks given back, here and on its thread, with the same bytes', async () => {
    const pages = Array.from({ length: 6 }, (_, p) => entries(60, p * 60));
    const inline = pages.map((page) => renderPage(page, 'csv', context).toString('utf8'));
    // Here (a queue of 0 sends nothing to the thread): a chunk given back is the next chunk's buffer.
    renderer = new ExportRenderer({ threadQueue: 0 });
    const first = await renderer.render(pages[0]!, 'csv', context);
    expect(first.toString('utf8')).toBe(inline[0]);
    renderer.giveBack(first);
    const second = await renderer.render(pages[1]!, 'csv', context);
    expect(second.buffer).toBe(first.buffer);
    expect(second.toString('utf8')).toBe(inline[1]);
    // A slice of a chunk is not taken back.
    renderer.giveBack(second.subarray(1));
    expect((await renderer.render(pages[2]!, 'csv', context)).buffer).not.toBe(second.buffer);
    await renderer.close();
    // On the thread: the buffer given back crosses with the page and returns as its chunk.
    renderer = new ExportRenderer();
    const chunks: Buffer[] = [];
    let previous: Buffer | undefined;
    for (const page of pages) {
      const chunk = await renderer.render(page, 'csv', context);
      // The chunk given back before this page went to the thread with it (transferred: detached here).
      if (previous) expect(previous.buffer.byteLength).toBe(0);
      chunks.push(Buffer.from(chunk));
      renderer.giveBack(chunk);
      previous = chunk;
    }
    expect(chunks.map((c) => c.toString('utf8'))).toEqual(inline);
    expect(renderer.renderedHere).toBe(0);
  });

  it('renders here a page too large for its thread (only a database edited by hand holds one)', async () => {
    renderer = new ExportRenderer();
    const huge = {
      index: 1,
      data: JSON.stringify({ event: 'user-login', time: 0, description: 'x'.repeat(5 * 2 ** 20) }),
    };
    const page = [...entries(3), huge];
    const chunk = await renderer.render(page, 'csv', context);
    expect(renderer.renderedHere).toBe(1);
    expect(chunk.equals(renderPage(page, 'csv', context))).toBe(true);
    expect(renderer.threaded()).toBe(true);
  });

  it('renders on its thread, in every format, the largest page it takes, of two-byte characters', async () => {
    renderer = new ExportRenderer();
    // Just under the limit of characters a page sent to the thread may hold: its heap must hold the page rendered.
    const data = JSON.stringify({ event: 'user-login', time: 0, description: 'ü'.repeat(2 * 2 ** 20 - 200) });
    for (const format of FORMATS) {
      const chunk = await renderer.render([{ index: 1, data }], format, context);
      expect(chunk.equals(renderPage([{ index: 1, data }], format, context))).toBe(true);
    }
    expect(renderer.renderedHere).toBe(0);
    expect(renderer.threaded()).toBe(true);
  });

  it('renders, in every format, a record whose time is beyond JavaScript dates (only a database edited by hand holds one)', () => {
    const data = canonicalBytes({ v: 1, time: 1e20, event: 'environment-open', org: 'acme' });
    const line = (format: RenderedFormat) =>
      renderPage([{ index: 1, data }], format, context).toString('utf8');
    expect(line('csv')).toBe('100000000000000000,,,environment-open,,,false,false,false\r\n');
    expect(line('cef')).toMatch(/^Jan 01 00:00:00 vigil-test CEF:0\|.* rt=100000000000000000000 /);
    expect(JSON.parse(line('ocsf'))).toMatchObject({ time: 1e20 });
  });

  it('renders here, with the same bytes, once its thread is gone; a page in flight then fails rather than vanishes', async () => {
    renderer = new ExportRenderer();
    const page = entries(40);
    const inFlight = renderer.render(page, 'csv', context).then(
      () => 'rendered',
      (error: Error) => error.message,
    );
    await renderer.close();
    expect(await inFlight).toMatch(/closed/);
    expect(renderer.threaded()).toBe(false);
    expect((await renderer.render(page, 'csv', context)).toString('utf8')).toBe(
      renderPage(page, 'csv', context).toString('utf8'),
    );
  });

  it('starts its thread from the built server too (compiled JavaScript, no TypeScript loader)', () => {
    const built = fileURLToPath(new URL('../dist/audit/export-render.js', import.meta.url));
    // `npm test` builds before it tests (tsc -b); a bare vitest run on a fresh clone has nothing to load.
    expect(existsSync(built), `${built} is missing: run \`npx tsc -b\` first`).toBe(true);
    const script = `
      import { ExportRenderer } from ${JSON.stringify(built)};
      const renderer = new ExportRenderer();
      const data = new TextEncoder().encode(JSON.stringify({ event: 'user-login', time: 0, description: 'x' }));
      const chunk = await renderer.render([{ index: 0, data }], 'csv', { org: 'acme', host: 'h' });
      console.log(JSON.stringify({ threaded: renderer.threaded(), line: chunk.toString('utf8') }));
      await renderer.close();`;
    const file = join(mkdtempSync(join(tmpdir(), 'vigil-render-')), 'render.mjs');
    writeFileSync(file, script);
    const child = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dirname(file), { recursive: true, force: true });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({
      threaded: true,
      line: '1970-01-01T00:00:00Z,,,user-login,x,,false,false,false\r\n',
    });
  });
});
