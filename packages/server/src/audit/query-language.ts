import { EVENT_TYPES, resolveEventName, type EventId } from '@vigil/protocol';
import { cidrRange, type IpKeyRange } from './ip-key.js';

/**
 * The audit-log query language (`q=`, issue #6; docs/query-language.md): qualifiers (`actor:alice`,
 * `event:environment-*`, `ip:10.0.0.0/8`, `created:>=2026-01-01` …), free words and `"quoted phrases"` matched
 * against descriptions, `-` negation, implicit AND, `OR` (AND binds tighter) and parentheses.
 *
 *   query   = [ or ]
 *   or      = and { "OR" and }
 *   and     = unary { [ "AND" ] unary }
 *   unary   = [ "-" ] primary
 *   primary = "(" or ")" | qualifier ":" value | word | phrase
 *
 * Parsing is pure and total: every input either yields a tree whose values are validated (event ids resolved,
 * CIDRs as key ranges, dates as millisecond bounds) or a `QueryError` naming the offending token and its offset.
 * The tree carries no SQL; `query-sql.ts` compiles it with bound parameters only.
 */
export type QueryNode =
  | { readonly kind: 'and'; readonly terms: readonly QueryNode[] }
  | { readonly kind: 'or'; readonly terms: readonly QueryNode[] }
  | { readonly kind: 'not'; readonly term: QueryNode }
  /** The actor's login, lower case (logins are unique case-insensitively). */
  | { readonly kind: 'actor'; readonly login: string }
  | { readonly kind: 'event'; readonly ids: readonly EventId[] }
  | { readonly kind: 'project'; readonly project: string }
  | { readonly kind: 'environment'; readonly project?: string; readonly environment: string }
  | ({ readonly kind: 'ip' } & IpKeyRange)
  | { readonly kind: 'token'; readonly name: string }
  | { readonly kind: 'outcome'; readonly outcome: 'success' | 'denied' }
  /** Half-open `[fromMs, untilMs)`; at least one bound. */
  | { readonly kind: 'time'; readonly fromMs?: number; readonly untilMs?: number }
  /** Description contains `needle` (already lower case). */
  | { readonly kind: 'text'; readonly needle: string };

/** Longest query accepted, in characters. */
export const MAX_QUERY_LENGTH = 1024;
/** Most terms (qualifiers, words, phrases) in one query: bounds the SQL it compiles to. */
export const MAX_QUERY_TERMS = 64;
/** Deepest nesting of parentheses and negations. */
export const MAX_QUERY_DEPTH = 16;

export const QUALIFIERS = ['actor', 'event', 'env', 'project', 'ip', 'token', 'outcome', 'created'] as const;
type Qualifier = (typeof QUALIFIERS)[number];

/** A query that does not parse: `message` names the token (`unexpected ")" at 14`); `position` is its offset. */
export class QueryError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

type TokenKind = 'open' | 'close' | 'or' | 'and' | 'not' | 'word' | 'phrase' | 'qualified';
interface Token {
  readonly kind: TokenKind;
  /** The token as written, for messages. */
  readonly text: string;
  /** Offset of its first character (0-based, UTF-16 code units as JavaScript counts them). */
  readonly position: number;
  /** `qualified`: the qualifier and its value (unquoted), and where the value starts. */
  readonly qualifier?: Qualifier;
  readonly value?: string;
  readonly valuePosition?: number;
}

const SPACE = /\s/;

