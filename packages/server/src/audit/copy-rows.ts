import { Socket, type ConnectOpts, type SocketConstructorOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client, Connection, Submittable } from 'pg';
import type { SelectedEntry, SelectedText } from './audit-query.js';

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

/**
 * Block buffers given back after their entries were decoded (`recycleBlock`), for the next blocks: an export's
 * blocks then reuse a few buffers instead of leaving hundreds of MB of them to the collector of the thread that
 * decoded them, which frees a buffer only when it collects (often late: a buffer that waited in a queue has been
 * promoted). At most `SPARE_BLOCKS` are kept, for the whole process, the oldest dropped first (so that buffers of a
 * size no cutter asks for do not stay), and none larger than `MAX_SPARE_BYTES` (a block grown around a huge
 * record).
 */
const spareBlocks: ArrayBuffer[] = [];
const SPARE_BLOCKS = 16;
const MAX_SPARE_BYTES = 2 ** 20;

/** A buffer of `bytes` for a block: a spare one of that size, or a new one. */
function blockBuffer(bytes: number): Buffer {
  const at = spareBlocks.findIndex((b) => b.byteLength === bytes);
  if (at < 0) return Buffer.allocUnsafeSlow(bytes);
  const [spare] = spareBlocks.splice(at, 1);
  return Buffer.from(spare!);
}

/** Gives a block's buffer back once its entries are decoded (nothing may read the block after this). */
export function recycleBlock(buffer: ArrayBuffer): void {
  // A detached buffer (transferred away) has no bytes.
  if (buffer.byteLength === 0 || buffer.byteLength > MAX_SPARE_BYTES) return;
  if (spareBlocks.length >= SPARE_BLOCKS) spareBlocks.shift();
  spareBlocks.push(buffer);
}

/** The 11-byte signature that opens every binary COPY stream. */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (int32), header extension length (int32). */
const HEADER_BYTES = SIGNATURE.length + 8;

/** The COPY stream is not what `COPY (SELECT idx, data …) TO STDOUT (FORMAT binary)` sends. */
export class CopyFormatError extends Error {}

/**
 * Gathers the bytes of a binary COPY stream, written in pieces of any size, into blocks of whole tuples (at most
 * `blockBytes` each, unless one tuple is larger), checking the header, each tuple's shape and the trailer. The bytes are copied once, into
 * the buffer being filled; when it is full, its whole tuples become a block and the unfinished tuple at its end is
 * copied into the next buffer (a larger one if that tuple alone is larger). Memory: that buffer, and the blocks
 * not yet taken.
 */
export class BlockCutter {
  private buf: Buffer;
  /** Bytes written into `buf`. */
  private filled = 0;
  /** Where the current block's first tuple starts in `buf`. */
  private start = 0;
  /** The end of the last whole tuple in `buf`. */
  private scanned = 0;
  private count = 0;
  private headerSeen = false;
  private ended = false;
  private ready: EntryBlock[] = [];

  constructor(private readonly blockBytes: number) {
    this.buf = blockBuffer(blockBytes);
  }

  write(src: Uint8Array, from: number, to: number): void {
    while (from < to) {
      if (this.ended) throw new CopyFormatError('bytes after the COPY trailer');
      if (this.filled === this.buf.length) {
        // Full: whole tuples leave as a block; a buffer holding none (a header or a tuple larger than it) grows.
        if (this.count > 0) this.cut();
        else this.grow(this.buf.length);
      }
      const n = Math.min(to - from, this.buf.length - this.filled);
      this.buf.set(src.subarray(from, from + n), this.filled);
      this.filled += n;
      from += n;
      this.scan();
    }
  }

  /** The stream ended here. */
  end(): void {
    if (this.ended) return;
    if (!this.headerSeen)
      throw new CopyFormatError(this.filled === 0 ? 'empty COPY stream' : 'COPY header cut short');
    throw new CopyFormatError('COPY stream ended inside a tuple');
  }

  /** Blocks finished and not yet taken. */
  pending(): number {
    return this.ready.length;
  }

  /** The blocks finished since the last call. */
  take(): EntryBlock[] {
    const ready = this.ready;
    if (ready.length > 0) this.ready = [];
    return ready;
  }

