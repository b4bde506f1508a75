import { parseEnvironment } from './ast/environment.js';
import type { EnvironmentDecl } from './ast/environment.js';
import { hasErrors } from './diagnostics.js';
import type { Diagnostic } from './diagnostics.js';
import { PARSE_CACHE_MAX_BYTES } from './limits.js';
import { decodeYAML } from './syntax/yaml.js';

export interface Parsed {
  /** Absent when the YAML itself is unusable. */
  decl?: EnvironmentDecl;
  diagnostics: readonly Diagnostic[];
}

/**
 * Parsed definitions by environment name and text. A stored revision never changes and is imported by many
 * environments, so re-parsing it on every evaluation would dominate evaluation time. Parsed declarations are
 * never mutated by evaluation, so sharing them is safe. Bounded by total source size; least recently used first out.
 */
const cache = new Map<string, { parsed: Parsed; size: number }>();
let cachedBytes = 0;

const textDecoder = new TextDecoder('utf-8', { fatal: true });

function parse(name: string, source: Uint8Array | string): Parsed {
  const decoded = decodeYAML(name, source);
  if (hasErrors(decoded.diags)) return { diagnostics: decoded.diags };
  // Mistakes found while parsing expressions do not prevent evaluation (as in ESC): the affected expressions
  // evaluate to unknown values and the rest of the environment is still useful to an editor.
  const parsed = parseEnvironment(decoded.node);
  return { decl: parsed.env, diagnostics: [...decoded.diags, ...parsed.diags] };
}

/** Parses a definition, reusing an earlier parse of the same name and text. */
export function parseCached(name: string, source: Uint8Array | string): Parsed {
  let text: string;
  if (typeof source === 'string') text = source;
  else {
    try {
      text = textDecoder.decode(source);
    } catch {
      return parse(name, source); // invalid UTF-8: report it, do not cache
    }
  }
  const key = `${name}\u0000${text}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit.parsed;
  }
  const parsed = parse(name, text);
  const size = key.length;
  if (size <= PARSE_CACHE_MAX_BYTES / 4) {
    cache.set(key, { parsed, size });
    cachedBytes += size;
    for (const [k, v] of cache) {
      if (cachedBytes <= PARSE_CACHE_MAX_BYTES) break;
      cache.delete(k);
      cachedBytes -= v.size;
    }
  }
  return parsed;
}

/** Empties the parse cache (tests and benchmarks measuring cold parses). */
export function clearParseCache(): void {
  cache.clear();
  cachedBytes = 0;
}
