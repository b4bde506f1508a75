// Facts transcribed from pulumi/esc's golden files (eval/testdata/eval/<case>/expected.json), checked against our
// evaluation of the ported definitions in test/golden/esc-*. Only what could be verified by hand is asserted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkEnvironment,
  evalEnvironment,
  parseDefinition,
  propertiesToJSON,
  sortDiagnostics,
} from '../src/index.js';
import type { Diagnostic } from '../src/index.js';
import { dirLoader, testContext, testProviders } from './support/fixtures.js';
import { rot128 } from './support/ciphers.js';

const GOLDEN = join(import.meta.dirname, 'golden');

async function run(folder: string, name: string) {
  const dir = join(GOLDEN, folder);
  const source = readFileSync(join(dir, 'env.yaml'));
  const opts = { loader: dirLoader(dir), decrypter: rot128, providers: testProviders, context: testContext };
  return {
    load: parseDefinition(name, source).diagnostics,
    check: await checkEnvironment(name, source, opts),
    eval: await evalEnvironment(name, source, opts),
  };
}

/** ESC's HCL diagnostic, reduced to what both implementations share. */
const hcl = (
  summary: string,
  start: [number, number, number],
  end: [number, number, number],
  path?: string,
) => ({
  summary,
  range: {
    begin: { line: start[0], column: start[1], byte: start[2] },
    end: { line: end[0], column: end[1], byte: end[2] },
  },
  ...(path ? { path } : {}),
});

const shape = (d: Diagnostic) => ({
  summary: d.summary,
  range: { begin: d.range!.begin, end: d.range!.end },
  ...(d.path ? { path: d.path } : {}),
});

