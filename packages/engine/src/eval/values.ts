import type { Range } from '../diagnostics.js';
import type { BuiltinExpr, Expr } from '../ast/expr.js';
import type { PropertyAccessor } from '../ast/property.js';
import type { SyntaxNode } from '../syntax/node.js';
import type { Value, ValueRepr, ProviderValue } from '../value.js';
import { zeroRange } from '../value.js';
import { MAX_STRING_LENGTH } from '../limits.js';
import { goQuote } from './gofmt.js';
import {
  constSchema,
  mergedSchema,
  nullSchema,
  propertySchema,
  record,
  recordOf,
  tupleOf,
} from './schema.js';
import type { Schema } from './schema.js';

export const ExprState = { Declared: 0, Evaluating: 1, Done: 2 } as const;
export type ExprState = (typeof ExprState)[keyof typeof ExprState];

/** A reference's accessor and (after evaluation) the value it resolved to. */
export interface AccessorSlot {
  accessor: PropertyAccessor;
  value?: Val;
}

export interface InterpolationPart {
  text: string;
  access?: AccessorSlot[];
}

/** The evaluator's view of an expression: its syntax plus declaration-time children. */
export type Repr =
  | { k: 'missing'; node?: Expr }
  | { k: 'literal'; node: Expr }
  | { k: 'interpolate'; node: Expr; parts: InterpolationPart[] }
  | { k: 'symbol'; node: Expr; accessors: AccessorSlot[] }
  | { k: 'access'; node?: Expr; receiver: Val; key: string }
  | { k: 'array'; node?: Expr; elements: EvalExpr[] }
  | { k: 'object'; node?: Expr; properties: Map<string, EvalExpr> }
  | {
      k: 'builtin';
      node: BuiltinExpr;
      /** Declared arguments by role (e.g. `delimiter`, `values`, `inputs`). */
      args: Map<string, EvalExpr>;
      argSchema: Schema;
      inputSchema?: Schema;
      stateSchema?: Schema;
    };

/** Budget shared by one evaluation (see limits.ts). */
export interface Budget {
  values: number;
  max: number;
  exhausted: boolean;
}

/** An expression being evaluated, with its base (the imported value it overrides), schema and memoized value. */
export class EvalExpr {
  state: ExprState = ExprState.Declared;
  secret = false;
  value?: Val;
  constructor(
    readonly path: string,
    readonly repr: Repr,
    public schema: Schema,
    readonly base: Val | undefined,
    /** Environment the expression belongs to (used for ranges of synthesized nodes). */
    readonly environment: string,
  ) {}

  get syntax(): SyntaxNode | undefined {
    return this.repr.node?.syntax;
  }

  /** The expression's source range, or an empty range in the given environment. */
  defRange(environment: string): Range {
    return this.syntax?.range ?? zeroRange(environment);
  }
}

/** The result of evaluating an EvalExpr (ESC's internal `value`). Objects honour JSON merge patch via base. */
export class Val {
  base?: Val;
  unknown = false;
  secret = false;
  /** Set by fn::final: importers may not override this value. */
  final = false;
  private mergedKeys?: string[];
  private mergedProps?: Map<string, Val> | null;
  private exported?: Value;
  constructor(
    public def: EvalExpr,
    public schema: Schema,
    public repr: null | boolean | number | string | Val[] | Map<string, Val>,
  ) {}

  containsUnknowns(): boolean {
    if (this.unknown) return true;
    if (Array.isArray(this.repr)) return this.repr.some((v) => v.containsUnknowns());
    if (this.repr instanceof Map)
      return this.keys().some((k) => this.property(k)?.containsUnknowns() ?? false);
    return false;
  }

  containsSecrets(): boolean {
    if (this.secret) return true;
    if (Array.isArray(this.repr)) return this.repr.some((v) => v.containsSecrets());
    if (this.repr instanceof Map)
      return this.keys().some((k) => this.property(k)?.containsSecrets() ?? false);
    return false;
  }

  /** True if this value is, or (being unknown) may be, an object. */
  isObject(): boolean {
    if (this.unknown)
      return this.schema === true || (typeof this.schema === 'object' && this.schema.type === 'object');
    return this.repr instanceof Map;
  }

  /** Applies the unknown-ness and secret-ness of the inputs of an aggregate to this value. */
  combine(...others: Val[]): void {
    for (const o of others) {
      this.unknown = this.containsUnknowns() || o.containsUnknowns();
      this.secret = this.containsSecrets() || o.containsSecrets();
    }
  }

