import { error } from '../diagnostics.js';
import type { Diagnostic } from '../diagnostics.js';
import type { ObjectNode, StringNode, SyntaxNode } from '../syntax/node.js';
import { parseInterpolate } from './property.js';
import type { Interpolation, PropertyAccess } from './property.js';

interface ExprBase {
  /** The syntax the expression was parsed from; absent for synthesized expressions. */
  syntax?: SyntaxNode;
}

export interface NullExpr extends ExprBase {
  kind: 'null';
}
export interface BooleanExpr extends ExprBase {
  kind: 'boolean';
  value: boolean;
}
export interface NumberExpr extends ExprBase {
  kind: 'number';
  value: number;
}
export interface StringExpr extends ExprBase {
  kind: 'string';
  value: string;
}
/** A string with embedded `${...}` references. */
export interface InterpolateExpr extends ExprBase {
  kind: 'interpolate';
  parts: Interpolation[];
}
/** A string that is exactly one `${...}` reference: evaluates to a copy of the referenced value. */
export interface SymbolExpr extends ExprBase {
  kind: 'symbol';
  property: PropertyAccess;
}
export interface ArrayExpr extends ExprBase {
  kind: 'array';
  elements: Expr[];
}
export interface ObjectProperty {
  key: StringExpr;
  value: Expr;
}
export interface ObjectExpr extends ExprBase {
  kind: 'object';
  entries: ObjectProperty[];
}

/** The builtin functions and their parsed arguments. */
export type Builtin =
  | { fn: 'open'; provider?: StringExpr; inputs?: Expr }
  | { fn: 'rotate'; provider?: StringExpr; inputs?: Expr; state?: Expr }
  | { fn: 'secret'; plaintext?: StringExpr; ciphertext?: StringExpr }
  | { fn: 'join'; delimiter?: Expr; values?: Expr }
  | { fn: 'split'; delimiter?: Expr; string?: Expr }
  | { fn: 'concat'; arrays: Expr }
  | { fn: 'toJSON' | 'fromJSON' | 'toBase64' | 'fromBase64' | 'toString' | 'final'; value: Expr }
  | { fn: 'validate'; schema?: Expr; value?: Expr };

export type BuiltinExpr = ExprBase & {
  kind: 'builtin';
  /** The key as written, e.g. `fn::open::aws-login`. */
  name: StringExpr;
  /** The argument as written. */
  args: Expr;
} & Builtin;

export type Expr =
  | NullExpr
  | BooleanExpr
  | NumberExpr
  | StringExpr
  | InterpolateExpr
  | SymbolExpr
  | ArrayExpr
  | ObjectExpr
  | BuiltinExpr;

export function stringExpr(value: string, syntax?: SyntaxNode): StringExpr {
  return syntax ? { kind: 'string', value, syntax } : { kind: 'string', value };
}

function exprError(x: Expr | undefined, summary: string): Diagnostic {
  return error(summary, x?.syntax?.range, x?.syntax?.path);
}

/** Parses syntax into an expression. Mistakes become diagnostics; the returned expression is always usable. */
export function parseExpr(node: SyntaxNode): { expr: Expr; diags: Diagnostic[] } {
  switch (node.kind) {
    case 'null':
      return { expr: { kind: 'null', syntax: node }, diags: [] };
    case 'boolean':
      return { expr: { kind: 'boolean', value: node.value, syntax: node }, diags: [] };
    case 'number':
      return { expr: { kind: 'number', value: node.value, syntax: node }, diags: [] };
    case 'string': {
      const { parts, diags } = parseInterpolate(node);
      if (parts.length === 0) return { expr: stringExpr(node.value, node), diags };
      if (parts.length === 1) {
        const p = parts[0]!;
        if (!p.value) return { expr: stringExpr(p.text, node), diags };
        if (p.text === '') return { expr: { kind: 'symbol', property: p.value, syntax: node }, diags };
      }
      return { expr: { kind: 'interpolate', parts, syntax: node }, diags };
    }
    case 'array': {
      const diags: Diagnostic[] = [];
      const elements = node.elements.map((e) => {
        const r = parseExpr(e);
        diags.push(...r.diags);
        return r.expr;
      });
      return { expr: { kind: 'array', elements, syntax: node }, diags };
    }
    case 'object': {
      const fn = tryParseFunction(node);
      if (fn.expr) return { expr: fn.expr, diags: fn.diags };
      const diags = [...fn.diags];
      const entries: ObjectProperty[] = node.entries.map((e) => {
        const v = parseExpr(e.value);
        diags.push(...v.diags);
        return { key: stringExpr(e.key.value, e.key), value: v.expr };
      });
      return { expr: { kind: 'object', entries, syntax: node }, diags };
    }
  }
}

