// The render thread of `ExportRenderer`: pages in, chunks of lines out (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { renderPage, type ChunkMessage, type PageMessage } from './export-render.js';

parentPort!.on('message', (page: PageMessage) => {
  try {
    const chunk = renderPage(page.block, page.format, page.context, page.into);
    // The block, rendered, goes back too: its buffer is used again for a later block (`recycleBlock`).
    const spare = page.block.bytes.buffer;
    const buffer = chunk.buffer as ArrayBuffer;
    const answer: ChunkMessage = { id: page.id, chunk: buffer, length: chunk.byteLength, spare };
    parentPort!.postMessage(answer, [buffer, spare]);
  } catch (error) {
    const answer: ChunkMessage = {
      id: page.id,
      error: error instanceof Error ? error.message : String(error),
    };
    parentPort!.postMessage(answer);
  }
});