/** Splits a query into tokens. Words end at white space, parentheses and quotes. */
function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const quoted = (start: number): { value: string; end: number } => {
    const close = query.indexOf('"', start + 1);
    if (close < 0) throw new QueryError(`unterminated quote at ${start}`, start);
    return { value: query.slice(start + 1, close), end: close + 1 };
  };
  while (i < query.length) {
    const c = query[i]!;
    if (SPACE.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'open' : 'close', text: c, position: i });
      i++;
    } else if (c === '"') {
      const { value, end } = quoted(i);
      tokens.push({ kind: 'phrase', text: query.slice(i, end), position: i, value });
      i = end;
    } else if (c === '-') {
      // Negation binds to what follows at once: a `-` before white space, `)` or the end negates nothing.
      if (i + 1 >= query.length || SPACE.test(query[i + 1]!) || query[i + 1] === ')')
        throw new QueryError(`unexpected "-" at ${i}`, i);
      tokens.push({ kind: 'not', text: '-', position: i });
      i++;
    } else {
      let end = i;
      while (end < query.length && !SPACE.test(query[end]!) && !'()"'.includes(query[end]!)) end++;
      const word = query.slice(i, end);
      const colon = word.indexOf(':');
      const key = colon > 0 ? word.slice(0, colon) : '';
      if (colon > 0 && /^[A-Za-z]+$/.test(key)) {
        const qualifier = key.toLowerCase();
        if (!(QUALIFIERS as readonly string[]).includes(qualifier))
          throw new QueryError(
            `unknown qualifier "${key}" at ${i} (quote it to search descriptions for it)`,
            i,
          );
        let value = word.slice(colon + 1);
        const valuePosition = i + colon + 1;
        if (value === '' && query[end] === '"') {
          const q = quoted(end);
          value = q.value;
          end = q.end;
        }
        if (value === '') throw new QueryError(`"${word}" at ${i} needs a value`, i);
        tokens.push({
          kind: 'qualified',
          text: query.slice(i, end),
          position: i,
          qualifier: qualifier as Qualifier,
          value,
          valuePosition,
        });
      } else if (query[end] === '"') {
        throw new QueryError(`unexpected '"' at ${end}`, end);
      } else {
        const kind = word === 'OR' ? 'or' : word === 'AND' ? 'and' : 'word';
        tokens.push({ kind, text: word, position: i, ...(kind === 'word' ? { value: word } : {}) });
      }
      i = end;
    }
  }
  return tokens;
}

/** Parses `q`. Undefined when it selects everything (empty or white space only). */
export function parseQuery(query: string): QueryNode | undefined {
  if (query.length > MAX_QUERY_LENGTH)
    throw new QueryError(`query is longer than ${MAX_QUERY_LENGTH} characters`, MAX_QUERY_LENGTH);
  const tokens = tokenize(query);
  if (tokens.length === 0) return undefined;
  let at = 0;
  let terms = 0;
  const peek = (): Token | undefined => tokens[at];
  const unexpected = (token: Token | undefined): QueryError =>
    token
      ? new QueryError(`unexpected ${JSON.stringify(token.text)} at ${token.position}`, token.position)
      : new QueryError(`unexpected end of query at ${query.length}`, query.length);

  const or = (depth: number): QueryNode => {
    const list = [and(depth)];
    while (peek()?.kind === 'or') {
      at++;
      list.push(and(depth));
    }
    return list.length === 1 ? list[0]! : { kind: 'or', terms: list };
  };
  const and = (depth: number): QueryNode => {
    const list: QueryNode[] = [];
    for (;;) {
      const token = peek();
      if (!token || token.kind === 'close' || token.kind === 'or') break;
      if (token.kind === 'and') {
        if (list.length === 0) throw unexpected(token);
        at++;
        const next = peek();
        if (!next || next.kind === 'close' || next.kind === 'or' || next.kind === 'and')
          throw unexpected(next);
        continue;
      }
      list.push(unary(depth));
    }
    if (list.length === 0) throw unexpected(peek());
    return list.length === 1 ? list[0]! : { kind: 'and', terms: list };
  };
  const unary = (depth: number): QueryNode => {
    const token = peek()!;
    if (token.kind !== 'not') return primary(depth);
    at++;
    const next = peek();
    if (!next || next.kind === 'not' || next.kind === 'close' || next.kind === 'or' || next.kind === 'and')
      throw unexpected(next);
    return { kind: 'not', term: primary(nested(depth, token)) };
  };
  const nested = (depth: number, token: Token): number => {
    if (depth + 1 > MAX_QUERY_DEPTH)
      throw new QueryError(`nesting deeper than ${MAX_QUERY_DEPTH} at ${token.position}`, token.position);
    return depth + 1;
  };
  const primary = (depth: number): QueryNode => {
    const token = peek()!;
    if (token.kind === 'open') {
      at++;
      const inner = or(nested(depth, token));
      if (peek()?.kind !== 'close')
        throw new QueryError(`missing ")" for "(" at ${token.position}`, token.position);
      at++;
      return inner;
    }
    if (token.kind !== 'word' && token.kind !== 'phrase' && token.kind !== 'qualified')
      throw unexpected(token);
    at++;
    if (++terms > MAX_QUERY_TERMS)
      throw new QueryError(`more than ${MAX_QUERY_TERMS} terms at ${token.position}`, token.position);
    return term(token);
  };

  const node = or(0);
  if (at < tokens.length) throw unexpected(peek());
  return node;
}

