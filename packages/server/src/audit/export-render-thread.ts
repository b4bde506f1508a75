// The render thread of `ExportRenderer`: pages in, chunks of lines out (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { pageEntries, renderPage, type ChunkMessage, type PageMessage } from './export-render.js';

parentPort!.on('message', (page: PageMessage) => {
  try {
    const chunk = renderPage(pageEntries(page), page.format, page.context, page.into);
    // A COPY block, decoded, goes back too: its buffer is used again for a later block (`recycleBlock`).
    const spare = 'block' in page ? page.block.bytes.buffer : undefined;
    const buffer = chunk.buffer as ArrayBuffer;
    const answer: ChunkMessage = { id: page.id, chunk: buffer, length: chunk.byteLength, spare };
    parentPort!.postMessage(answer, spare ? [buffer, spare] : [buffer]);
  } catch (error) {
    const answer: ChunkMessage = {
      id: page.id,
      error: error instanceof Error ? error.message : String(error),
    };
    parentPort!.postMessage(answer);
  }
});
