// Byte-for-byte compatible renderings of the Go formatting that ESC's builtins use, so that `fn::toString`,
// `fn::toJSON` and interpolation produce the same strings as the reference evaluator.

import type { JSONValue } from '../value.js';

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** Whether Go's unicode.IsPrint would accept the code point (approximation: excludes controls, surrogates, separators). */
function isPrint(cp: number): boolean {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return false;
  if (cp === 0xad) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  if (cp === 0x2028 || cp === 0x2029 || (cp >= 0x200b && cp <= 0x200f) || cp === 0xfeff) return false;
  if (cp >= 0xfff9 && cp <= 0xfffb) return false;
  if (cp > 0x10ffff) return false;
  return cp !== 0xfffe && cp !== 0xffff;
}

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (isPrint(cp)) out += ch;
    else if (cp < 0x80) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + '"';
}

/** A JSON string literal as Go's encoding/json writes it (HTML-safe escapes for <, >, &, U+2028, U+2029). */
function goJSONString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += `\\u${hex(c, 4)}`;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
      } else out += '\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\ufffd';
    else out += s[i]!;
  }
  return out + '"';
}

/**
 * Go's json.Marshal of plain JSON: compact, object keys sorted. Throws a RangeError once the output would exceed
 * `limit` characters.
 */
export function goJSON(v: JSONValue, limit = Number.MAX_SAFE_INTEGER): string {
  const parts: string[] = [];
  let length = 0;
  const push = (s: string) => {
    if ((length += s.length) > limit) throw new RangeError('JSON text too long');
    parts.push(s);
  };
  const write = (x: JSONValue): void => {
    if (x === null) push('null');
    else if (typeof x === 'boolean') push(x ? 'true' : 'false');
    else if (typeof x === 'number') push(Number.isFinite(x) ? String(x) : 'null');
    else if (typeof x === 'string') push(goJSONString(x));
    else if (Array.isArray(x)) {
      push('[');
      x.forEach((e, i) => {
        if (i) push(',');
        write(e);
      });
      push(']');
    } else {
      push('{');
      Object.keys(x)
        .sort()
        .forEach((k, i) => {
          if (i) push(',');
          push(goJSONString(k));
          push(':');
          write(x[k]!);
        });
      push('}');
    }
  };
  write(v);
  return parts.join('');
}
