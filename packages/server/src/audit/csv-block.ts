import { blockTuples, type EntryBlock } from './copy-rows.js';
import { csvCell, csvLine, rfc3339 } from './csv.js';
import { csvFields, STACK_ADMIN_EVENT_IDS } from './pulumi-event.js';

/**
 * A block's entries as CSV lines, written straight from their bytes into one UTF-8 chunk: what a CSV export spends
 * nearly all its time on (bench/auditlog.ts).
 *
 * An entry's bytes are what the ledger stored, and the database may have been edited by hand: they are
 * attacker-controlled, and the line must be exactly `csvLine(csvFields(text))` of their UTF-8 text, whatever they
 * hold. So this reads each entry with a strict scanner that accepts only a subset of JSON it can render exactly,
 * and hands every other entry to that slow path, whole:
 *
 * - The top-level value is an object; no whitespace between tokens; no property name with an escape; the fields
 *   a line shows appear at most once (`JSON.parse` keeps the last of duplicates; the slow path does too).
 * - `actor` is an object; `actor.login`, `actor.name`, `description`, `event` and `sourceIP`, where present, are
 *   strings whose only escape is `\"`, in well-formed UTF-8; `time`, where present, is a number.
 * - Every other value is skipped, but checked to be JSON: a record `JSON.parse` refuses renders as empty fields,
 *   so the scanner must refuse it too (it leaves such a record to the slow path). It is stricter than JSON, never
 *   laxer: nesting deeper than `MAX_DEPTH`, or any whitespace, also go to the slow path.
 *
 * Canonical records (RFC 8785, as the ledger writes them) are all in that subset, unless a shown field holds a
 * control character or a backslash, or a value nests deeper than `MAX_DEPTH`. Bytes that are not UTF-8 inside a skipped string are accepted: UTF-8 decoding
 * replaces them without consuming an ASCII byte, so the structure the scanner sees is the one `JSON.parse` sees.
 */
export function csvBlock(block: EntryBlock, into?: ArrayBuffer): Buffer {
  const src = Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength);
  let out: Buffer =
    into && into.byteLength >= CHUNK_ROUNDING
      ? Buffer.from(into)
      : newChunk(Math.max(CHUNK_ROUNDING, src.length));
  let pos = 0;
  const scan = SCAN;
  blockTuples(src, block.count, (start, end) => {
    if (inCsvSubset(src, start, end)) {
      const need = pos + scan.shownBytes() + LINE_OVERHEAD;
      if (need > out.length) out = grown(out, pos, need);
      pos = scan.writeLine(src, out, pos);
    } else {
      const line = csvLine(csvFields(src.toString('utf8', start, end)));
      const need = pos + line.length * 3;
      if (need > out.length) out = grown(out, pos, need);
      pos += out.write(line, pos);
    }
  });
  return out.subarray(0, pos);
}

/**
 * Chunk buffers are allocated in multiples of this, so that a buffer given back fits the next pages, which are
 * about as large (a page is a COPY block of 256 KiB, or a read of 1,000–2,000 entries).
 */
export const CHUNK_ROUNDING = 64 * 1024;

/** A chunk buffer of at least `bytes`, its own (never a slice of Buffer's shared pool: it may be transferred). */
export function newChunk(bytes: number): Buffer {
  return Buffer.allocUnsafeSlow(Math.ceil(bytes / CHUNK_ROUNDING) * CHUNK_ROUNDING);
}

/** A larger chunk holding the first `filled` bytes of `out`. */
function grown(out: Buffer, filled: number, need: number): Buffer {
  const next = newChunk(Math.max(need, out.length * 2));
  out.copy(next, 0, 0, filled);
  return next;
}

/**
 * A line's bytes beyond its shown fields' own, with room to spare: the timestamp (at most 25 bytes, with its `'`: a
 * year beyond 9999, or a time beyond dates as its seconds), each cell's quotes and `'`, the commas, the three
 * booleans and CRLF. (An escaped quote, `\"`, becomes `""`: the same length.)
 */
const LINE_OVERHEAD = 32 + 5 * 3 + 5 + 3 * 6 + 2;

/** Deepest nesting the scanner follows in a skipped value (the slow path takes deeper ones). */
const MAX_DEPTH = 64;

const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const CR = 0x0d;
const LF = 0x0a;

/** Bytes that may follow a backslash in JSON, `u` aside (RFC 8259 §7). */
const SIMPLE_ESCAPE = bytesTable('"\\/bfnrt');
/** First characters that make a spreadsheet evaluate a cell (`csvCell`; tab and CR arrive escaped, never here). */
const FORMULA_START = bytesTable('=+-@');
const HEX = bytesTable('0123456789abcdefABCDEF');

