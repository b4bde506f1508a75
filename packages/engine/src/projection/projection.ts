import type { JSONValue, Value } from '../value.js';
import { SECRET_PLACEHOLDER, toJSON, UNKNOWN_PLACEHOLDER } from '../value.js';

/** Reserved top-level keys of `values` with a meaning to consumers. */
export const ENVIRONMENT_VARIABLES_KEY = 'environmentVariables';
export const FILES_KEY = 'files';
export const PULUMI_CONFIG_KEY = 'pulumiConfig';

/** POSIX-portable environment variable names; anything else cannot be exported by a shell. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ProjectionOptions {
  /** Show secrets as `[secret]` (default true). */
  redact?: boolean;
}

export interface Projection {
  /** `values.environmentVariables`: string values only. */
  environmentVariables: { [name: string]: string };
  /** `values.files`: file contents by the environment variable that will hold the file's path. */
  files: { [name: string]: string };
  /** `values.pulumiConfig` as plain JSON. */
  pulumiConfig: { [key: string]: JSONValue };
  /** Entries left out, with the reason (e.g. a non-string value or an invalid variable name). */
  skipped: { key: string; reason: string }[];
}

function stringsOf(
  section: string,
  v: Value | undefined,
  redact: boolean,
  skipped: Projection['skipped'],
): { [name: string]: string } {
  const out: { [name: string]: string } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
  const r = v?.value;
  if (r === undefined || r === null || typeof r !== 'object' || Array.isArray(r)) return out;
  for (const k of Object.keys(r).sort()) {
    const e = r[k]!;
    if (!ENV_NAME.test(k)) {
      skipped.push({ key: `${section}.${k}`, reason: 'not a valid environment variable name' });
      continue;
    }
    if (e.unknown) out[k] = UNKNOWN_PLACEHOLDER;
    else if (e.secret && redact) out[k] = SECRET_PLACEHOLDER;
    else if (typeof e.value === 'string') out[k] = e.value;
    else skipped.push({ key: `${section}.${k}`, reason: 'value is not a string' });
  }
  return out;
}

/** Projects an opened environment's properties onto its consumers' views. */
export function projectEnvironment(
  properties: { [key: string]: Value },
  opts: ProjectionOptions = {},
): Projection {
  const redact = opts.redact ?? true;
  const skipped: Projection['skipped'] = [];
  const environmentVariables = stringsOf(
    ENVIRONMENT_VARIABLES_KEY,
    properties[ENVIRONMENT_VARIABLES_KEY],
    redact,
    skipped,
  );
  const files = stringsOf(FILES_KEY, properties[FILES_KEY], redact, skipped);
  const cfg = properties[PULUMI_CONFIG_KEY];
  const plain = cfg ? toJSON(cfg, redact) : {};
  const pulumiConfig = plain !== null && typeof plain === 'object' && !Array.isArray(plain) ? plain : {};
  return { environmentVariables, files, pulumiConfig, skipped };
}

/** Go's %q for dotenv values (double quotes; `\`, `"`, and control characters escaped). */
function dotenvQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** `KEY="value"` lines, sorted by key. */
export function renderDotenv(vars: { [name: string]: string }): string {
  return Object.keys(vars)
    .sort()
    .filter((k) => ENV_NAME.test(k))
    .map((k) => `${k}=${dotenvQuote(vars[k]!)}\n`)
    .join('');
}

/** POSIX single-quoting: everything is literal inside '...'; a quote is written as '"'"'. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** `export KEY='value'` lines, sorted by key, safe to `eval` in sh/bash/zsh. */
export function renderShell(vars: { [name: string]: string }): string {
  return Object.keys(vars)
    .sort()
    .filter((k) => ENV_NAME.test(k))
    .map((k) => `export ${k}=${shellQuote(vars[k]!)}\n`)
    .join('');
}

/** The properties as indented JSON; secrets redacted unless `redact: false`. */
export function renderJSON(properties: { [key: string]: Value }, opts: ProjectionOptions = {}): string {
  const redact = opts.redact ?? true;
  const o: { [key: string]: JSONValue } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
  for (const k of Object.keys(properties).sort()) o[k] = toJSON(properties[k]!, redact);
  return JSON.stringify(o, null, 2) + '\n';
}
