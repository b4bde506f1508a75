import { error } from '../diagnostics.js';
import type { Diagnostic } from '../diagnostics.js';
import type { StringNode } from '../syntax/node.js';

/** `.name` or `["name"]` or `[0]` in a property access. */
export type PropertyAccessor = { kind: 'name'; name: string } | { kind: 'subscript'; index: string | number };

export interface PropertyAccess {
  accessors: PropertyAccessor[];
}

export interface Interpolation {
  /** Literal text before the reference (with `$$` already unescaped). */
  text: string;
  /** The reference, if any. */
  value?: PropertyAccess;
}

export function formatPropertyAccess(p: PropertyAccess): string {
  let s = '';
  for (const a of p.accessors) {
    if (a.kind === 'name') s += (s.length ? '.' : '') + a.name;
    else if (typeof a.index === 'string') s += `["${a.index.replaceAll('"', '\\"')}"]`;
    else s += `[${a.index}]`;
  }
  return s;
}

const INT = /^[+-]?\d+$/;

/**
 * Parses a property access up to and including its closing `}` (ESC's grammar: names, `["quoted"]` keys and `[0]`
 * indices). Returns the remaining text.
 */
function parsePropertyAccess(
  node: StringNode,
  access: string,
): { rest: string; access: PropertyAccess } | { diag: Diagnostic } {
  const fail = (summary: string) => ({ diag: error(summary, node.range, node.path) });
  const accessors: PropertyAccessor[] = [];
  while (access.length > 0) {
    const c = access[0];
    if (c === '}') return { rest: access.slice(1), access: { accessors } };
    if (c === '.') {
      if (accessors.length === 0) return fail('the root property must be a string subscript or a name');
      access = access.slice(1);
    } else if (c === '[') {
      if (access.length > 1 && access[1] === '"') {
        let key = '';
        let i = 2;
        for (;;) {
          if (i >= access.length) return fail('missing closing quote in property name');
          if (access[i] === '"') {
            i++;
            break;
          }
          if (access[i] === '\\' && i + 1 < access.length && access[i + 1] === '"') {
            key += '"';
            i += 2;
          } else {
            key += access[i];
            i++;
          }
        }
        if (i >= access.length || access[i] !== ']')
          return fail('missing closing bracket in property access');
        accessors.push({ kind: 'subscript', index: key });
        access = access.slice(i + 1);
      } else {
        const rb = access.indexOf(']');
        if (rb === -1) return fail('missing closing bracket in list index');
        const text = access.slice(1, rb);
        const index = INT.test(text) ? Number(text) : NaN;
        if (!Number.isSafeInteger(index)) return fail('invalid list index');
        if (accessors.length === 0) return fail('the root property must be a string subscript or a name');
        accessors.push({ kind: 'subscript', index });
        access = access.slice(rb + 1);
      }
    } else {
      let i = 0;
      while (i < access.length && access[i] !== '.' && access[i] !== '[' && access[i] !== '}') i++;
      const name = access.slice(0, i);
      if (accessors.length === 0 && INT.test(name))
        return fail('the root property must be a string subscript or a name');
      accessors.push({ kind: 'name', name });
      access = access.slice(i);
    }
  }
  return fail('unterminated interpolation');
}

/** Splits a string into literal text and `${...}` references; `$$` escapes a dollar sign. */
export function parseInterpolate(node: StringNode): { parts: Interpolation[]; diags: Diagnostic[] } {
  const parts: Interpolation[] = [];
  let value = node.value;
  if (value.indexOf('$') === -1) return { parts: value.length ? [{ text: value }] : [], diags: [] };
  let str = '';
  while (value.length > 0) {
    if (value.startsWith('$$')) {
      str += '$';
      value = value.slice(2);
    } else if (value.startsWith('${')) {
      const r = parsePropertyAccess(node, value.slice(2));
      if ('diag' in r) return { parts: [], diags: [r.diag] };
      parts.push({ text: str, value: r.access });
      str = '';
      value = r.rest;
    } else {
      const next = value.indexOf('$', 1);
      const n = next === -1 ? value.length : next;
      str += value.slice(0, n);
      value = value.slice(n);
    }
  }
  if (str.length) parts.push({ text: str });
  const diags: Diagnostic[] = [];
  for (const p of parts) {
    if (p.value && p.value.accessors.length === 0) {
      diags.push(error('Property access expressions cannot be empty', node.range, node.path));
    }
  }
  return { parts, diags };
}
