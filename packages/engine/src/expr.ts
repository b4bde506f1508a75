import type { Range } from './diagnostics.js';
import type { Schema } from './eval/schema.js';
import type { JSONValue } from './value.js';

/** One step of a property access as serialized by ESC. */
export interface Accessor {
  index?: number;
  key?: string;
  range?: Range;
}

/** An accessor and the range of the value it resolved to. */
export interface PropertyAccessor extends Accessor {
  value: Range;
}

export interface Interpolation {
  text?: string;
  value?: PropertyAccessor[];
}

export interface BuiltinExprJSON {
  name: string;
  nameRange: Range;
  argSchema: Schema;
  arg: ExprJSON;
}

/** An expression of the definition, with its inferred schema and base, in ESC's `Expr` shape. */
export interface ExprJSON {
  range?: Range;
  schema?: Schema;
  base?: ExprJSON;
  keyRanges?: { [key: string]: Range };
  literal?: JSONValue;
  interpolate?: Interpolation[];
  symbol?: PropertyAccessor[];
  access?: { receiver: Range; accessors: Accessor[] };
  list?: ExprJSON[];
  object?: { [key: string]: ExprJSON };
  builtin?: BuiltinExprJSON;
}