  /** Object keys, including those inherited from the base per JSON merge patch. Sorted. */
  keys(): string[] {
    if (this.mergedKeys) return this.mergedKeys;
    if (!(this.repr instanceof Map)) return [];
    const set = new Set(this.repr.keys());
    for (const k of this.base?.keys() ?? []) set.add(k);
    this.mergedKeys = [...set].sort();
    return this.mergedKeys;
  }

  /** The named property per JSON merge patch; for unknown values, a late-bound unknown access. */
  property(key: string, budget?: Budget): Val | undefined {
    if (this.repr instanceof Map) {
      const local = this.repr.get(key);
      if (local || !this.base) return local;
      // Imports stack bases ten deep; flatten the chain once instead of walking it for every lookup.
      const flat = this.flatProperties();
      return flat ? flat.get(key) : this.base.property(key, budget);
    }
    if (this.unknown) {
      const schema = propertySchema(this.schema, key);
      const base = this.base?.property(key, budget);
      const def = new EvalExpr(
        '',
        { k: 'access', node: this.def.repr.node, receiver: this, key },
        schema,
        base,
        this.def.environment,
      );
      def.state = ExprState.Done;
      const v = newVal(def, schema, null, budget);
      if (base) v.base = base;
      v.unknown = true;
      return v;
    }
    return undefined;
  }

  /**
   * All properties of an object whose bases are all known objects, flattened per JSON merge patch. Cached until
   * the next merge; undefined when some base is not a known object (lookups then walk the chain).
   */
  private flatProperties(): Map<string, Val> | undefined {
    if (this.mergedProps !== undefined) return this.mergedProps ?? undefined;
    if (!(this.repr instanceof Map)) return undefined;
    if (!this.base) return this.repr;
    const baseFlat = this.base.flatProperties();
    if (!baseFlat) {
      this.mergedProps = null;
      return undefined;
    }
    const m = new Map(baseFlat);
    for (const [k, v] of this.repr) m.set(k, v);
    this.mergedProps = m;
    return m;
  }

  /** Merges this value onto `base` (mutating; copy first). */
  merge(base: Val | undefined): void {
    // Merging onto the base this value already has is a no-op (objects are merged property by property when
    // evaluated, and again as part of their parent).
    if (!base || base === this || base === this.base) return;
    if (this.base) this.base.merge(base);
    else this.base = base;
    this.mergedKeys = undefined;
    this.mergedProps = undefined;
    if (this.repr instanceof Map) {
      for (const [k, p] of this.repr) p.merge(this.base.property(k));
    }
    this.schema = this.mergedSchema(this.base);
  }

  /**
   * The schema after merging onto `base`. When both are known objects the properties were merged just above, so
   * the record is assembled from them instead of re-merging schemas recursively (ESC's mergedSchema, linear).
   */
  private mergedSchema(base: Val): Schema {
    const top = this.schema;
    if (
      !(this.repr instanceof Map) ||
      !(base.repr instanceof Map) ||
      typeof top !== 'object' ||
      top.type !== 'object' ||
      typeof base.schema !== 'object' ||
      base.schema.type !== 'object'
    ) {
      return mergedSchema(base.schema, top);
    }
    const keys = this.keys();
    const merged = recordOf(
      keys,
      keys.map((k) => this.property(k)!.schema),
    );
    let additional = top.additionalProperties;
    if (base.schema.additionalProperties !== undefined) {
      additional = additional === undefined ? base.schema.additionalProperties : true;
    }
    return additional === undefined ? merged : { additionalProperties: additional, ...merged };
  }

  /**
   * ESC's string conversion: [string, unknown, secret]. Secrets are not redacted. Throws {@link StringTooLong}
   * as soon as the result would exceed `limit` (values may repeat large strings through references).
   */
  toStringParts(limit = MAX_STRING_LENGTH): [string, boolean, boolean] {
    if (this.unknown) return ['[unknown]', true, this.secret];
    let unknown = false;
    let secret = this.secret;
    let length = 0;
    const r = this.repr;
    let s = '';
    if (typeof r === 'boolean') s = r ? 'true' : 'false';
    else if (typeof r === 'number') s = String(r);
    else if (typeof r === 'string') s = r;
    else if (Array.isArray(r)) {
      s = r
        .map((v) => {
          const [vs, vu, vsec] = v.toStringParts(limit);
          if ((length += vs.length + 3) > limit) throw new StringTooLong();
          unknown ||= vu;
          secret ||= vsec;
          return goQuote(vs);
        })
        .join(',');
    } else if (r instanceof Map) {
      s = [...r.keys()]
        .sort()
        .map((k) => {
          const [vs, vu, vsec] = r.get(k)!.toStringParts(limit);
          if ((length += k.length + vs.length + 6) > limit) throw new StringTooLong();
          unknown ||= vu;
          secret ||= vsec;
          return `${goQuote(k)}=${goQuote(vs)}`;
        })
        .join(',');
    }
    return [s, unknown, secret];
  }

