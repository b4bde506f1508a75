import { error } from '../diagnostics.js';
import type { Diagnostic } from '../diagnostics.js';
import type { Schema } from './schema.js';
import { typeName } from './values.js';
import type { Val } from './values.js';

function describe(v: unknown): string {
  return JSON.stringify(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function plain(v: Val): unknown {
  const r = v.repr;
  if (Array.isArray(r)) return r.map(plain);
  if (r instanceof Map) {
    const o: Record<string, unknown> = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    for (const k of v.keys()) o[k] = plain(v.property(k)!);
    return o;
  }
  return r;
}

/**
 * Checks a value against a schema, reporting mismatches at the value's definition (e.g. `expected string, got
 * number`). Unknown values are accepted. Returns false if any check failed.
 */
export function validateValue(v: Val, s: Schema, diags: Diagnostic[]): boolean {
  if (v.unknown || s === true) return true;
  const fail = (summary: string) => {
    const syntax = v.def.syntax;
    diags.push(error(summary, syntax?.range, syntax?.path));
    return false;
  };
  if (s === false) return fail('unexpected value');
  if (s.anyOf || s.oneOf) {
    const alts = (s.anyOf ?? s.oneOf)!;
    if (!alts.some((a) => validateValue(v, a, [])))
      return fail('value does not match any of the allowed schemas');
  }
  const t = typeName(v);
  if (s.type !== undefined && s.type !== t) return fail(`expected ${s.type}, got ${t}`);
  if (s.const !== undefined && !deepEqual(plain(v), s.const)) return fail(`expected ${describe(s.const)}`);
  if (s.enum !== undefined && !s.enum.some((e) => deepEqual(plain(v), e))) {
    return fail(`expected one of ${s.enum.map(describe).join(', ')}`);
  }
  const r = v.repr;
  if (typeof r === 'string') {
    const n = [...r].length;
    if (s.minLength !== undefined && n < s.minLength) return fail(`length must be at least ${s.minLength}`);
    if (s.maxLength !== undefined && n > s.maxLength) return fail(`length must be at most ${s.maxLength}`);
  }
  if (typeof r === 'number') {
    if (s.minimum !== undefined && r < s.minimum) return fail(`must be at least ${s.minimum}`);
    if (s.maximum !== undefined && r > s.maximum) return fail(`must be at most ${s.maximum}`);
  }
  let ok = true;
  if (Array.isArray(r)) {
    if (s.minItems !== undefined && r.length < s.minItems)
      return fail(`expected at least ${s.minItems} items`);
    if (s.maxItems !== undefined && r.length > s.maxItems)
      return fail(`expected at most ${s.maxItems} items`);
    r.forEach((e, i) => {
      const es = s.prefixItems?.[i] ?? s.items ?? true;
      if (es === false) ok = fail(`expected at most ${i} items`) && ok;
      else ok = validateValue(e, es, diags) && ok;
    });
  }
  if (r instanceof Map) {
    for (const k of v.keys()) {
      const ps = s.properties?.[k] ?? s.additionalProperties ?? true;
      if (ps === false) ok = fail(`unknown property "${k}"`) && ok;
      else ok = validateValue(v.property(k)!, ps, diags) && ok;
    }
    for (const k of s.required ?? []) {
      if (!v.keys().includes(k)) ok = fail(`missing required property "${k}"`) && ok;
    }
  }
  return ok;
}
