import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { canonicalBytes, canonicalize, MAX_JSON_DEPTH } from '../src/index.js';
import type { LedgerErrorCode } from '../src/index.js';
import { fromHex, hex } from './testdata.js';

function codeOf(f: () => unknown): LedgerErrorCode | 'ok' {
  try {
    f();
    return 'ok';
  } catch (err) {
    const code = (err as { code?: LedgerErrorCode }).code;
    if (code === undefined) throw err;
    return code;
  }
}

describe('RFC 8785 canonical JSON', () => {
  it('serializes the example of §3.2.2', () => {
    const input = JSON.parse(String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`) as unknown;
    expect(canonicalize(input)).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
    expect(hex(canonicalBytes({ '€': 1 }))).toBe('7b22e282ac223a317d');
  });

  it('sorts properties by UTF-16 code units (§3.2.3)', () => {
    const input = JSON.parse(String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`) as Record<string, string>;
    // Compare the text: JS objects list integer-like keys first, whatever their order in the JSON.
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serializes the numbers of Appendix B', () => {
    const cases: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, want] of cases) {
      const n = new DataView(fromHex(bits).buffer).getFloat64(0);
      expect(canonicalize(n), bits).toBe(want);
    }
    for (const bits of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
      const n = new DataView(fromHex(bits).buffer).getFloat64(0);
      expect(
        codeOf(() => canonicalize(n)),
        bits,
      ).toBe('unsupported-json-value');
    }
  });

  it('omits undefined properties, like JSON.stringify', () => {
    expect(canonicalize({ b: 1, a: undefined, c: [null] })).toBe('{"b":1,"c":[null]}');
    expect(canonicalize(Object.assign(Object.create(null) as object, { z: 1, y: 2 }))).toBe('{"y":2,"z":1}');
  });

  it('rejects values that are not plain JSON data', () => {
    class Thing {
      x = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: unknown = [];
    for (let i = 0; i < MAX_JSON_DEPTH + 1; i++) deep = [deep];
    const bad: unknown[] = [
      undefined,
      NaN,
      Infinity,
      -Infinity,
      10n,
      () => 1,
      Symbol('s'),
      new Date(0),
      new Map(),
      new Set(),
      new Uint8Array(1),
      new Thing(),
      [undefined],
      { a: [1, undefined] },
      { a: () => 1 },
      'lone \ud800 surrogate',
      { 'lone \udc00 key': 1 },
      cyclic,
      deep,
    ];
    for (const v of bad) expect(codeOf(() => canonicalize(v))).toBe('unsupported-json-value');
  });

  it('is a fixpoint of JSON parsing and independent of property order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalize(v);
        expect(JSON.parse(c)).toEqual(JSON.parse(JSON.stringify(v)));
        expect(canonicalize(JSON.parse(c))).toBe(c);
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.integer()), (o) => {
        const reversed = Object.fromEntries(Object.entries(o).reverse());
        expect(canonicalize(reversed)).toBe(canonicalize(o));
      }),
    );
  });

  it('orders property names as the built-in sort does, for small objects and large ones', () => {
    // Small objects are sorted by hand, larger ones by Array.prototype.sort: both must give RFC 8785's order.
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'binary' }), fc.constant(0), { minKeys: 0, maxKeys: 40 }),
        (o) => {
          // The text, not a parsed object: JS objects list integer-like names first whatever the order.
          const order = Object.keys(o).sort();
          expect(canonicalize(o)).toBe(`{${order.map((k) => `${JSON.stringify(k)}:0`).join(',')}}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('tells a cycle from a value met twice', () => {
    const shared = { a: 1 };
    expect(canonicalize({ x: shared, y: [shared, shared] })).toBe('{"x":{"a":1},"y":[{"a":1},{"a":1}]}');
    const cyclic: Record<string, unknown> = { a: [] };
    (cyclic.a as unknown[]).push({ back: cyclic });
    expect(codeOf(() => canonicalize(cyclic))).toBe('unsupported-json-value');
  });
});