  /** Advances over the whole tuples written (and the header, the first time). */
  private scan(): void {
    const buf = this.buf;
    let at = this.scanned;
    if (!this.headerSeen) {
      const signature = buf.subarray(0, Math.min(this.filled, SIGNATURE.length));
      if (!signature.equals(SIGNATURE.subarray(0, signature.length)))
        throw new CopyFormatError('not a binary COPY stream');
      if (this.filled < HEADER_BYTES) return;
      // The header: signature, flags, and an extension whose length it gives.
      const end = HEADER_BYTES + buf.readUInt32BE(SIGNATURE.length + 4);
      if (this.filled < end) return;
      this.headerSeen = true;
      at = this.start = this.scanned = end;
    }
    for (;;) {
      if (at + 2 > this.filled) break;
      const fields = buf.readInt16BE(at);
      if (fields === -1) {
        if (at + 2 !== this.filled) throw new CopyFormatError('bytes after the COPY trailer');
        this.ended = true;
        this.scanned = at;
        this.finishBlock();
        return;
      }
      if (fields !== 2) throw new CopyFormatError(`a tuple of ${fields} fields`);
      // int16 fields, int32 length (8), int64 index, int32 length, the entry.
      if (at + TUPLE_HEADER_BYTES > this.filled) break;
      if (buf.readInt32BE(at + 2) !== 8) throw new CopyFormatError('an index that is not an int8');
      const length = buf.readInt32BE(at + 14);
      if (length < 0) throw new CopyFormatError('an entry that is NULL');
      const end = at + TUPLE_HEADER_BYTES + length;
      if (end > this.filled) {
        // The first tuple of a block, larger than the buffer: the buffer grows to hold it at once.
        if (this.count === 0 && end > buf.length) this.grow(end - buf.length);
        break;
      }
      at = end;
      this.count++;
    }
    this.scanned = at;
  }

  /** The buffer is full: its whole tuples become a block, the rest moves to a new buffer. */
  private cut(): void {
    const rest = this.buf.subarray(this.scanned, this.filled);
    this.finishBlock();
    const next =
      rest.length <= this.blockBytes ? blockBuffer(this.blockBytes) : Buffer.allocUnsafeSlow(rest.length);
    next.set(rest, 0);
    this.buf = next;
    this.filled = rest.length;
    this.start = this.scanned = 0;
  }

  /** A buffer `more` bytes larger, with the bytes written so far. */
  private grow(more: number): void {
    const next = Buffer.allocUnsafeSlow(this.buf.length + more);
    next.set(this.buf.subarray(0, this.filled), 0);
    this.buf = next;
  }

  private finishBlock(): void {
    if (this.count > 0)
      this.ready.push({
        kind: 'block',
        bytes: new Uint8Array(
          this.buf.buffer as ArrayBuffer,
          this.buf.byteOffset + this.start,
          this.scanned - this.start,
        ),
        count: this.count,
      });
    this.count = 0;
    this.start = this.scanned;
  }
}

/** A block's entries: each index, and the entry decoded as UTF-8 (`Buffer.toString`, as every export reads it). */
export function blockEntries(block: EntryBlock): SelectedText[] {
  const buf = Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength);
  const out = new Array<SelectedText>(block.count);
  let i = 0;
  blockTuples(buf, block.count, (start, end) => {
    const index = buf.readUInt32BE(start - 12) * 2 ** 32 + buf.readUInt32BE(start - 8);
    out[i++] = { index, data: buf.toString('utf8', start, end) };
  });
  return out;
}

/**
 * Calls `entry` with where each of the first `count` tuples' entry starts and ends in `bytes` (a block's): a tuple is
 * an int16 field count (2), an int32 length (8), the int64 index, an int32 length, and the entry.
 */
export function blockTuples(
  bytes: Uint8Array,
  count: number,
  entry: (start: number, end: number) => void,
): void {
  let at = 0;
  for (let i = 0; i < count; i++) {
    const start = at + TUPLE_HEADER_BYTES;
    const end =
      start + ((bytes[at + 14]! << 24) | (bytes[at + 15]! << 16) | (bytes[at + 16]! << 8) | bytes[at + 17]!);
    entry(start, end);
    at = end;
  }
}

/** A tuple's bytes before its entry's: field count, index length, index, entry length. */
const TUPLE_HEADER_BYTES = 18;

/**
 * Entries packed as a block (the tuples COPY would send), each entry's text encoded as UTF-8, which gives back the
 * same text (it was decoded from UTF-8, each invalid sequence a U+FFFD), into a spare block buffer when one is
 * large enough. Pages that cross to the render thread go as blocks: transferred, not copied.
 */
