import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockEntries, CopyFormatError, recycleBlock, type EntryBlock } from '../src/audit/copy-rows.js';
import { copyBlocks, copyStream } from './support/copy-stream.js';

async function* chunked(bytes: Buffer, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > at) yield bytes.subarray(at, cut);
    at = Math.max(at, cut);
  }
  if (at < bytes.length) yield bytes.subarray(at);
}

async function read(chunks: AsyncIterable<Uint8Array>, blockBytes: number): Promise<EntryBlock[]> {
  const out: EntryBlock[] = [];
  for await (const block of copyBlocks(chunks, blockBytes)) out.push(block);
  return out;
}

describe('COPY blocks', () => {
  it('cut a binary COPY stream, however it arrives, into blocks of whole entries that decode as Buffer.toString', async () => {
    const entry = fc.record({
      index: fc.oneof(fc.nat(), fc.constant(2 ** 53 - 1), fc.constant(2 ** 32 + 5)),
      data: fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => Buffer.from(s)),
        fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 30 }),
        fc.array(fc.nat(2000), { maxLength: 12 }),
        fc.integer({ min: 1, max: 300 }),
        fc.uint8Array({ maxLength: 5 }),
        async (entries, cuts, blockBytes, extension) => {
          const bytes = copyStream(entries, Buffer.from(extension));
          const blocks = await read(chunked(bytes, cuts), blockBytes);
          expect(blocks.flatMap(blockEntries)).toEqual(
            entries.map((e) => ({ index: e.index, data: e.data.toString('utf8') })),
          );
          for (const block of blocks) {
            expect(block.count).toBeGreaterThan(0);
            expect(blockEntries(block)).toHaveLength(block.count);
            // Each block owns its buffer: it is transferred to the render thread whole.
            expect(block.bytes.buffer.byteLength).toBeGreaterThanOrEqual(block.bytes.byteLength);
            expect(blocks.filter((b) => b.bytes.buffer === block.bytes.buffer)).toHaveLength(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuse a stream that is not what COPY … (FORMAT binary) sends for an index and an entry', async () => {
    const good = copyStream([
      { index: 1, data: Buffer.from('{"a":1}') },
      { index: 0, data: Buffer.from('{}') },
    ]);
    const refused = async (bytes: Buffer, message: RegExp) => {
      for (const blockBytes of [1, 4096]) {
        const error = await read(chunked(bytes, []), blockBytes).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, message.source).toBeInstanceOf(CopyFormatError);
        expect((error as Error).message).toMatch(message);
      }
    };
    await refused(Buffer.alloc(0), /empty COPY stream/);
    await refused(Buffer.from('PGCOPY'), /header cut short|inside a tuple/);
    await refused(Buffer.concat([Buffer.from('XGCOPY'), good.subarray(6)]), /not a binary COPY stream/);
    await refused(good.subarray(0, good.length - 1), /ended inside a tuple/);
    await refused(good.subarray(0, good.length - 2), /ended inside a tuple/);
    await refused(Buffer.concat([good, Buffer.from([0])]), /after the COPY trailer/);
    const threeFields = Buffer.from(good);
    threeFields.writeInt16BE(3, 19);
    await refused(threeFields, /a tuple of 3 fields/);
    const shortIndex = Buffer.from(good);
    shortIndex.writeInt32BE(4, 21);
    await refused(shortIndex, /not an int8/);
    const nullEntry = Buffer.from(good);
    nullEntry.writeInt32BE(-1, 33);
    await refused(nullEntry, /NULL/);
  });

  it('cut later blocks into the buffers of blocks given back, with their own bytes', async () => {
    const first = Array.from({ length: 40 }, (_, i) => ({ index: i, data: Buffer.from(`first ${i}`) }));
    const second = Array.from({ length: 40 }, (_, i) => ({
      index: 100 + i,
      data: Buffer.from(`second ${i}`),
    }));
    const blocks = await read(chunked(copyStream(first), [7, 100, 333]), 128);
    expect(blocks.flatMap(blockEntries)).toEqual(
      first.map((e) => ({ index: e.index, data: e.data.toString() })),
    );
    const given = blocks.map((b) => b.bytes.buffer).filter((b) => b.byteLength === 128);
    expect(given.length).toBeGreaterThan(1);
    for (const buffer of given) recycleBlock(buffer);
    const again = await read(chunked(copyStream(second), [5, 90]), 128);
    expect(again.flatMap(blockEntries)).toEqual(
      second.map((e) => ({ index: e.index, data: e.data.toString() })),
    );
    // Every buffer given back is used again (blocks of other sizes may be pooled too, from other tests).
    const reused = again.filter((b) => given.includes(b.bytes.buffer));
    expect(reused).toHaveLength(given.length);
  });

  it('keep no given-back buffer larger than 1 MiB, and at most 16, dropping the oldest', async () => {
    const stream = copyStream([{ index: 7, data: Buffer.from('seven') }]);
    const bufferOf = async (blockBytes: number) =>
      (await read(chunked(stream, []), blockBytes))[0]!.bytes.buffer;
    const huge = new ArrayBuffer(2 ** 20 + 64);
    recycleBlock(huge);
    expect(await bufferOf(2 ** 20 + 64)).not.toBe(huge);
    const oldest = new ArrayBuffer(1000);
    recycleBlock(oldest);
    for (let i = 0; i < 16; i++) recycleBlock(new ArrayBuffer(2000));
    expect(await bufferOf(1000)).not.toBe(oldest);
    const kept = new ArrayBuffer(1000);
    recycleBlock(kept);
    expect(await bufferOf(1000)).toBe(kept);
  });
});
