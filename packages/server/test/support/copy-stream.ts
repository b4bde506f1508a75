/** Test support: the bytes of a binary COPY stream, as PostgreSQL sends them, and a way to cut them into blocks. */
import { BlockCutter, type EntryBlock } from '../../src/audit/copy-rows.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** What PostgreSQL sends for `COPY (SELECT idx, data …) TO STDOUT (FORMAT binary)` (docs: "Binary Format"). */
export function copyStream(
  entries: ReadonlyArray<{ index: number; data: Buffer }>,
  extension = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(extension.length, 4);
  const tuples = entries.map(({ index, data }) => {
    const t = Buffer.alloc(18);
    t.writeInt16BE(2, 0);
    t.writeInt32BE(8, 2);
    t.writeBigInt64BE(BigInt(index), 6);
    t.writeInt32BE(data.length, 14);
    return Buffer.concat([t, data]);
  });
  return Buffer.concat([SIGNATURE, header, extension, ...tuples, Buffer.from([0xff, 0xff])]);
}

/** The blocks `BlockCutter` cuts from a COPY stream arriving in `chunks`, as `copyOut` feeds it a connection's reads. */
export async function* copyBlocks(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  blockBytes: number,
): AsyncGenerator<EntryBlock> {
  const cutter = new BlockCutter(blockBytes);
  for await (const chunk of chunks) {
    cutter.write(chunk, 0, chunk.byteLength);
    yield* cutter.take();
  }
  cutter.end();
  yield* cutter.take();
}