export function packEntries(entries: ReadonlyArray<SelectedEntry | SelectedText>): EntryBlock {
  let bytes = 0;
  for (const { data } of entries) bytes += TUPLE_HEADER_BYTES + data.length;
  let buf = blockBuffer(Math.ceil(bytes / PACK_ROUNDING) * PACK_ROUNDING);
  let at = 0;
  for (const { index, data } of entries) {
    // A string of n UTF-16 units takes at most 3n bytes; only then is its length in UTF-8 measured.
    const room = TUPLE_HEADER_BYTES + (typeof data === 'string' ? data.length * 3 : data.length);
    if (at + room > buf.length) {
      const need = TUPLE_HEADER_BYTES + (typeof data === 'string' ? Buffer.byteLength(data) : data.length);
      if (at + need > buf.length) {
        const next = Buffer.allocUnsafeSlow(Math.max(at + need, buf.length * 2));
        buf.copy(next, 0, 0, at);
        buf = next;
      }
    }
    buf.writeInt16BE(2, at);
    buf.writeInt32BE(8, at + 2);
    buf.writeUInt32BE(Math.floor(index / 2 ** 32), at + 6);
    buf.writeUInt32BE(index % 2 ** 32, at + 10);
    const length =
      typeof data === 'string'
        ? buf.write(data, at + TUPLE_HEADER_BYTES)
        : (buf.set(data, at + TUPLE_HEADER_BYTES), data.length);
    buf.writeInt32BE(length, at + 14);
    at += TUPLE_HEADER_BYTES + length;
  }
  return {
    kind: 'block',
    bytes: new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, at),
    count: entries.length,
  };
}

/** Packed blocks' buffers are sized in multiples of this, so that spare ones fit later pages of about the same size. */
const PACK_ROUNDING = 64 * 1024;

/** PostgreSQL's backend messages a COPY's answer is made of (protocol "Message Formats"). */
const COPY_OUT_RESPONSE = 0x48; // 'H'
const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'
/** Messages the server may send at any time, which the COPY skips: ParameterStatus, NoticeResponse, Notification. */
const ASYNC_MESSAGES = new Set([0x53, 0x4e, 0x41]);

/** Bytes a COPY socket reads at once, into its one read buffer. */
const READ_BUFFER_BYTES = 64 * 1024;

/** What receives the reads of a socket made by `copySocket`, while a COPY reads it. */
interface DirectReads {
  sink: ((buffer: Buffer, bytes: number) => boolean) | undefined;
}
const directReads = new WeakMap<Duplex, DirectReads>();

/**
 * The socket for a connection that runs `copyOut` (`pg.Client`'s `stream` option). It reads into one buffer, used
 * again for every read (`net.Socket`'s `onread`): during a COPY, the messages are read straight out of it, and a
 * read allocates nothing (a socket's every read is otherwise a new buffer, tens of MB of them awaiting collection
 * on a thread that allocates little else). Outside a COPY it hands the client's parser a copy of each read, as a
 * 'data' event. Over TLS the client wraps the socket, so a TLS connection gets a plain socket (and `copyOut` reads
 * its 'data' events).
 */
export function copySocket(config?: { ssl?: unknown }): Duplex {
  if (config?.ssl) return new Socket();
  const reads: DirectReads = { sink: undefined };
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  // `onread` is a documented option of the constructor too (Node's types list it for connect only).
  const options: SocketConstructorOpts & ConnectOpts = {
    onread: {
      buffer,
      callback: (bytes: number) => {
        if (reads.sink) return reads.sink(buffer, bytes);
        socket.emit('data', Buffer.from(buffer.subarray(0, bytes)));
        return true;
      },
    },
  };
  const socket = new Socket(options);
  directReads.set(socket, reads);
  return socket;
}

/**
 * Runs `COPY … TO STDOUT (FORMAT binary)` on `client` and yields its tuples in blocks (`BlockCutter`), read from the
 * connection's socket as they come: each CopyData message's bytes are copied once, from what the socket read into
 * the block (a generic COPY stream slices every message, one a row, and joins the slices of each read again).
 * The socket is read only as blocks are asked for, so a slow consumer holds PostgreSQL back (TCP's flow control).
 * Everything after the COPY's data (CommandComplete, ReadyForQuery, or an ErrorResponse at any point) goes back to
 * the client's own parser. A consumer that stops early must end the client: `Client.end()` with a query active
 * closes the socket, and the server ends the statement. Give the client a `copySocket`: its reads allocate nothing.
 */
export async function* copyOut(client: Client, text: string, blockBytes: number): AsyncGenerator<EntryBlock> {
  const query = new CopyOutQuery(text, new BlockCutter(blockBytes));
  client.query(query);
  for (;;) {
    const blocks = await query.next();
    if (blocks === undefined) return;
    yield* blocks;
  }
}