  /** Converts to ESC's serializable Value (memoized). Bases are exported with environment `<import>`. */
  export(environment: string): Value {
    if (this.exported) return this.exported;
    let value: ValueRepr | undefined;
    const r = this.repr;
    if (Array.isArray(r)) value = r.map((v) => v.export(environment));
    else if (r instanceof Map) {
      const o: { [key: string]: Value } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
      for (const k of this.keys()) o[k] = this.property(k)!.export(environment);
      value = o;
    } else value = r;
    const out: Value = { trace: { def: this.def.defRange(environment) } };
    if (value !== null && value !== undefined) out.value = value;
    if (this.secret) out.secret = true;
    if (this.unknown) out.unknown = true;
    if (this.base) out.trace.base = this.base.export('<import>');
    // key order as ESC: value, secret, unknown, trace
    this.exported = reorder(out);
    return this.exported;
  }

  /** Visits this value and its descendants. */
  walk(fn: (v: Val) => void): void {
    fn(this);
    if (Array.isArray(this.repr)) for (const e of this.repr) e.walk(fn);
    else if (this.repr instanceof Map) for (const k of this.keys()) this.property(k)?.walk(fn);
  }
}

function reorder(v: Value): Value {
  const o = {} as Value;
  if ('value' in v) o.value = v.value;
  if (v.secret) o.secret = true;
  if (v.unknown) o.unknown = true;
  o.trace = v.trace;
  return o;
}

export class BudgetExceeded extends Error {}

/** A string being built would exceed MAX_STRING_LENGTH. */
export class StringTooLong extends Error {}

/** Creates a value, charging the evaluation's budget. */
export function newVal(def: EvalExpr, schema: Schema, repr: Val['repr'], budget?: Budget): Val {
  if (budget && ++budget.values > budget.max) {
    budget.exhausted = true;
    throw new BudgetExceeded();
  }
  return new Val(def, schema, repr);
}

/** Deep copy preserving sharing (ESC's copier). */
export function copyVal(v: Val, budget: Budget | undefined, memo = new Map<Val, Val>()): Val {
  const m = memo.get(v);
  if (m) return m;
  const c = newVal(v.def, v.schema, null, budget);
  memo.set(v, c);
  const r = v.repr;
  if (Array.isArray(r)) c.repr = r.map((e) => copyVal(e, budget, memo));
  else if (r instanceof Map) {
    const o = new Map<string, Val>();
    for (const [k, e] of r) o.set(k, copyVal(e, budget, memo));
    c.repr = o;
  } else c.repr = r;
  if (v.base) c.base = copyVal(v.base, budget, memo);
  c.unknown = v.unknown;
  c.secret = v.secret;
  c.final = v.final;
  return c;
}

/** Builds a value from a provider/JSON value, attributing every node to `x` (ESC's unexport). */
export function unexport(v: ProviderValue, x: EvalExpr, budget: Budget | undefined): Val {
  const secret = (v.secret ?? false) || x.secret;
  const r = v.value;
  let out: Val;
  if (r === undefined || r === null) out = newVal(x, nullSchema(), null, budget);
  else if (typeof r === 'boolean') out = newVal(x, constSchema('boolean', r), r, budget);
  else if (typeof r === 'number') out = newVal(x, constSchema('number', r), r, budget);
  else if (typeof r === 'string') out = newVal(x, constSchema('string', r), r, budget);
  else if (Array.isArray(r)) {
    const items = r.map((e) => unexport(e, x, budget));
    out = newVal(x, tupleOf(items.map((i) => i.schema)), items, budget);
  } else {
    const m = new Map<string, Val>();
    const props: Record<string, Schema> = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    for (const k of Object.keys(r)) {
      const e = unexport(r[k]!, x, budget);
      m.set(k, e);
      props[k] = e.schema;
    }
    out = newVal(x, record(props), m, budget);
  }
  out.secret = secret;
  out.unknown = v.unknown ?? false;
  return out;
}

/** The schema of a value's type, for reporting (`got number`). */
export function typeName(v: Val): string {
  const r = v.repr;
  if (r === null) return 'null';
  if (Array.isArray(r)) return 'array';
  if (r instanceof Map) return 'object';
  return typeof r;
}
