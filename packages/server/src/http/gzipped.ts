import type { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';

/**
 * The chunks, gzip-compressed, as a stream (the response body). Each chunk is written as the compressor asks for
 * more, and handed to `consumed` once the compressor has read it (its write callback), so that its buffer can be
 * used again. A body destroyed early (a client that went away) stops the chunks: their generator returns, and
 * with it the reads.
 */
export function gzipped(
  chunks: AsyncGenerator<Buffer>,
  consumed: (chunk: Buffer) => void,
  endedEarly: (error: unknown) => void,
): Readable {
  // Level 1: an export is read once and streamed as fast as it is formatted; level 6 costs a third of the
  // throughput for ~25% smaller bodies (bench/auditlog.ts). Pulumi documents only "gzip compressed". Output in
  // chunks of 64 KiB rather than zlib's 16: a quarter of the writes to the socket and of zlib's callbacks on this
  // thread (PostgreSQL 1M-event export, scratch runs interleaved: 228-261k rows/s against 220-243k; the event loop
  // and the render thread took 4.3-4.8 µs of CPU a row against 4.7-5.0).
  const gzip = createGzip({ level: 1, chunkSize: 64 * 1024 });
  gzip.on('error', endedEarly);
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        gzip.off('drain', done);
        gzip.off('close', done);
        resolve();
      };
      gzip.on('drain', done);
      gzip.on('close', done);
    });
  void (async () => {
    try {
      for await (const chunk of chunks) {
        if (gzip.destroyed) break;
        if (!gzip.write(chunk, (error) => error || consumed(chunk))) await drained();
      }
      // Destroyed with an error, the stream has reported it ('error'); destroyed without, it is reported here.
      if (gzip.destroyed && !gzip.errored)
        endedEarly(Object.assign(new Error('closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      else gzip.end();
    } catch (error) {
      gzip.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  })();
  return gzip;
}
