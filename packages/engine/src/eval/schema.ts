/**
 * The subset of JSON Schema (2020-12) that the evaluator infers for values and that providers declare for their
 * inputs and outputs. `true` accepts anything ("always"), `false` nothing ("never"). Objects are built with the
 * same key order as ESC's Go schema type so that serialized output lines up with the reference.
 */
export type Schema = boolean | SchemaObject;

export interface SchemaObject {
  $defs?: Record<string, Schema>;
  $ref?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  prefixItems?: Schema[];
  items?: Schema;
  additionalProperties?: Schema;
  properties?: Record<string, Schema>;
  type?: 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  required?: string[];
  description?: string;
  /** ESC extension: a value reachable only while rotating. */
  rotateOnly?: boolean;
}

export const always: Schema = true;
export const never: Schema = false;

export const nullSchema = (): SchemaObject => ({ type: 'null' });
export const booleanSchema = (): SchemaObject => ({ type: 'boolean' });
export const numberSchema = (): SchemaObject => ({ type: 'number' });
export const stringSchema = (): SchemaObject => ({ type: 'string' });
export const constSchema = (type: 'boolean' | 'number' | 'string', value: unknown): SchemaObject => ({
  type,
  const: value,
});
export const arrayOf = (items: Schema): SchemaObject => ({ items, type: 'array' });
export const tupleOf = (items: Schema[]): SchemaObject => ({
  prefixItems: items,
  items: false,
  type: 'array',
});
export const mapOf = (additionalProperties: Schema): SchemaObject => ({
  additionalProperties,
  type: 'object',
});

/** A closed object with exactly the given (required) properties. */
export function record(properties: Record<string, Schema>): SchemaObject {
  const keys = Object.keys(properties).sort();
  return recordOf(
    keys,
    keys.map((k) => properties[k]!),
  );
}

/** {@link record} for keys that are already sorted, with their schemas in the same order. */
export function recordOf(sortedKeys: string[], schemas: Schema[]): SchemaObject {
  if (sortedKeys.length === 0) return { type: 'object' };
  const properties: Record<string, Schema> = Object.create(null); // user keys: "__proto__" must stay an ordinary key
  for (let i = 0; i < sortedKeys.length; i++) properties[sortedKeys[i]!] = schemas[i]!;
  // `required` shares the caller's array: schemas are never mutated once built.
  return { properties, type: 'object', required: sortedKeys };
}

/** The schema of property `key` of values matching `s`. */
export function propertySchema(s: Schema, key: string): Schema {
  if (typeof s === 'boolean') return s;
  const p = s.properties?.[key];
  if (p !== undefined) return p;
  if (s.additionalProperties !== undefined) return s.additionalProperties;
  return s.type === 'object' && s.properties ? false : true;
}

/** The schema of element `index` of values matching `s`. */
export function itemSchema(s: Schema, index: number): Schema {
  if (typeof s === 'boolean') return s;
  const p = s.prefixItems?.[index];
  if (p !== undefined) return p;
  if (s.items !== undefined) return s.items;
  return true;
}

/** JSON merge patch of schemas: the schema of `top` merged onto `base` (ESC's mergedSchema). */
export function mergedSchema(base: Schema | undefined, top: Schema): Schema {
  if (base === undefined || typeof top === 'boolean' || top.type !== 'object') return top;
  if (typeof base === 'boolean' || base.type !== 'object') return top;
  const props: Record<string, Schema> = { ...(base.properties ?? {}) };
  for (const [k, t] of Object.entries(top.properties ?? {})) {
    props[k] = k in props ? mergedSchema(props[k], t) : t;
  }
  const merged = record(props);
  let additional = top.additionalProperties;
  if (base.additionalProperties !== undefined) {
    additional = additional === undefined ? base.additionalProperties : true;
  }
  if (additional !== undefined) return { additionalProperties: additional, ...merged };
  return merged;
}