function bytesTable(chars: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

/** A shown string's escaped quote: its cell is quoted and the quote doubled. */
const HAS_QUOTE = 1;
/** A shown string's comma: its cell is quoted. */
const HAS_COMMA = 2;
/** A shown string's bytes beyond ASCII (well-formed UTF-8, copied as they are). */
const NOT_ASCII = 4;

// The fields a line shows, as the bits of `Scan.seen`.
const ACTOR = 1;
const DESCRIPTION = 2;
const EVENT = 4;
const SOURCE_IP = 8;
const TIME = 16;
const REQ_ORG_ADMIN = 32;
const AUTH_FAILURE = 64;
const LOGIN = 128;
const NAME = 256;

const KEYS = {
  actor: ACTOR,
  authFailure: AUTH_FAILURE,
  description: DESCRIPTION,
  event: EVENT,
  reqOrgAdmin: REQ_ORG_ADMIN,
  sourceIP: SOURCE_IP,
  time: TIME,
} as const;
const ACTOR_KEYS = { login: LOGIN, name: NAME } as const;

/** Property names by length, as bytes, with their bit. */
function keyTable(keys: Record<string, number>): Array<Array<{ bytes: Uint8Array; bit: number }>> {
  const table: Array<Array<{ bytes: Uint8Array; bit: number }>> = [];
  for (const [name, bit] of Object.entries(keys))
    (table[name.length] ??= []).push({ bytes: Buffer.from(name), bit });
  return table;
}
const TOP_KEYS = keyTable(KEYS);
const ACTOR_KEY_TABLE = keyTable(ACTOR_KEYS);
const STACK_ADMIN_EVENTS = keyTable(
  Object.fromEntries(
    STACK_ADMIN_EVENT_IDS.map((id) => {
      if (!/^[\x20-\x7e]*$/.test(id) || id.includes('"') || id.includes('\\'))
        throw new Error(`event id ${JSON.stringify(id)} is not plain ASCII: csvBlock compares ids as bytes`);
      return [id, 1];
    }),
  ),
);

/** The bit of the property named by `src[start, end)` in `table`, or 0. */
function keyBit(table: ReturnType<typeof keyTable>, src: Uint8Array, start: number, end: number): number {
  const candidates = table[end - start];
  if (candidates === undefined) return 0;
  for (const { bytes, bit } of candidates) {
    let i = 0;
    while (i < bytes.length && bytes[i] === src[start + i]) i++;
    if (i === bytes.length) return bit;
  }
  return 0;
}

/** A shown string: where its bytes are in the entry (between the quotes) and what they hold. */
class Span {
  start = 0;
  end = 0;
  flags = 0;

  clear(): void {
    this.start = this.end = this.flags = 0;
  }
}

/**
 * One entry's scan: what its line shows, found in one pass over its bytes. One per thread, reused for every
 * entry (a scan allocates nothing).
 */
class Scan {
  seen = 0;
  timeMs = 0;
  reqOrgAdmin = false;
  authFailure = false;
  readonly login = new Span();
  readonly name = new Span();
  readonly event = new Span();
  readonly description = new Span();
  readonly sourceIP = new Span();
  /** Set by `shownString`: the flags of the string it read. */
  private flags = 0;

  /** Whether `src[start, end)` is in the subset rendered here; if so, its fields are in this scan. */
  record(src: Uint8Array, start: number, end: number): boolean {
    this.seen = 0;
    this.timeMs = 0;
    this.reqOrgAdmin = this.authFailure = false;
    this.login.clear();
    this.name.clear();
    this.event.clear();
    this.description.clear();
    this.sourceIP.clear();
    if (start >= end || src[start] !== OPEN_BRACE) return false;
    let at = start + 1;
    if (at < end && src[at] === CLOSE_BRACE) return at + 1 === end;
    for (;;) {
      if (at >= end || src[at] !== QUOTE) return false;
      const keyEnd = plainKey(src, at + 1, end);
      if (keyEnd < 0 || keyEnd + 1 >= end || src[keyEnd + 1] !== COLON) return false;
      const bit = keyBit(TOP_KEYS, src, at + 1, keyEnd);
      at = keyEnd + 2;
      if (bit !== 0) {
        if ((this.seen & bit) !== 0) return false;
        this.seen |= bit;
      }
      switch (bit) {
        case 0:
          at = skipValue(src, at, end, 1);
          break;
        case ACTOR:
          at = at < end && src[at] === OPEN_BRACE ? this.actor(src, at + 1, end) : -1;
          break;
        case DESCRIPTION:
          at = this.shown(src, at, end, this.description);
          break;
        case EVENT:
          at = this.shown(src, at, end, this.event);
          break;
        case SOURCE_IP:
          at = this.shown(src, at, end, this.sourceIP);
          break;
        case TIME:
          at = this.time(src, at, end);
          break;
        case REQ_ORG_ADMIN:
          this.reqOrgAdmin = isTrue(src, at, end);
          at = skipValue(src, at, end, 1);
          break;
        case AUTH_FAILURE:
          this.authFailure = isTrue(src, at, end);
          at = skipValue(src, at, end, 1);
          break;
      }
      if (at < 0 || at >= end) return false;
      if (src[at] === COMMA) {
        at++;
        continue;
      }
      return src[at] === CLOSE_BRACE && at + 1 === end;
    }
  }

  /** The bytes the line's shown strings take, as they are in the entry. */
  shownBytes(): number {
    const name = this.name.end > this.name.start ? this.name : this.login;
    return (
      name.end -
      name.start +
      (this.login.end - this.login.start) +
      (this.event.end - this.event.start) +
      (this.description.end - this.description.start) +
      (this.sourceIP.end - this.sourceIP.start)
    );
  }

  /**
   * Writes the line (`csvLine`) into `out` at `pos`, which has room for it (`shownBytes` + `LINE_OVERHEAD`); returns
   * where it ends.
   */
  writeLine(src: Uint8Array, out: Buffer, pos: number): number {
    pos = writeTimestamp(out, pos, Math.floor(this.timeMs / 1000));
    out[pos++] = COMMA;
    // `text(actor.name) || login`
    pos = writeCell(src, this.name.end > this.name.start ? this.name : this.login, out, pos);
    out[pos++] = COMMA;
    pos = writeCell(src, this.login, out, pos);
    out[pos++] = COMMA;
    pos = writeCell(src, this.event, out, pos);
    out[pos++] = COMMA;
    pos = writeCell(src, this.description, out, pos);
    out[pos++] = COMMA;
    pos = writeCell(src, this.sourceIP, out, pos);
    pos = writeFlag(out, pos, this.reqOrgAdmin);
    pos = writeFlag(out, pos, this.stackAdmin(src));
    pos = writeFlag(out, pos, this.authFailure);
    out[pos++] = CR;
    out[pos++] = LF;
    return pos;
  }

  /**
   * Whether the event requires stack admin, from its bytes: event ids are plain ASCII, so an event is one of those
   * exactly when its bytes are.
   */
  private stackAdmin(src: Uint8Array): boolean {
    return keyBit(STACK_ADMIN_EVENTS, src, this.event.start, this.event.end) !== 0;
  }

  /** The actor object's members, from after its `{`; returns the index after its `}`, or -1. */
  private actor(src: Uint8Array, at: number, end: number): number {
    if (at < end && src[at] === CLOSE_BRACE) return at + 1;
    for (;;) {
      if (at >= end || src[at] !== QUOTE) return -1;
      const keyEnd = plainKey(src, at + 1, end);
      if (keyEnd < 0 || keyEnd + 1 >= end || src[keyEnd + 1] !== COLON) return -1;
      const bit = keyBit(ACTOR_KEY_TABLE, src, at + 1, keyEnd);
      at = keyEnd + 2;
      if (bit === 0) at = skipValue(src, at, end, 2);
      else {
        if ((this.seen & bit) !== 0) return -1;
        this.seen |= bit;
        at = this.shown(src, at, end, bit === LOGIN ? this.login : this.name);
      }
      if (at < 0 || at >= end) return -1;
      if (src[at] === COMMA) at++;
      else return src[at] === CLOSE_BRACE ? at + 1 : -1;
    }
  }

  /** A shown string at `at` into `span`; returns the index after its closing quote, or -1. */
  private shown(src: Uint8Array, at: number, end: number, span: Span): number {
    if (at >= end || src[at] !== QUOTE) return -1;
    const after = this.shownString(src, at + 1, end);
    if (after < 0) return -1;
    span.start = at + 1;
    span.end = after - 1;
    span.flags = this.flags;
    return after;
  }

  /** A shown string's characters, from after its opening quote; returns the index after its closing quote, or -1. */
  private shownString(src: Uint8Array, at: number, end: number): number {
    let flags = 0;
    while (at < end) {
      const c = src[at]!;
      if (c === QUOTE) {
        this.flags = flags;
        return at + 1;
      }
      if (c === BACKSLASH) {
        if (at + 1 >= end || src[at + 1] !== QUOTE) return -1;
        flags |= HAS_QUOTE;
        at += 2;
      } else if (c >= 0x80) {
        const n = utf8Sequence(src, at, end);
        if (n === 0) return -1;
        flags |= NOT_ASCII;
        at += n;
      } else {
        if (c < 0x20) return -1;
        if (c === COMMA) flags |= HAS_COMMA;
        at++;
      }
    }
    return -1;
  }

  /** `time`'s number; returns the index after it, or -1 (also for any other value: the slow path reads it). */
  private time(src: Uint8Array, at: number, end: number): number {
    const after = skipNumber(src, at, end);
    if (after < 0) return -1;
    // Up to 15 digits and no fraction or exponent: exact in integer arithmetic. Otherwise, as JSON.parse reads it.
    const negative = src[at] === MINUS;
    let value = 0;
    let i = negative ? at + 1 : at;
    if (after - i <= 15) {
      for (; i < after; i++) {
        const d = src[i]! - ZERO;
        if (d < 0 || d > 9) break;
        value = value * 10 + d;
      }
    }
    const timeMs =
      i === after ? (negative ? -value : value) : Number((src as Buffer).toString('latin1', at, after));
    // `time` as `decode` takes it: a finite number, else 0.
    this.timeMs = Number.isFinite(timeMs) ? timeMs : 0;
    return after;
  }
}

const SCAN = new Scan();

/**
 * Whether the entry `src[start, end)` is in the subset `csvBlock` writes straight from its bytes; if so, its fields
 * are in `SCAN`, until the next call.
 */
export function inCsvSubset(src: Uint8Array, start: number, end: number): boolean {
  return SCAN.record(src, start, end);
}

/** A property name without escapes, from after its opening quote; returns the index of its closing quote, or -1. */
function plainKey(src: Uint8Array, at: number, end: number): number {
  for (; at < end; at++) {
    const c = src[at]!;
    if (c === QUOTE) return at;
    if (c === BACKSLASH || c < 0x20) return -1;
  }
  return -1;
}

function isTrue(src: Uint8Array, at: number, end: number): boolean {
  return (
    at + 4 <= end && src[at] === 0x74 && src[at + 1] === 0x72 && src[at + 2] === 0x75 && src[at + 3] === 0x65
  );
}

/** A JSON value at `at`, checked and skipped; returns the index after it, or -1 if it is not JSON (or too deep). */
function skipValue(src: Uint8Array, at: number, end: number, depth: number): number {
  if (at >= end) return -1;
  const c = src[at]!;
  if (c === QUOTE) return skipString(src, at + 1, end);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    if (depth >= MAX_DEPTH) return -1;
    const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
    at++;
    if (at < end && src[at] === close) return at + 1;
    for (;;) {
      if (c === OPEN_BRACE) {
        if (at >= end || src[at] !== QUOTE) return -1;
        at = skipString(src, at + 1, end);
        if (at < 0 || at >= end || src[at] !== COLON) return -1;
        at++;
      }
      at = skipValue(src, at, end, depth + 1);
      if (at < 0 || at >= end) return -1;
      if (src[at] === COMMA) at++;
      else return src[at] === close ? at + 1 : -1;
    }
  }
  if (c === 0x74) return literal(src, at, end, TRUE);
  if (c === 0x66) return literal(src, at, end, FALSE);
  if (c === 0x6e) return literal(src, at, end, NULL);
  return skipNumber(src, at, end);
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function literal(src: Uint8Array, at: number, end: number, word: Uint8Array): number {
  if (at + word.length > end) return -1;
  for (let i = 0; i < word.length; i++) if (src[at + i] !== word[i]) return -1;
  return at + word.length;
}

/** A JSON string's characters, from after its opening quote; returns the index after its closing quote, or -1. */
function skipString(src: Uint8Array, at: number, end: number): number {
  while (at < end) {
    const c = src[at]!;
    if (c === QUOTE) return at + 1;
    if (c === BACKSLASH) {
      if (at + 1 >= end) return -1;
      const e = src[at + 1]!;
      if (e === 0x75) {
        if (at + 6 > end) return -1;
        for (let i = at + 2; i < at + 6; i++) if (HEX[src[i]!] !== 1) return -1;
        at += 6;
      } else if (SIMPLE_ESCAPE[e] === 1) at += 2;
      else return -1;
    } else if (c < 0x20) return -1;
    else at++;
  }
  return -1;
}

/** A JSON number (RFC 8259 §6) at `at`; returns the index after it, or -1. */
function skipNumber(src: Uint8Array, at: number, end: number): number {
  if (at < end && src[at] === MINUS) at++;
  if (at >= end) return -1;
  if (src[at] === ZERO) at++;
  else if (src[at]! > ZERO && src[at]! <= NINE) at = digits(src, at + 1, end);
  else return -1;
  if (at < end && src[at] === DOT) {
    const from = at + 1;
    at = digits(src, from, end);
    if (at === from) return -1;
  }
  if (at < end && (src[at] === 0x65 || src[at] === 0x45)) {
    at++;
    if (at < end && (src[at] === 0x2b || src[at] === MINUS)) at++;
    const from = at;
    at = digits(src, from, end);
    if (at === from) return -1;
  }
  return at;
}

function digits(src: Uint8Array, at: number, end: number): number {
  while (at < end && src[at]! >= ZERO && src[at]! <= NINE) at++;
  return at;
}

/**
 * The length of the well-formed UTF-8 sequence starting at `at` (Unicode's table 3-7), or 0 if it is not one (the
 * slow path then decodes it, with U+FFFD where it must).
 */
function utf8Sequence(src: Uint8Array, at: number, end: number): number {
  const c = src[at]!;
  const cont = (i: number, low = 0x80, high = 0xbf) =>
    at + i < end && src[at + i]! >= low && src[at + i]! <= high;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const low = c === 0xe0 ? 0xa0 : 0x80;
    const high = c === 0xed ? 0x9f : 0xbf;
    return cont(1, low, high) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const low = c === 0xf0 ? 0x90 : 0x80;
    const high = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, low, high) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** A cell (`csvCell`) of a shown string, from its bytes in the entry. */
function writeCell(src: Uint8Array, span: Span, out: Buffer, pos: number): number {
  const { start, end, flags } = span;
  const quoted = (flags & (HAS_QUOTE | HAS_COMMA)) !== 0;
  if (quoted) out[pos++] = QUOTE;
  if (start < end && FORMULA_START[src[start]!] === 1) out[pos++] = APOSTROPHE;
  if ((flags & HAS_QUOTE) !== 0) {
    // `\"` becomes `""`: the only escape a shown string holds.
    for (let i = start; i < end; i++) {
      const c = src[i]!;
      out[pos++] = c === BACKSLASH ? QUOTE : c;
    }
  } else if (end - start > 64) {
    out.set(src.subarray(start, end), pos);
    pos += end - start;
  } else for (let i = start; i < end; i++) out[pos++] = src[i]!;
  if (quoted) out[pos++] = QUOTE;
  return pos;
}

const TRUE_CELL = Buffer.from(',true');
const FALSE_CELL = Buffer.from(',false');

function writeFlag(out: Buffer, pos: number, flag: boolean): number {
  const cell = flag ? TRUE_CELL : FALSE_CELL;
  for (let i = 0; i < cell.length; i++) out[pos++] = cell[i]!;
  return pos;
}

/**
 * The timestamp's cell (`csvCell(rfc3339(seconds))`). Years 0–9999 are written here from the day's date, kept
 * while lines are of the same day; other times as `rfc3339` writes them.
 */
function writeTimestamp(out: Buffer, pos: number, seconds: number): number {
  const day = Math.floor(seconds / DAY_SECONDS);
  if (day !== today.day) {
    const iso = Number.isInteger(seconds) ? rfc3339(day * DAY_SECONDS) : '';
    today.day = day;
    // `YYYY-MM-DDT`, or none for a year rfc3339 writes otherwise (beyond 9999 or before 0, or a fraction).
    today.date = /^\d{4}-\d\d-\d\dT00:00:00Z$/.test(iso)
      ? Buffer.from(iso.slice(0, 11), 'latin1')
      : undefined;
  }
  const date = today.date;
  if (date === undefined) return pos + out.write(csvCell(rfc3339(seconds)), pos, 'latin1');
  for (let i = 0; i < date.length; i++) out[pos++] = date[i]!;
  const s = seconds - day * DAY_SECONDS;
  pos = writeTwo(out, pos, Math.floor(s / 3600));
  out[pos++] = COLON;
  pos = writeTwo(out, pos, Math.floor((s % 3600) / 60));
  out[pos++] = COLON;
  pos = writeTwo(out, pos, s % 60);
  out[pos++] = 0x5a; // Z
  return pos;
}
const DAY_SECONDS = 86_400;
const today: { day: number; date: Uint8Array | undefined } = { day: Number.NaN, date: undefined };

function writeTwo(out: Buffer, pos: number, n: number): number {
  out[pos++] = ZERO + Math.floor(n / 10);
  out[pos++] = ZERO + (n % 10);
  return pos;
}