describe('agreement with ESC golden cases', () => {
  it('builtin-final: diagnostics, ranges, values and traces', async () => {
    const r = await run('esc-builtin-final', 'builtin-final');
    const expected = [
      hcl('cannot override final value', [4, 17, 39], [4, 27, 49], 'values.final_scalar'),
      hcl('cannot override final value', [6, 5, 70], [6, 15, 80], 'values.final_object'),
      hcl('cannot override final value', [8, 10, 106], [8, 20, 116], 'values.final_nested.key'),
    ];
    expect(sortDiagnostics([...r.check.diagnostics]).map(shape)).toEqual(expected);
    expect(propertiesToJSON(r.eval.environment!.properties!, false)).toEqual({
      final_nested: { key: 'nested_frozen', other_key: 'new_value' },
      final_object: { retries: 3, timeout: 30 },
      final_scalar: 'frozen_value',
      not_final: 'new_plain_value',
    });
    expect(r.eval.environment!.properties!.final_scalar).toEqual({
      value: 'frozen_value',
      trace: {
        def: {
          environment: 'a',
          begin: { line: 3, column: 5, byte: 28 },
          end: { line: 3, column: 28, byte: 51 },
        },
      },
    });
    expect(r.eval.environment!.properties!.not_final!.trace.base!.trace.def).toEqual({
      environment: 'a',
      begin: { line: 12, column: 14, byte: 215 },
      end: { line: 12, column: 25, byte: 226 },
    });
    const nested = r.check.environment!.exprs!.final_nested!;
    expect(nested.base!.range).toEqual({
      environment: 'a',
      begin: { line: 9, column: 5, byte: 138 },
      end: { line: 11, column: 28, byte: 201 },
    });
    expect(nested.object!.key!.base!.builtin!.nameRange).toEqual({
      environment: 'a',
      begin: { line: 10, column: 7, byte: 149 },
      end: { line: 10, column: 16, byte: 158 },
    });
  });

  it('bad-imports: load diagnostics, including byte 0 on an unterminated last line', async () => {
    const r = await run('esc-bad-imports', 'bad-imports');
    expect(
      r.load.map((d) => ({ summary: d.summary, range: { begin: d.range!.begin, end: d.range!.end } })),
    ).toEqual([
      hcl('import must have a single key', [2, 5, 13], [2, 16, 24]),
      hcl('import must be a string or an object', [3, 5, 0], [3, 6, 0]),
    ]);
    expect(r.eval.environment).toBeUndefined();
  });

  it('builtin-split-errors and builtin-concat-errors: messages and paths', async () => {
    const split = await run('esc-builtin-split-errors', 'builtin-split-errors');
    expect(split.load.map((d) => [d.summary, d.path])).toEqual([
      ['the argument to fn::split must be a two-valued list', 'values.invalidInput["fn::split"]'],
      ['the argument to fn::split must be a two-valued list', 'values.oneElement["fn::split"]'],
      ['the argument to fn::split must be a two-valued list', 'values.threeElements["fn::split"]'],
    ]);
    const checkOnly = split.check.diagnostics.slice(split.load.length);
    expect(checkOnly.map((d) => [d.summary, d.path, d.range!.begin.column, d.range!.end.column])).toEqual([
      ['expected string, got number', 'values.invalidDelim["fn::split"][0]', 17, 20],
      ['expected string, got number', 'values.invalidString["fn::split"][1]', 22, 25],
    ]);
    const concat = await run('esc-builtin-concat-errors', 'builtin-concat-errors');
    expect(concat.load.map((d) => [d.summary, d.path, d.range!.begin.column])).toEqual([
      ['the argument to fn::concat must be an array of arrays', 'values.invalidInput["fn::concat"]', 17],
    ]);
  });

  it('invalid-plaintext: the secret becomes an empty secret string with an empty range', async () => {
    const r = await run('esc-invalid-plaintext', 'invalid-plaintext');
    expect(r.load.map((d) => [d.summary, d.path, d.range!.begin])).toEqual([
      [
        'secret values must be string literals',
        'values.foo["fn::secret"]',
        { line: 3, column: 17, byte: 31 },
      ],
    ]);
    expect(r.check.environment!.properties!.foo).toEqual({
      value: '',
      secret: true,
      trace: {
        def: {
          environment: 'invalid-plaintext',
          begin: { line: 0, column: 0, byte: 0 },
          end: { line: 0, column: 0, byte: 0 },
        },
      },
    });
  });

  it('invalid-access-load: property access syntax errors, with whole-string ranges', async () => {
    const r = await run('esc-invalid-access-load', 'invalid-access-load');
    expect(
      r.load.map((d) => ({ summary: d.summary, range: { begin: d.range!.begin, end: d.range!.end } })),
    ).toEqual([
      hcl('missing closing bracket in property access', [3, 7, 36], [3, 20, 49]),
      hcl('missing closing quote in property name', [4, 7, 56], [4, 20, 69]),
      hcl('unterminated interpolation', [5, 7, 76], [5, 20, 89]),
      hcl('missing closing bracket in list index', [6, 7, 96], [6, 17, 106]),
      hcl('invalid list index', [7, 7, 113], [7, 27, 133]),
      hcl('Property access expressions cannot be empty', [8, 7, 140], [8, 10, 143]),
      hcl('the root property must be a string subscript or a name', [9, 7, 150], [9, 13, 156]),
    ]);
  });

  it('secret-objects: secret plaintext and fn::fromJSON of a secret (ranges, traces, schema)', async () => {
    const r = await run('esc-secret-objects', 'secret-objects');
    expect(r.check.diagnostics).toEqual([]);
    expect(propertiesToJSON(r.check.environment!.properties!)).toEqual({
      secret_object: '[secret]',
      unmarshalled_secret_object: '[secret]',
    });
    const props = r.eval.environment!.properties!;
    expect(props.secret_object).toEqual({
      value: '{"haha":"business","also":"secret"}',
      secret: true,
      trace: {
        def: {
          environment: 'secret-objects',
          begin: { line: 3, column: 17, byte: 41 },
          end: { line: 3, column: 52, byte: 76 },
        },
      },
    });
    const def = {
      environment: 'secret-objects',
      begin: { line: 5, column: 5, byte: 113 },
      end: { line: 5, column: 35, byte: 143 },
    };
    expect(props.unmarshalled_secret_object!.trace.def).toEqual(def);
    expect(props.unmarshalled_secret_object!.secret).toBe(true);
    // DIFFERS: ESC leaves the members of a decoded secret object non-secret; Vigil marks them secret too, so that
    // `${unmarshalled_secret_object.haha}` stays secret.
    expect(
      (props.unmarshalled_secret_object!.value as Record<string, { secret?: boolean }>).haha!.secret,
    ).toBe(true);
    expect(r.eval.environment!.schema).toEqual({
      properties: {
        secret_object: { type: 'string', const: '{"haha":"business","also":"secret"}' },
        unmarshalled_secret_object: {
          properties: {
            also: { type: 'string', const: 'secret' },
            haha: { type: 'string', const: 'business' },
          },
          type: 'object',
          required: ['also', 'haha'],
        },
      },
      type: 'object',
      required: ['secret_object', 'unmarshalled_secret_object'],
    });
    const expr = r.eval.environment!.exprs!.unmarshalled_secret_object!;
    expect(expr.builtin!.arg.symbol).toEqual([
      {
        key: 'secret_object',
        value: {
          environment: 'secret-objects',
          begin: { line: 3, column: 5, byte: 29 },
          end: { line: 3, column: 52, byte: 76 },
        },
      },
    ]);
  });

  it('import-cycle: an environment importing itself', async () => {
    const r = await run('esc-import-cycle', 'import-cycle');
    expect(r.check.diagnostics.map(shape)).toEqual([
      hcl('cyclic import of env', [2, 5, 13], [2, 8, 16], 'imports[0]'),
    ]);
    expect(r.check.diagnostics[0]!.range!.environment).toBe('env');
    expect(propertiesToJSON(r.check.environment!.properties!)).toEqual({});
  });

  it('cycle: reference cycles are reported once per cycle entry, at the reference', async () => {
    const r = await run('esc-cycle', 'cycle');
    expect(sortDiagnostics([...r.eval.diagnostics]).map(shape)).toEqual([
      hcl('cyclic reference to a.p', [3, 8, 20], [3, 14, 26], 'values.a.p'),
      hcl('cyclic reference to b.p', [5, 8, 39], [5, 14, 45], 'values.b.p'),
    ]);
    // DIFFERS from that ESC snapshot (0574fbb), which also marked the containers a, b and c unknown; the released
    // evaluator's source marks only the cyclic values, as here.
    expect(propertiesToJSON(r.eval.environment!.properties!)).toEqual({
      a: { p: '[unknown]' },
      b: { p: '[unknown]' },
      c: { p: '[unknown]' },
    });
  });

  it('imports_interpolate: DISAGREES by design — ESC snapshot 0a6bbc8 binds late, Vigil binds early', async () => {
    // ESC's snapshot evaluated a.yaml's `test: ${first}, ${second}` against the importer's override
    // ("hello, everybody"); the released evaluator and the ESC docs evaluate imports in their own environment.
    const r = await run('esc-imports-interpolate', 'imports_interpolate');
    expect(propertiesToJSON(r.eval.environment!.properties!)).toEqual({
      first: 'hello',
      second: 'everybody',
      test: 'hello, world',
    });
  });
});