type Parser = (node: ObjectNode, name: StringExpr, args: Expr) => { builtin: Builtin; diags: Diagnostic[] };

const unary =
  (fn: 'toJSON' | 'fromJSON' | 'toBase64' | 'fromBase64' | 'toString' | 'final'): Parser =>
  (_node, _name, args) => ({ builtin: { fn, value: args }, diags: [] });

function entriesOf(obj: Expr): Map<string, Expr> {
  const m = new Map<string, Expr>();
  if (obj.kind === 'object') for (const e of obj.entries) m.set(e.key.value, e.value);
  return m;
}

function providerName(obj: Expr, x: Expr | undefined, diags: Diagnostic[]): StringExpr | undefined {
  if (x?.kind === 'string') return x;
  diags.push(
    x
      ? exprError(x, 'provider name must be a string literal')
      : exprError(obj, "missing provider name ('provider')"),
  );
  return undefined;
}

const PARSERS: Record<string, Parser> = {
  'fn::open': (_node, _name, args) => {
    if (args.kind !== 'object') {
      return {
        builtin: { fn: 'open' },
        diags: [
          exprError(args, "the argument to fn::open must be an object containing 'provider' and 'inputs'"),
        ],
      };
    }
    const m = entriesOf(args);
    const diags: Diagnostic[] = [];
    const provider = providerName(args, m.get('provider'), diags);
    const inputs = m.get('inputs');
    if (!inputs) diags.push(exprError(args, "missing provider inputs ('inputs')"));
    return { builtin: { fn: 'open', provider, inputs }, diags };
  },
  'fn::rotate': (_node, _name, args) => {
    if (args.kind !== 'object') {
      return {
        builtin: { fn: 'rotate' },
        diags: [
          exprError(
            args,
            "the argument to fn::rotate must be an object containing 'provider', 'inputs' and 'state'",
          ),
        ],
      };
    }
    const m = entriesOf(args);
    const diags: Diagnostic[] = [];
    const provider = providerName(args, m.get('provider'), diags);
    return { builtin: { fn: 'rotate', provider, ...rotateArgs(args, m, diags) }, diags };
  },
  'fn::secret': (_node, _name, args) => {
    if (args.kind === 'object' && args.entries.length === 1) {
      const e = args.entries[0]!;
      if (e.key.value === 'ciphertext' && e.value.kind === 'string') {
        return { builtin: { fn: 'secret', ciphertext: e.value }, diags: [] };
      }
    }
    if (args.kind === 'string') return { builtin: { fn: 'secret', plaintext: args }, diags: [] };
    return {
      builtin: { fn: 'secret', plaintext: stringExpr('') },
      diags: [exprError(args, 'secret values must be string literals')],
    };
  },
  'fn::join': (_node, _name, args) => {
    if (args.kind !== 'array' || args.elements.length !== 2) {
      return {
        builtin: { fn: 'join' },
        diags: [exprError(args, 'the argument to fn::join must be a two-valued list')],
      };
    }
    return { builtin: { fn: 'join', delimiter: args.elements[0], values: args.elements[1] }, diags: [] };
  },
  'fn::split': (_node, _name, args) => {
    if (args.kind !== 'array' || args.elements.length !== 2) {
      return {
        builtin: { fn: 'split' },
        diags: [exprError(args, 'the argument to fn::split must be a two-valued list')],
      };
    }
    return { builtin: { fn: 'split', delimiter: args.elements[0], string: args.elements[1] }, diags: [] };
  },
  'fn::concat': (_node, _name, args) => {
    const diags =
      args.kind === 'array' ? [] : [exprError(args, 'the argument to fn::concat must be an array of arrays')];
    return { builtin: { fn: 'concat', arrays: args }, diags };
  },
  'fn::validate': (_node, _name, args) => {
    if (args.kind !== 'object') {
      return {
        builtin: { fn: 'validate' },
        diags: [
          exprError(args, "the argument to fn::validate must be an object containing 'schema' and 'value'"),
        ],
      };
    }
    const m = entriesOf(args);
    const diags: Diagnostic[] = [];
    const schema = m.get('schema');
    const value = m.get('value');
    if (!schema) diags.push(exprError(args, "missing required property 'schema'"));
    if (!value) diags.push(exprError(args, "missing required property 'value'"));
    return { builtin: { fn: 'validate', schema, value }, diags };
  },
  'fn::toJSON': unary('toJSON'),
  'fn::fromJSON': unary('fromJSON'),
  'fn::toBase64': unary('toBase64'),
  'fn::fromBase64': unary('fromBase64'),
  'fn::toString': unary('toString'),
  'fn::final': unary('final'),
};

