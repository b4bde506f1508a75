import type { SelectedText } from './audit-query.js';

/**
 * Entries as PostgreSQL's binary COPY format carries them (`COPY (SELECT idx, data …) TO STDOUT (FORMAT binary)`):
 * whole tuples of two fields, an `int8` log index and the entry's `bytea`, as they came off the connection.
 * An export hands such blocks to the render thread as they are (transferred, not copied): the thread, not the
 * thread that reads, decodes them. `bytes` owns its whole ArrayBuffer, so that it can be transferred.
 */
export interface EntryBlock {
  readonly kind: 'block';
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Tuples in the block. */
  readonly count: number;
}

/** The 11-byte signature that opens every binary COPY stream. */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (int32), header extension length (int32). */
const HEADER_BYTES = SIGNATURE.length + 8;

/** The COPY stream is not what `COPY (SELECT idx, data …) TO STDOUT (FORMAT binary)` sends. */
export class CopyFormatError extends Error {}

/**
 * Cuts a binary COPY stream into blocks of whole tuples of at least `blockBytes` (the last one smaller), checking
 * the header, each tuple's shape and the trailer. Memory: the block being gathered, and the unfinished tuple at
 * its end, copied to the next one.
 */
export async function* copyBlocks(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  blockBytes: number,
): AsyncGenerator<EntryBlock> {
  let gathered: Uint8Array[] = [];
  let size = 0;
  let headerSeen = false;
  let ended = false;
  for await (const chunk of chunks) {
    if (chunk.byteLength === 0) continue;
    if (ended) throw new CopyFormatError('bytes after the COPY trailer');
    gathered.push(chunk);
    size += chunk.byteLength;
    if (size < blockBytes) continue;
    const cut = cutBlock(join(gathered, size), headerSeen);
    headerSeen = cut.headerSeen;
    ended = cut.ended;
    gathered = cut.rest.byteLength > 0 ? [cut.rest] : [];
    size = cut.rest.byteLength;
    if (cut.block) yield cut.block;
  }
  if (!ended) {
    if (size === 0 && !headerSeen) throw new CopyFormatError('empty COPY stream');
    const cut = cutBlock(join(gathered, size), headerSeen);
    if (!cut.headerSeen) throw new CopyFormatError('COPY header cut short');
    if (!cut.ended) throw new CopyFormatError('COPY stream ended inside a tuple');
    if (cut.block) yield cut.block;
  }
}

/** The chunks as one buffer of its own (never a slice of a shared pool: it will be transferred). */
function join(chunks: readonly Uint8Array[], size: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * The whole tuples at the start of `buf` (after the header, the first time: all of `buf` is kept until the header
 * is whole), and what follows them.
 */
function cutBlock(
  buf: Buffer,
  headerSeen: boolean,
): { block: EntryBlock | undefined; rest: Uint8Array; ended: boolean; headerSeen: boolean } {
  let at = 0;
  if (!headerSeen) {
    const signature = buf.subarray(0, SIGNATURE.length);
    if (!signature.equals(SIGNATURE.subarray(0, signature.length)))
      throw new CopyFormatError('not a binary COPY stream');
    // The header: signature, flags, and an extension whose length it gives.
    at = buf.length < HEADER_BYTES ? Infinity : HEADER_BYTES + buf.readUInt32BE(SIGNATURE.length + 4);
    if (buf.length < at) return { block: undefined, rest: buf, ended: false, headerSeen: false };
  }
  const start = at;
  let count = 0;
  let ended = false;
  for (;;) {
    if (at + 2 > buf.length) break;
    const fields = buf.readInt16BE(at);
    if (fields === -1) {
      ended = true;
      if (at + 2 !== buf.length) throw new CopyFormatError('bytes after the COPY trailer');
      break;
    }
    if (fields !== 2) throw new CopyFormatError(`a tuple of ${fields} fields`);
    // int16 fields, int32 length (8), int64 index, int32 length, the entry.
    if (at + 18 > buf.length) break;
    if (buf.readInt32BE(at + 2) !== 8) throw new CopyFormatError('an index that is not an int8');
    const length = buf.readInt32BE(at + 14);
    if (length < 0) throw new CopyFormatError('an entry that is NULL');
    if (at + 18 + length > buf.length) break;
    at += 18 + length;
    count++;
  }
  const block =
    count > 0
      ? {
          kind: 'block' as const,
          bytes: new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset + start, at - start),
          count,
        }
      : undefined;
  // The unfinished tuple is copied out: the block's buffer goes to the render thread whole.
  const rest = ended ? new Uint8Array(0) : Uint8Array.prototype.slice.call(buf, at);
  return { block, rest, ended, headerSeen: true };
}

/** A block's entries: each index, and the entry decoded as UTF-8 (`Buffer.toString`, as every export reads it). */
export function blockEntries(block: EntryBlock): SelectedText[] {
  const buf = Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength);
  const out = new Array<SelectedText>(block.count);
  let at = 0;
  for (let i = 0; i < block.count; i++) {
    const index = buf.readUInt32BE(at + 6) * 2 ** 32 + buf.readUInt32BE(at + 10);
    const length = buf.readInt32BE(at + 14);
    out[i] = { index, data: buf.toString('utf8', at + 18, at + 18 + length) };
    at += 18 + length;
  }
  return out;
}
