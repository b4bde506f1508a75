import type { Range } from '../diagnostics.js';
import type { ExprJSON, PropertyAccessor } from '../expr.js';
import type { AccessorSlot, EvalExpr } from './values.js';
import { always, arrayOf, record, stringSchema, tupleOf } from './schema.js';

const EMPTY: Range = {
  environment: '',
  begin: { line: 0, column: 0, byte: 0 },
  end: { line: 0, column: 0, byte: 0 },
};

function exportAccessors(slots: AccessorSlot[], environment: string): PropertyAccessor[] {
  return slots.map((s) => {
    const a = s.accessor;
    const out: PropertyAccessor =
      a.kind === 'name'
        ? { key: a.name, value: EMPTY }
        : typeof a.index === 'number'
          ? { index: a.index, value: EMPTY }
          : { key: a.index, value: EMPTY };
    out.value = s.value ? s.value.def.defRange(environment) : EMPTY;
    return out;
  });
}

/** Serializes an expression in ESC's `Expr` shape (ranges, schema, base and the expression's structure). */
export function exportExpr(x: EvalExpr, environment: string, depth = 0): ExprJSON {
  const ex: ExprJSON = { range: x.defRange(environment), schema: x.schema };
  // Bases form a chain through the imports; bound the depth for safety.
  if (x.base && depth < 64) ex.base = exportExpr(x.base.def, environment, depth + 1);
  const repr = x.repr;
  switch (repr.k) {
    case 'missing':
      break;
    case 'literal':
      if (repr.node.kind === 'boolean' || repr.node.kind === 'number' || repr.node.kind === 'string') {
        ex.literal = repr.node.value;
      }
      break;
    case 'interpolate':
      ex.interpolate = repr.parts.map((p) => {
        const i: { text?: string; value?: PropertyAccessor[] } = {};
        if (p.text !== '') i.text = p.text;
        if (p.access) i.value = exportAccessors(p.access, environment);
        return i;
      });
      break;
    case 'symbol':
      ex.symbol = exportAccessors(repr.accessors, environment);
      break;
    case 'access':
      ex.access = { receiver: repr.receiver.def.defRange(environment), accessors: [{ key: repr.key }] };
      break;
    case 'array':
      ex.list = repr.elements.map((e) => exportExpr(e, environment, depth));
      break;
    case 'object': {
      const keyRanges: { [key: string]: Range } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
      if (repr.node?.kind === 'object') {
        for (const e of repr.node.entries) keyRanges[e.key.value] = e.key.syntax?.range ?? EMPTY;
      }
      if (Object.keys(keyRanges).length) ex.keyRanges = keyRanges;
      const object: { [key: string]: ExprJSON } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
      for (const [k, v] of repr.properties) object[k] = exportExpr(v, environment, depth);
      ex.object = object;
      break;
    }
    case 'builtin': {
      const node = repr.node;
      const arg = (role: string) => exportExpr(repr.args.get(role)!, environment, depth);
      const argsRange = node.args.syntax?.range ?? EMPTY;
      const name = node.name.value;
      const nameRange = node.name.syntax?.range ?? EMPTY;
      const builtin = (argSchema: ExprJSON['schema'], a: ExprJSON) => {
        ex.builtin = { name, nameRange, argSchema: argSchema ?? always, arg: a };
      };
      switch (node.fn) {
        case 'join':
          builtin(tupleOf([stringSchema(), arrayOf(stringSchema())]), {
            range: argsRange,
            list: [arg('delimiter'), arg('values')],
          });
          break;
        case 'split':
          builtin(tupleOf([stringSchema(), stringSchema()]), {
            range: argsRange,
            list: [arg('delimiter'), arg('string')],
          });
          break;
        case 'concat':
          builtin(arrayOf(arrayOf(always)), arg('arrays'));
          break;
        case 'toBase64':
        case 'fromBase64':
          builtin(stringSchema(), arg('value'));
          break;
        case 'toJSON':
        case 'fromJSON':
        case 'toString':
        case 'final':
          builtin(always, arg('value'));
          break;
        case 'secret':
          builtin(
            always,
            repr.args.has('plaintext')
              ? arg('plaintext')
              : { range: argsRange, object: { ciphertext: arg('ciphertext') } },
          );
          break;
        case 'validate':
          builtin(record({ schema: always, value: always }), {
            range: argsRange,
            object: { schema: arg('schema'), value: arg('value') },
          });
          break;
        case 'open':
          if (name === 'fn::open') {
            builtin(record({ provider: stringSchema(), inputs: repr.inputSchema ?? always }), {
              object: { provider: arg('provider'), inputs: arg('inputs') },
            });
          } else builtin(repr.inputSchema ?? always, arg('inputs'));
          break;
        case 'rotate': {
          const object: { [key: string]: ExprJSON } = { inputs: arg('inputs'), state: arg('state') };
          const schemas: Record<string, NonNullable<ExprJSON['schema']>> = {
            inputs: repr.inputSchema ?? always,
            state: repr.stateSchema ?? always,
          };
          if (name === 'fn::rotate') {
            object.provider = arg('provider');
            schemas.provider = stringSchema();
          }
          builtin(record(schemas), { object });
          break;
        }
      }
      break;
    }
  }
  return ex;
}