/** One term's node, its value validated. */
function term(token: Token): QueryNode {
  const value = token.value!;
  if (token.kind !== 'qualified') {
    if (value.trim() === '') throw new QueryError(`empty phrase at ${token.position}`, token.position);
    return { kind: 'text', needle: value.toLowerCase() };
  }
  const position = token.valuePosition!;
  const invalid = (what: string): QueryError =>
    new QueryError(`${what} ${JSON.stringify(value)} at ${position}`, position);
  switch (token.qualifier!) {
    case 'actor':
      return { kind: 'actor', login: value.toLowerCase() };
    case 'event': {
      if (value.endsWith('*')) {
        const prefix = value.slice(0, -1);
        const ids = EVENT_TYPES.filter((e) => e.id.startsWith(prefix)).map((e) => e.id);
        if (prefix.includes('*') || ids.length === 0) throw invalid('no event type matches');
        return { kind: 'event', ids };
      }
      const type = resolveEventName(value);
      if (!type) throw invalid('no event type is named');
      return { kind: 'event', ids: [type.id] };
    }
    case 'env': {
      const parts = value.split('/');
      if (parts.length > 2 || parts.some((p) => p === '')) throw invalid('expected project/environment, not');
      return parts.length === 2
        ? { kind: 'environment', project: parts[0]!, environment: parts[1]! }
        : { kind: 'environment', environment: parts[0]! };
    }
    case 'project':
      return { kind: 'project', project: value };
    case 'ip': {
      const range = cidrRange(value);
      if (!range) throw invalid('expected an IP address or CIDR block, not');
      return { kind: 'ip', ...range };
    }
    case 'token':
      return { kind: 'token', name: value };
    case 'outcome':
      if (value !== 'success' && value !== 'denied') throw invalid('outcome is success or denied, not');
      return { kind: 'outcome', outcome: value };
    case 'created': {
      const bounds = createdBounds(value);
      if (!bounds) throw invalid('expected a date, a datetime, a comparison or a range, not');
      return { kind: 'time', ...bounds };
    }
  }
}

/**
 * `created:` values. A date covers its UTC day, a datetime its second (or millisecond, with a fraction):
 * `X` is within X, `>=X` from its start, `>X` after its end, `<X` before its start, `<=X` up to its end,
 * `X..Y` from X's start to Y's end, with `*` for an open end.
 */
function createdBounds(value: string): { fromMs?: number; untilMs?: number } | undefined {
  const comparison = /^(>=|<=|>|<)(.+)$/.exec(value);
  if (comparison) {
    const span = instant(comparison[2]!);
    if (!span) return undefined;
    switch (comparison[1]) {
      case '>=':
        return { fromMs: span.from };
      case '>':
        return { fromMs: span.until };
      case '<':
        return { untilMs: span.from };
      default:
        return { untilMs: span.until };
    }
  }
  const dots = value.indexOf('..');
  if (dots >= 0) {
    const [a, b] = [value.slice(0, dots), value.slice(dots + 2)];
    const from = a === '*' ? undefined : instant(a);
    const until = b === '*' ? undefined : instant(b);
    if ((a !== '*' && !from) || (b !== '*' && !until) || (!from && !until)) return undefined;
    if (from && until && until.until < from.from) return undefined;
    return { ...(from ? { fromMs: from.from } : {}), ...(until ? { untilMs: until.until } : {}) };
  }
  const span = instant(value);
  return span && { fromMs: span.from, untilMs: span.until };
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

/** The span a date or RFC 3339 datetime names, `[from, until)` in epoch ms; undefined if not a real one. */
function instant(text: string): { from: number; until: number } | undefined {
  const date = DATE.exec(text);
  if (date) {
    const from = utc(+date[1]!, +date[2]!, +date[3]!, 0, 0, 0);
    return from === undefined ? undefined : { from, until: from + DAY_MS };
  }
  const time = DATETIME.exec(text);
  if (!time) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = time;
  if (+h! > 23 || +mi! > 59 || +s! > 59) return undefined;
  const base = utc(+y!, +mo!, +d!, +h!, +mi!, +s!);
  if (base === undefined) return undefined;
  let offset = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const [oh, om] = zone!.slice(1).split(':').map(Number);
    if (oh! > 23 || om! > 59) return undefined;
    offset = (zone![0] === '-' ? -1 : 1) * (oh! * 60 + om!) * 60_000;
  }
  const ms = fraction ? Number(fraction.slice(1, 4).padEnd(3, '0')) : 0;
  const from = base + ms - offset;
  return { from, until: from + (fraction ? 1 : 1000) };
}

/** Epoch ms of a UTC calendar time, or undefined if the date does not exist (2026-02-30). */
function utc(y: number, mo: number, d: number, h: number, mi: number, s: number): number | undefined {
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (y < 1 || check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d)
    return undefined;
  return ms;
}
