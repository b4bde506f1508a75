import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { JSONValue } from '../value.js';

/** Compiled validators keyed by schema text; schemas in definitions repeat, compilation is the costly part. */
const cache = new Map<string, ValidateFunction | string>();
const CACHE_LIMIT = 256;

const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: true });

/**
 * Compiles a JSON Schema written in a definition (`fn::validate`). Returns an error text instead of throwing when
 * the schema itself is invalid.
 */
export function jsonSchemaValidator(
  schema: JSONValue,
): { validate: (v: JSONValue) => string[] } | { error: string } {
  const key = JSON.stringify(schema);
  let compiled = cache.get(key);
  if (compiled === undefined) {
    try {
      if (
        typeof schema !== 'boolean' &&
        (schema === null || typeof schema !== 'object' || Array.isArray(schema))
      ) {
        throw new Error('a schema must be an object or a boolean');
      }
      compiled = ajv.compile(schema);
    } catch (e) {
      compiled = e instanceof Error ? e.message : String(e);
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, compiled);
  }
  if (typeof compiled === 'string') return { error: compiled };
  const fn = compiled;
  return {
    validate: (v) => {
      if (fn(v)) return [];
      return (fn.errors ?? []).map(
        (e) => `${e.instancePath === '' ? 'value' : e.instancePath} ${e.message ?? 'is invalid'}`,
      );
    },
  };
}
