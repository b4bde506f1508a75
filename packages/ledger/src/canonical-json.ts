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

// The success path allocates nothing but the output: the path to a value is built only when reporting an
// error (from `trail`, the keys and indexes of the containers being written), and strings are appended with +=.
const QUOTED_KEYS = new Map<string, string>();
/** Bounds the cache: records have a few dozen distinct property names; hostile input cannot grow it further. */
const MAX_QUOTED_KEYS = 4096;

class Writer {
  out = '';
  readonly trail: Array<string | number> = [];
  /** The containers being written, outermost first: a cycle is one of them met again. */
  readonly open: object[] = [];

  /** `"key":` — property names repeat across records, so their quoted form is cached. */
  quoteKey(key: string): string {
    let quoted = QUOTED_KEYS.get(key);
    if (quoted === undefined) {
      if (!isWellFormed(key)) throw this.fail('lone surrogate in property name');
      quoted = JSON.stringify(key) + ':';
      if (QUOTED_KEYS.size < MAX_QUOTED_KEYS) QUOTED_KEYS.set(key, quoted);
    }
    return quoted;
  }

  fail(what: string): LedgerError<'unsupported-json-value'> {
    const path = this.trail.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
    return unsupported(`$${path}`, what);
  }

  write(v: unknown): void {
    switch (typeof v) {
      case 'string':
        if (!isWellFormed(v)) throw this.fail('lone surrogate in string');
        this.out += JSON.stringify(v);
        return;
      case 'number':
        if (!Number.isFinite(v)) throw this.fail(`number ${v}`);
        this.out += String(v); // Number::toString; -0 gives "0" as RFC 8785 requires
        return;
      case 'boolean':
        this.out += v ? 'true' : 'false';
        return;
      case 'object':
        break;
      default:
        throw this.fail(`value of type ${typeof v}`);
    }
    if (v === null) {
      this.out += 'null';
      return;
    }
    if (this.trail.length >= MAX_JSON_DEPTH) throw this.fail('nesting too deep');
    if (this.open.includes(v)) throw this.fail('cycle');
    this.open.push(v);
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) throw this.fail('array subclass');
      this.out += '[';
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.out += ',';
        const item: unknown = v[i];
        this.trail.push(i);
        if (item === undefined) throw this.fail('undefined array element');
        this.write(item);
        this.trail.pop();
      }
      this.out += ']';
    } else {
      if (!isPlainObject(v)) throw this.fail(`non-plain object ${v.constructor?.name ?? ''}`.trim());
      const obj = v as Record<string, unknown>;
      this.out += '{';
      let first = true;
      for (const key of sortedKeys(obj)) {
        const item = obj[key];
        if (item === undefined) continue;
        if (!first) this.out += ',';
        first = false;
        this.out += this.quoteKey(key);
        this.trail.push(key);
        this.write(item);
        this.trail.pop();
      }
      this.out += '}';
    }
    this.open.pop();
  }
}

/** Objects with at most this many properties have their names sorted here, in place (see `sortedKeys`). */
const INSERTION_SORT_MAX = 16;

/**
 * An object's property names in UTF-16 code-unit order (`<` on strings, as `Array.prototype.sort` compares them).
 * Records' objects have a handful of properties: sorting those in place spares the copy that the built-in sort
 * makes of every array it sorts; larger objects, which a hostile value could make huge, use the built-in sort.
 */
function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

/** RFC 8785 canonical JSON text of a value. Throws unsupported-json-value for anything not plain JSON data. */
export function canonicalize(value: unknown): string {
  const writer = new Writer();
  writer.write(value);
  return writer.out;
}

/** UTF-8 bytes of the canonical JSON text (what gets hashed and signed). */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalize(value));
}
