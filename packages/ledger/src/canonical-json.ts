// RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value, so records can be hashed
// and signed.
//
// - Objects: properties sorted by their names' UTF-16 code units (RFC 8785 §3.2.3), which is what
//   Array.prototype.sort does with strings.
// - Numbers: ECMAScript Number::toString (RFC 8785 §3.2.2.3); NaN and ±Infinity are rejected (I-JSON).
// - Strings: JSON.stringify escaping (RFC 8785 §3.2.2.2); lone surrogates are rejected (I-JSON,
//   RFC 7493 §2.1) instead of being escaped as \udXXX.
// - Only plain data: null, booleans, numbers, strings, arrays and plain objects (prototype Object or
//   null). Date, Map, Set, BigInt, typed arrays, class instances, functions and symbols are rejected
//   rather than silently converted: a canonical form that depends on toJSON() is not canonical.
// - Object properties whose value is `undefined` are omitted, like JSON.stringify (so an optional field
//   that is absent and one that is undefined canonicalize alike). `undefined` anywhere else, including
//   array elements, is rejected.

import { isWellFormed, utf8 } from './bytes.js';
import { LedgerError } from './errors.js';

/** Deepest nesting accepted: canonicalize recurses, and a hostile value must not overflow the stack. */
export const MAX_JSON_DEPTH = 1000;

function unsupported(path: string, what: string): LedgerError<'unsupported-json-value'> {
  return new LedgerError('unsupported-json-value', `${what} at ${path}`, { reason: what });
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function write(v: unknown, path: string, depth: number, open: Set<object>, out: string[]): void {
  switch (typeof v) {
    case 'string':
      if (!isWellFormed(v)) throw unsupported(path, 'lone surrogate in string');
      out.push(JSON.stringify(v));
      return;
    case 'number':
      if (!Number.isFinite(v)) throw unsupported(path, `number ${v}`);
      out.push(String(v)); // Number::toString; -0 gives "0" as RFC 8785 requires
      return;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      throw unsupported(path, `value of type ${typeof v}`);
  }
  if (v === null) {
    out.push('null');
    return;
  }
  if (depth >= MAX_JSON_DEPTH) throw unsupported(path, 'nesting too deep');
  if (open.has(v)) throw unsupported(path, 'cycle');
  open.add(v);
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) throw unsupported(path, 'array subclass');
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      const item: unknown = v[i];
      if (item === undefined) throw unsupported(`${path}[${i}]`, 'undefined array element');
      write(item, `${path}[${i}]`, depth + 1, open, out);
    }
    out.push(']');
  } else {
    if (!isPlainObject(v)) throw unsupported(path, `non-plain object ${v.constructor?.name ?? ''}`.trim());
    const obj = v as Record<string, unknown>;
    out.push('{');
    let first = true;
    for (const key of Object.keys(obj).sort()) {
      const item = obj[key];
      if (item === undefined) continue;
      if (!isWellFormed(key)) throw unsupported(path, 'lone surrogate in property name');
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      write(item, `${path}.${key}`, depth + 1, open, out);
    }
    out.push('}');
  }
  open.delete(v);
}

/** RFC 8785 canonical JSON text of a value. Throws unsupported-json-value for anything not plain JSON data. */
export function canonicalize(value: unknown): string {
  const out: string[] = [];
  write(value, '$', 0, new Set(), out);
  return out.join('');
}

/** UTF-8 bytes of the canonical JSON text (what gets hashed and signed). */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalize(value));
}
