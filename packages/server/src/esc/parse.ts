/** Parsing of the ESC API's small textual parameters. Every input is attacker-controlled: strict, bounded. */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Default lifetime of an open session (`duration` omitted), as Pulumi's. */
export const DEFAULT_OPEN_DURATION_MS = 60 * 60 * 1000;
/** Longest open session Vigil grants: a day. Secrets should not sit decrypted for longer. */
export const MAX_OPEN_DURATION_MS = 24 * 60 * 60 * 1000;

/**
 * A Go duration (`300ms`, `1.5h`, `2h45m`, `2h0m0s`), as the `duration` query parameter of `open`. Returns
 * milliseconds, or undefined if the text is not a positive duration of at most {@link MAX_OPEN_DURATION_MS}.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = part.lastIndex;
  }
  return total > 0 && total <= MAX_OPEN_DURATION_MS ? Math.round(total) : undefined;
}

/**
 * A property path as `readOpenEnvironmentProperty` sends it: `a.b[0]["c.d"]`. Returns the segments, or
 * undefined when malformed.
 */
export function parsePropertyPath(text: string): Array<string | number> | undefined {
  if (text.length === 0 || text.length > 1024) return undefined;
  const out: Array<string | number> = [];
  let i = 0;
  const ident = /[^.[\]"]+/y;
  while (i < text.length) {
    if (text[i] === '[') {
      const index = /\[(\d{1,9})\]/y;
      index.lastIndex = i;
      const n = index.exec(text);
      if (n) {
        out.push(Number(n[1]));
        i = index.lastIndex;
        continue;
      }
      const quoted = /\["((?:[^"\\]|\\.)*)"\]/y;
      quoted.lastIndex = i;
      const q = quoted.exec(text);
      if (!q) return undefined;
      out.push(JSON.parse(`"${q[1]}"`) as string);
      i = quoted.lastIndex;
      continue;
    }
    if (text[i] === '.') {
      if (out.length === 0) return undefined;
      i++;
    }
    ident.lastIndex = i;
    const m = ident.exec(text);
    if (!m) return undefined;
    out.push(m[0]);
    i = ident.lastIndex;
  }
  return out;
}
