import { describe, expect, it, vi } from 'vitest';
import {
  checkEnvironment,
  evalEnvironment,
  parseEnvironmentRef,
  propertiesToJSON,
  redact,
  rotateEnvironment,
  valueAtPath,
} from '../src/index.js';
import type { EnvironmentLoader, Value } from '../src/index.js';
import { testProviders } from './support/fixtures.js';

function mapLoader(envs: Record<string, string>): EnvironmentLoader & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async load(ref) {
      calls.push(`${ref.project}/${ref.name}${ref.version ? '@' + ref.version : ''}`);
      const d = envs[ref.text];
      return d === undefined
        ? { failure: { kind: 'not-found', message: `environment "${ref.text}" not found` } }
        : { definition: d };
    },
  };
}

describe('public API', () => {
  it('returns no environment and no diagnostics for an empty definition', async () => {
    for (const src of ['', 'values: {}\n', 'imports: []\n']) {
      const r = await checkEnvironment('e', src);
      expect(r).toEqual({ diagnostics: [], importFailures: [] });
    }
  });

  it('reports exactly one diagnostic for an unknown reference (SDK acceptance case)', async () => {
    const r = await checkEnvironment('p/e', 'values:\n  pulumiConfig:\n    foo: ${bad_ref}\n');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({
      severity: 'error',
      summary: 'unknown property "bad_ref"',
      path: 'values.pulumiConfig.foo',
      range: {
        environment: 'p/e',
        begin: { line: 3, column: 10, byte: 33 },
        end: { line: 3, column: 20, byte: 43 },
      },
    });
  });

  it('wraps every nesting level in Value with a trace', async () => {
    const r = await evalEnvironment('e', 'values:\n  a:\n    b: [1, {c: x}]\n');
    const a = r.environment!.properties!.a!;
    const check = (v: Value) => {
      expect(v.trace.def.environment).toBe('e');
      const x = v.value;
      if (Array.isArray(x)) x.forEach(check);
      else if (x !== null && typeof x === 'object') Object.values(x).forEach(check);
    };
    check(a);
    expect(valueAtPath(r.environment!.properties!, ['a', 'b', 1, 'c'])?.value).toBe('x');
  });

  it('parses import references', () => {
    expect(parseEnvironmentRef('env')).toEqual({ text: 'env', project: 'default', name: 'env' });
    expect(parseEnvironmentRef('proj/env@3')).toEqual({
      text: 'proj/env@3',
      project: 'proj',
      name: 'env',
      version: '3',
    });
    expect(parseEnvironmentRef('proj/env@stable')).toMatchObject({ version: 'stable' });
  });

  it('passes parsed references to the loader and loads each environment once', async () => {
    const loader = mapLoader({
      'p/a@stable': 'imports:\n  - shared\nvalues:\n  a: 1\n',
      shared: 'values:\n  s: 1\n',
      'p/b@2': 'imports:\n  - shared\nvalues:\n  b: ${s}\n',
    });
    const r = await evalEnvironment('root', 'imports:\n  - p/a@stable\n  - p/b@2\n', { loader });
    expect(r.diagnostics).toEqual([]);
    expect(propertiesToJSON(r.environment!.properties!)).toEqual({
      a: 1,
      b: 1,
      s: 1,
    });
    // Loaded breadth first, each wave concurrently, each environment once.
    expect(loader.calls).toEqual(['p/a@stable', 'p/b@2', 'default/shared']);
  });

  it('turns a throwing loader into a diagnostic', async () => {
    const loader: EnvironmentLoader = {
      async load() {
        throw new Error('storage offline');
      },
    };
    const r = await evalEnvironment('e', 'imports:\n  - a\nvalues:\n  x: 1\n', { loader });
    expect(r.diagnostics.map((d) => d.summary)).toEqual(['storage offline']);
    expect(r.importFailures).toEqual([{ ref: 'a', failure: { kind: 'error', message: 'storage offline' } }]);
    expect(r.environment!.properties!.x!.value).toBe(1);
  });

  it('keeps static secrets unknown in check unless showSecrets is set', async () => {
    const src = 'values:\n  s:\n    fn::secret:\n      ciphertext: ZXNjeAAAAAHo9e705fKyKo30VQ==\n';
    const decrypter = { decrypt: async (b: Uint8Array) => b.map((x) => (x + 128) & 0xff) };
    expect((await checkEnvironment('e', src, { decrypter })).environment!.properties!.s).toMatchObject({
      secret: true,
      unknown: true,
    });
    expect(
      (await checkEnvironment('e', src, { decrypter, showSecrets: true })).environment!.properties!.s,
    ).toMatchObject({
      value: 'hunter2',
      secret: true,
    });
  });

  it('rotates and returns the new state as a patch', async () => {
    const src =
      'values:\n  creds:\n    fn::rotate::counter:\n      inputs: {}\n      state:\n        current: 1\n';
    const r = await rotateEnvironment('e', src, { providers: testProviders });
    expect(r.diagnostics).toEqual([]);
    expect(r.patches).toEqual([
      {
        docPath: 'values.creds["fn::rotate::counter"].state',
        replacement: { value: { current: { value: 2 }, previous: { value: 1 } } },
      },
    ]);
    expect(redact(r.environment!.properties!.creds!)).toEqual({
      inputs: {},
      state: { current: 2, previous: 1 },
    });
    const none = await rotateEnvironment('e', src, { providers: testProviders, paths: ['other'] });
    expect(none.patches).toEqual([]);
  });

  it('exports exprs, schema and execution context in ESC shapes', async () => {
    const r = await checkEnvironment('e', 'values:\n  a: ${b}\n  b: [x]\n', {
      context: { pulumi: { user: { login: 'u' } } },
    });
    const env = r.environment!;
    expect(env.exprs!.a).toMatchObject({
      symbol: [{ key: 'b' }],
      schema: { prefixItems: [{ type: 'string', const: 'x' }] },
    });
    expect(env.schema).toEqual({
      properties: {
        a: { prefixItems: [{ type: 'string', const: 'x' }], items: false, type: 'array' },
        b: { prefixItems: [{ type: 'string', const: 'x' }], items: false, type: 'array' },
      },
      type: 'object',
      required: ['a', 'b'],
    });
    expect(propertiesToJSON(env.executionContext!.properties!)).toEqual({
      currentEnvironment: { name: 'e' },
      rootEnvironment: { name: 'e' },
      pulumi: { user: { login: 'u' } },
    });
  });

  it('feeds provider outputs to later provider calls, calling each provider once per distinct input', async () => {
    const calls: string[] = [];
    const providers = {
      provider: (name: string) =>
        name === 'echo'
          ? {
              inputSchema: true,
              outputSchema: true,
              async open(inputs: Record<string, { value?: unknown }>) {
                calls.push(JSON.stringify(inputs));
                return { value: inputs } as never;
              },
            }
          : undefined,
    };
    const src = [
      'values:',
      '  a: {fn::open::echo: {x: 1}}',
      '  b: {fn::open::echo: {y: "${a.x}"}}',
      '  c: {fn::open::echo: {z: "${b.y}"}}',
      '  d: {fn::open::echo: {x: 1}}',
    ].join('\n');
    const r = await evalEnvironment('e', src, { providers });
    expect(r.diagnostics).toEqual([]);
    expect(propertiesToJSON(r.environment!.properties!)).toEqual({
      a: { x: 1 },
      b: { y: 1 },
      c: { z: 1 },
      d: { x: 1 },
    });
    expect(calls.sort()).toEqual([
      '{"x":{"value":1}}',
      '{"x":{"value":1}}',
      '{"y":{"value":1}}',
      '{"z":{"value":1}}',
    ]);
  });

  it('reports decryption failures where the secret is written', async () => {
    const decrypter = {
      decrypt: async () => {
        throw new Error('key revoked');
      },
    };
    const src = 'values:\n  s:\n    fn::secret:\n      ciphertext: ZXNjeAAAAAHo9e705fKyKo30VQ==\n';
    const r = await evalEnvironment('e', src, { decrypter });
    expect(r.diagnostics).toMatchObject([{ summary: 'decrypting: key revoked', path: 'values.s' }]);
    expect(r.environment!.properties!.s).toMatchObject({ secret: true, unknown: true });
  });

  it('turns injected code that throws synchronously into diagnostics', async () => {
    const boom = () => {
      throw new Error('sync boom');
    };
    const providers = { provider: () => ({ inputSchema: true, outputSchema: true, open: boom }) };
    const decrypter = { decrypt: boom };
    const src =
      'values:\n  p: {fn::open::x: {}}\n  s:\n    fn::secret:\n      ciphertext: ZXNjeAAAAAHo9e705fKyKo30VQ==\n';
    const r = await evalEnvironment('e', src, { providers, decrypter });
    expect(r.diagnostics.map((d) => d.summary).sort()).toEqual(['decrypting: sync boom', 'sync boom']);
  });

  it('never logs', async () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    await evalEnvironment('e', 'values:\n  s: {fn::secret: hunter2}\n  t: ${s}\n  bad: ${nope}\n');
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });
});
