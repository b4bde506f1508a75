import type { ProviderValue } from '@vigil/engine';
import { isMap, parse, parseDocument } from 'yaml';
import { parsePropertyPath } from '../esc/parse.js';

const SIMPLE_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A property key joined onto a document path exactly as the engine names paths (its `joinKey`, ESC's JoinKey). */
function joinKey(root: string, key: string): string {
  if (!SIMPLE_KEY.test(key)) return `${root}["${key.replaceAll('"', '\\"')}"]`;
  return root === '' ? key : `${root}.${key}`;
}

const isRotate = (key: string) => key === 'fn::rotate' || key.startsWith('fn::rotate::');

/**
 * The paths of a definition's `fn::rotate` calls, relative to `values` (`db.creds`, `list[0]`), in document
 * order — what `POST …/rotate` takes as `paths` and reports as `environmentPath`. The definition has been
 * checked already (valid YAML).
 */
export function rotationPaths(yaml: string): string[] {
  const doc = parse(yaml, { uniqueKeys: false }) as unknown;
  const values = isObject(doc) ? doc.values : undefined;
  const out: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) v.forEach((e, i) => walk(e, `${path}[${i}]`));
    else if (isObject(v)) {
      const keys = Object.keys(v);
      if (keys.some(isRotate)) out.push(path.slice('values.'.length));
      else for (const k of keys) walk(v[k], joinKey(path, k));
    }
  };
  if (isObject(values)) for (const k of Object.keys(values)) walk(values[k], joinKey('values', k));
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A patch that cannot be written back (the definition changed under the rotation, or a value has no YAML form). */
export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

/**
 * Writes new rotation state into a definition: `docPath` is the engine's (`values.db["fn::rotate::postgres"].state`).
 * Secret strings become plaintext `fn::secret`s, for the caller to seal before storing. Returns the new text.
 */
export function applyStatePatch(yaml: string, docPath: string, replacement: ProviderValue): string {
  const segments = parsePropertyPath(docPath);
  if (!segments || segments.length < 2) throw new PatchError(`bad state path ${docPath}`);
  const doc = parseDocument(yaml, { uniqueKeys: false });
  const call = doc.getIn(segments.slice(0, -1), true);
  if (!isMap(call))
    throw new PatchError('the definition changed during the rotation: its fn::rotate is gone');
  call.set(segments.at(-1), doc.createNode(toYaml(replacement, false)));
  return doc.toString({ lineWidth: 0, indent: 2 });
}

type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

/** A rotator's value as definition YAML: secret strings as `{fn::secret: plaintext}`. */
function toYaml(v: ProviderValue, inSecret: boolean): Plain {
  const secret = inSecret || v.secret === true;
  const r = v.value;
  if (v.unknown) throw new PatchError('the rotator returned an unknown value');
  if (r === undefined || r === null) return null;
  if (Array.isArray(r)) return r.map((e) => toYaml(e, secret));
  if (typeof r === 'object') {
    const o: { [key: string]: Plain } = Object.create(null) as { [key: string]: Plain };
    for (const k of Object.keys(r)) o[k] = toYaml(r[k]!, secret);
    return o;
  }
  if (!secret) return r;
  if (typeof r !== 'string') throw new PatchError('the rotator returned a secret that is not a string');
  return { 'fn::secret': r };
}