class CopyOutQuery implements Submittable {
  /** The socket, while the COPY reads it. */
  private stream: Duplex | undefined;
  /** Set if the socket is a `copySocket`, whose reads the COPY takes directly. */
  private direct: DirectReads | undefined;
  /** The client parser's 'data' listener, taken off the socket while the COPY reads it. */
  private pgData: ((chunk: Buffer) => void) | undefined;
  /** The message being read: its type, and its bytes not yet read (-1 while its header is read). */
  private type = 0;
  private left = 0;
  private readonly header = Buffer.alloc(5);
  private headerFilled = 0;
  private copyStarted = false;
  /** CopyDone was read: the data is complete. */
  private copyDone = false;
  /** The client is done with the query (ReadyForQuery, or an error). */
  private finished = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  /** Reads `bytes` of `chunk`; false when the socket should pause (blocks wait for the consumer). */
  private readonly read = (chunk: Buffer, bytes: number): boolean => {
    let more = true;
    try {
      this.parse(chunk, bytes);
    } catch (error) {
      // Not a COPY stream of the expected shape: the consumer gets the error and ends the client.
      this.failure ??= error;
      more = false;
    }
    // Blocks wait here for the consumer, one read's worth at most: the socket is read again when it asks.
    if (this.cutter.pending() > 0) more = false;
    this.signal();
    return more || this.stream === undefined;
  };
  private readonly onData = (chunk: Buffer) => {
    if (!this.read(chunk, chunk.length)) this.stream?.pause();
  };

  constructor(
    private readonly text: string,
    private readonly cutter: BlockCutter,
  ) {}

  submit(connection: Connection): void {
    const stream = connection.stream;
    this.direct = directReads.get(stream);
    if (this.direct) this.direct.sink = this.read;
    else {
      // The client's parser reads the socket through its one 'data' listener; the COPY takes the socket over.
      const listeners = stream.listeners('data');
      if (listeners.length !== 1) throw new Error('the PostgreSQL connection is not in the expected state');
      this.pgData = listeners[0] as (chunk: Buffer) => void;
      stream.removeListener('data', this.pgData);
      stream.on('data', this.onData);
    }
    this.stream = stream;
    connection.query(this.text);
  }

  handleError(error: unknown): void {
    this.failure ??= error;
    this.finished = true;
    this.signal();
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    this.finished = true;
    this.signal();
  }

  /** The next blocks, or undefined at the end; throws the server's error, or a `CopyFormatError`. */
  async next(): Promise<EntryBlock[] | undefined> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const ready = this.cutter.take();
      if (ready.length > 0) return ready;
      if (this.finished) {
        if (!this.copyDone) throw new Error('the COPY ended before its data was complete');
        this.cutter.end();
        const last = this.cutter.take();
        return last.length > 0 ? last : undefined;
      }
      this.stream?.resume();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Reads the messages in the first `end` bytes of a chunk of the socket, up to the end of the COPY's data. */
  private parse(chunk: Buffer, end: number): void {
    let at = 0;
    while (at < end) {
      if (this.left === 0) {
        // A message's first byte, its type. The COPY's own messages are read here; an ErrorResponse (at any point)
        // goes back to the client's parser, which reports it, with the rest of the chunk. CopyDone hands back
        // everything after it (CommandComplete, ReadyForQuery).
        const type = chunk[at]!;
        if (type === ERROR_RESPONSE) {
          this.handBack(chunk.subarray(at, end));
          return;
        }
        const copys =
          type === COPY_DATA ||
          type === COPY_DONE ||
          ASYNC_MESSAGES.has(type) ||
          (type === COPY_OUT_RESPONSE && !this.copyStarted);
        if (!copys)
          throw new CopyFormatError(
            `a message of type ${JSON.stringify(String.fromCharCode(type))} amid a COPY`,
          );
        this.type = type;
        this.headerFilled = 0;
        this.left = -1;
      }
      if (this.left < 0) {
        // The type and the length (an int32 that counts itself), which may arrive split.
        const n = Math.min(5 - this.headerFilled, end - at);
        chunk.copy(this.header, this.headerFilled, at, at + n);
        this.headerFilled += n;
        at += n;
        if (this.headerFilled < 5) return;
        this.left = this.header.readUInt32BE(1) - 4;
        if (this.type === COPY_OUT_RESPONSE) this.copyStarted = true;
      }
      const n = Math.min(this.left, end - at);
      if (this.type === COPY_DATA && n > 0) this.cutter.write(chunk, at, at + n);
      at += n;
      this.left -= n;
      if (this.left === 0 && this.type === COPY_DONE) {
        this.copyDone = true;
        this.handBack(chunk.subarray(at, end));
        return;
      }
    }
  }

  /** Gives the socket back to the client's parser, with the bytes it has to read first. */
  private handBack(rest: Buffer): void {
    const stream = this.stream!;
    this.stream = undefined;
    if (this.direct) {
      this.direct.sink = undefined;
      // The read buffer is used again for the next read: the parser gets a copy.
      if (rest.length > 0) stream.emit('data', Buffer.from(rest));
    } else {
      stream.removeListener('data', this.onData);
      stream.on('data', this.pgData!);
      if (rest.length > 0) this.pgData!(rest);
    }
    stream.resume();
  }
}
