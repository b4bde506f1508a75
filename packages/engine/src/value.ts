import type { Range } from './diagnostics.js';

/** The concrete representation inside a {@link Value}. */
export type ValueRepr = null | boolean | number | string | Value[] | { [key: string]: Value };

/** Where a value came from: the expression that computed it and the imported value it overrode, if any. */
export interface Trace {
  def: Range;
  base?: Value;
}

/**
 * The result of evaluating an expression, in ESC's `Value` shape. Every nesting level is wrapped. `value` is
 * absent for null (as in ESC's JSON). Secret values carry their plaintext here: use {@link redact} before showing one.
 */
export interface Value {
  value?: ValueRepr;
  secret?: boolean;
  unknown?: boolean;
  trace: Trace;
}

/** A value as exchanged with providers and rotators: a {@link Value} whose trace is optional. */
export interface ProviderValue {
  value?: null | boolean | number | string | ProviderValue[] | { [key: string]: ProviderValue };
  secret?: boolean;
  unknown?: boolean;
}

export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

export const SECRET_PLACEHOLDER = '[secret]';
export const UNKNOWN_PLACEHOLDER = '[unknown]';

/**
 * Converts a value to plain JSON. With `redact`, secrets become `"[secret]"`; unknowns are always `"[unknown]"`
 * (ESC's Value.ToJSON).
 */
export function toJSON(v: ProviderValue, redact: boolean): JSONValue {
  if (v.secret && redact) return SECRET_PLACEHOLDER;
  if (v.unknown) return UNKNOWN_PLACEHOLDER;
  const r = v.value;
  if (r === undefined || r === null) return null;
  if (Array.isArray(r)) return r.map((e) => toJSON(e, redact));
  if (typeof r === 'object') {
    const o: { [key: string]: JSONValue } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    for (const k of Object.keys(r)) o[k] = toJSON(r[k]!, redact);
    return o;
  }
  return r;
}

/** Plain JSON with secrets shown as `[secret]`. */
export function redact(v: ProviderValue): JSONValue {
  return toJSON(v, true);
}

/** Plain JSON with secrets revealed. Callers are responsible for who sees the result. */
export function reveal(v: ProviderValue): JSONValue {
  return toJSON(v, false);
}

/** Wraps plain JSON as a provider value, optionally marking every level secret. */
export function fromJSON(j: JSONValue, secret = false): ProviderValue {
  const wrap = (value: ProviderValue['value']): ProviderValue => (secret ? { value, secret } : { value });
  if (j === null) return secret ? { secret } : {};
  if (Array.isArray(j)) return wrap(j.map((e) => fromJSON(e, secret)));
  if (typeof j === 'object') {
    const o: { [key: string]: ProviderValue } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    for (const k of Object.keys(j).sort()) o[k] = fromJSON(j[k]!, secret);
    return wrap(o);
  }
  return wrap(j);
}

/** Looks up a dotted/bracketed path (`a.b[0]["c d"]`) in a properties map; undefined if absent. */
export function valueAtPath(
  properties: { [key: string]: Value },
  path: readonly (string | number)[],
): Value | undefined {
  let cur: Value | undefined = { value: properties, trace: { def: zeroRange('') } };
  for (const p of path) {
    const r: ValueRepr | undefined = cur?.value;
    if (typeof p === 'number') cur = Array.isArray(r) ? r[p] : undefined;
    else
      cur =
        r !== null && typeof r === 'object' && !Array.isArray(r) && Object.hasOwn(r, p) ? r[p] : undefined;
    if (!cur) return undefined;
  }
  return cur;
}

export function zeroRange(environment: string): Range {
  return { environment, begin: { line: 0, column: 0, byte: 0 }, end: { line: 0, column: 0, byte: 0 } };
}

/** Plain JSON of an environment's properties map (redacted unless `redact` is false). */
export function propertiesToJSON(
  properties: { [key: string]: Value },
  redact = true,
): { [key: string]: JSONValue } {
  const o: { [key: string]: JSONValue } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
  for (const k of Object.keys(properties)) o[k] = toJSON(properties[k]!, redact);
  return o;
}
