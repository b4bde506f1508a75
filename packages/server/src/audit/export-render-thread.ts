// The render thread of `ExportRenderer`: pages in, chunks of lines out (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { pageEntries, renderPage, type PageMessage } from './export-render.js';

parentPort!.on('message', (page: PageMessage) => {
  try {
    const chunk = renderPage(pageEntries(page), page.format, page.context);
    // A chunk of its own memory (not a slice of Buffer's shared pool) can be transferred.
    const own =
      chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.byteLength ? chunk : new Uint8Array(chunk);
    // A COPY block, decoded, goes back too: its buffer is used again for a later block (`recycleBlock`).
    const spare = 'block' in page ? page.block.bytes.buffer : undefined;
    parentPort!.postMessage(
      { id: page.id, chunk: own, spare },
      spare ? [own.buffer as ArrayBuffer, spare] : [own.buffer as ArrayBuffer],
    );
  } catch (error) {
    parentPort!.postMessage({ id: page.id, error: error instanceof Error ? error.message : String(error) });
  }
});
