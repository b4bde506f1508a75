import type { Pos } from '../diagnostics.js';

const encoder = new TextEncoder();

/** UTF-8 length of a string without allocating for ASCII. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

interface Line {
  /** UTF-16 offset of the line start. */
  start: number;
  /** UTF-8 offset of the line start. */
  byte: number;
  ascii: boolean;
}

/**
 * Maps offsets in the source text to ESC positions. Columns count code points (as the Go YAML parser does); byte
 * offsets are UTF-8. Mirrors ESC's quirk of reporting byte 0 for positions on the last line of a document that
 * does not end in a newline, so that golden ranges agree.
 */
export class PositionIndex {
  private readonly lines: Line[] = [];

  constructor(private readonly text: string) {
    let start = 0;
    let byte = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const end = nl === -1 ? text.length : nl;
      let ascii = true;
      for (let i = start; i < end; i++) {
        if (text.charCodeAt(i) >= 0x80) {
          ascii = false;
          break;
        }
      }
      this.lines.push({ start, byte, ascii });
      if (nl === -1) break;
      byte += (ascii ? end - start : utf8Length(text.slice(start, end))) + 1;
      start = nl + 1;
    }
  }

  /** Line (1-based) containing the given UTF-16 offset. */
  private lineOf(offset: number): number {
    let lo = 0;
    let hi = this.lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lines[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /** Line and column of a UTF-16 offset. */
  lineColumn(offset: number): { line: number; column: number } {
    const line = this.lineOf(offset);
    const l = this.lines[line - 1]!;
    if (l.ascii) return { line, column: offset - l.start + 1 };
    let column = 1;
    for (let i = l.start; i < offset; i++) {
      const c = this.text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) i++;
      column++;
    }
    return { line, column };
  }

  /** The ESC position for a line and column (ESC computes the byte offset from these). */
  pos(line: number, column: number): Pos {
    if (line < 0 || line >= this.lines.length) return { line, column, byte: 0 };
    const l = this.lines[line - 1];
    if (l === undefined) return { line, column, byte: 0 };
    if (l.ascii) return { line, column, byte: l.byte + column - 1 };
    let b = l.byte;
    let c = 1;
    let i = l.start;
    while (i < this.text.length && this.text.charCodeAt(i) !== 0x0a && c < column) {
      const cp = this.text.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      b += encoder.encode(this.text.slice(i, i + w)).length;
      i += w;
      c++;
    }
    return { line, column, byte: b };
  }
}