function rotateArgs(obj: Expr, m: Map<string, Expr>, diags: Diagnostic[]): { inputs?: Expr; state: Expr } {
  const inputs = m.get('inputs');
  if (!inputs) diags.push(exprError(obj, "missing provider inputs ('inputs')"));
  let state = m.get('state');
  if (!state) state = { kind: 'null' };
  else if (state.kind !== 'object') diags.push(exprError(state, 'rotation state must be an object literal'));
  return { inputs, state };
}

function shortParser(prefix: string): Parser {
  return (_node, name, args) => {
    const provider = stringExpr(name.value.slice(prefix.length), name.syntax);
    if (prefix === 'fn::open::') return { builtin: { fn: 'open', provider, inputs: args }, diags: [] };
    if (args.kind !== 'object') {
      return {
        builtin: { fn: 'rotate' },
        diags: [
          exprError(args, "the argument to fn::rotate must be an object containing 'inputs' and 'state'"),
        ],
      };
    }
    const diags: Diagnostic[] = [];
    return { builtin: { fn: 'rotate', provider, ...rotateArgs(args, entriesOf(args), diags) }, diags };
  };
}

function tryParseFunction(node: ObjectNode): { expr?: Expr; diags: Diagnostic[] } {
  if (node.entries.length !== 1) {
    const diags: Diagnostic[] = [];
    for (const e of node.entries) {
      if (e.key.value.startsWith('fn::')) {
        diags.push(
          error(
            `illegal call to builtin function: "${e.key.value}" must be the only key within its containing object`,
            node.range,
            node.path,
          ),
        );
      }
    }
    return { diags };
  }
  const kvp = node.entries[0]!;
  const key = kvp.key.value;
  let parse = Object.hasOwn(PARSERS, key) ? PARSERS[key] : undefined;
  if (!parse && key.startsWith('fn::open::')) parse = shortParser('fn::open::');
  if (!parse && key.startsWith('fn::rotate::')) parse = shortParser('fn::rotate::');
  if (!parse) {
    if (key.toLowerCase().startsWith('fn::')) {
      return { diags: [error("'fn::' is a reserved prefix", kvp.key.range, node.path)] };
    }
    return { diags: [] };
  }
  const name = stringExpr(key, kvp.key as StringNode);
  const a = parseExpr(kvp.value);
  const { builtin, diags } = parse(node, name, a.expr);
  const expr = { kind: 'builtin', name, args: a.expr, syntax: node, ...builtin } as BuiltinExpr;
  return { expr, diags: [...a.diags, ...diags] };
}
