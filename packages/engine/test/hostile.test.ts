// Hostile input must end in diagnostics, quickly, with bounded memory — never a hang or a crash.
import { describe, expect, it } from 'vitest';
import { checkEnvironment, evalEnvironment, MAX_DEFINITION_BYTES, MAX_STRING_LENGTH } from '../src/index.js';

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

describe('hostile input', () => {
  it('rejects a megabyte of flow nesting quickly', async () => {
    const n = (MAX_DEFINITION_BYTES - 20) / 2;
    const src = 'values:\n  a: ' + '['.repeat(n) + ']'.repeat(n);
    const [r, ms] = await timed(() => evalEnvironment('e', src));
    expect(r.diagnostics[0]!.summary).toMatch(/nesting exceeds/);
    expect(ms).toBeLessThan(1000);
  });

  it('evaluates a near-limit document in bounded time', async () => {
    let src = 'values:\n';
    let i = 0;
    while (src.length < MAX_DEFINITION_BYTES - 64) src += `  key${i}: value-${i++}\n`;
    const [r, ms] = await timed(() => evalEnvironment('e', src));
    expect(r.diagnostics).toEqual([]);
    expect(Object.keys(r.environment!.properties!).length).toBe(i);
    expect(ms).toBeLessThan(10_000);
  });

  it('rejects a YAML alias bomb without expanding it', async () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const p = String.fromCharCode(97 + i - 1);
      lines.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill('*' + p)
          .join(',')}]`,
      );
    }
    const src = 'values:\n' + lines.map((l) => '  ' + l).join('\n');
    const [r, ms] = await timed(() => evalEnvironment('e', src));
    expect(r.environment).toBeUndefined();
    expect(r.diagnostics.every((d) => d.summary === 'alias nodes are not supported')).toBe(true);
    expect(ms).toBeLessThan(1000);
  });

  it('stops a reference bomb at the value budget (default limits)', async () => {
    const lines = ['values:', '  l0: [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      lines.push(
        `  l${i}: [${Array(10)
          .fill(`"\${l${i - 1}}"`)
          .join(', ')}]`,
      );
    const [r, ms] = await timed(() => evalEnvironment('e', lines.join('\n')));
    expect(r.diagnostics.map((d) => d.summary)).toContain('evaluation exceeds the limit of 1000000 values');
    expect(ms).toBeLessThan(10_000);
  });

  it('stops a string bomb at the string limit', async () => {
    const lines = ['values:', `  s0: ${'x'.repeat(1000)}`];
    for (let i = 1; i < 30; i++) lines.push(`  s${i}: \${s${i - 1}}\${s${i - 1}}`);
    const [r, ms] = await timed(() => checkEnvironment('e', lines.join('\n')));
    expect(r.diagnostics.map((d) => d.summary)).toContain(
      `string exceeds the limit of ${MAX_STRING_LENGTH} characters`,
    );
    expect(ms).toBeLessThan(5_000);
  });

  it('stops repeated large strings in fn::toString, fn::toJSON and fn::join before building them', async () => {
    const big = 'x'.repeat(200_000);
    const refs = Array(40).fill('"${big}"').join(', ');
    const src = [
      'values:',
      `  big: ${big}`,
      `  list: [${refs}]`,
      '  str: {fn::toString: "${list}"}',
      '  json: {fn::toJSON: "${list}"}',
      '  joined: {fn::join: ["", "${list}"]}',
      '  interp: "x${list}"',
    ].join('\n');
    const [r, ms] = await timed(() => evalEnvironment('e', src));
    const tooLong = r.diagnostics.filter((d) => d.summary.startsWith('string exceeds the limit'));
    expect(tooLong.map((d) => d.path).sort()).toEqual([
      'values.interp',
      'values.joined',
      'values.json',
      'values.str',
    ]);
    expect(ms).toBeLessThan(5_000);
  });

  it('reports a very long chain of references instead of overflowing the stack', async () => {
    const n = 20_000;
    const lines = ['values:'];
    for (let i = 0; i < n; i++) lines.push(`  v${i}: \${v${i + 1}}`);
    lines.push(`  v${n}: end`);
    const r = await evalEnvironment('e', lines.join('\n'));
    expect(r.diagnostics.map((d) => d.summary)).toContain('references are nested more than 500 levels deep');
    expect(r.environment!.properties!.v19999!.value).toBe('end');
  });

  it('reports NUL bytes, invalid UTF-8 and non-YAML garbage as diagnostics', async () => {
    const inputs: (string | Uint8Array)[] = [
      'values:\n  a: "\u0000"\n',
      new Uint8Array([
        0x76, 0x61, 0x6c, 0x75, 0x65, 0x73, 0x3a, 0x0a, 0x20, 0x20, 0x61, 0x3a, 0x20, 0xc3, 0x28,
      ]),
      '{{{{',
      ']]]',
      '- just\n- a list\n',
      'values: [1, 2]\n',
      'imports: {a: b}\n',
      '"unterminated',
      'values:\n  ? [complex, key]\n  : v\n',
    ];
    for (const src of inputs) {
      const r = await evalEnvironment('e', src);
      expect(r.diagnostics.length).toBeGreaterThan(0);
    }
  });

  it('never throws on random bytes', async () => {
    for (let i = 0; i < 200; i++) {
      const bytes = new Uint8Array(64).map(() => Math.floor(Math.random() * 256));
      const r = await evalEnvironment('e', bytes);
      expect(Array.isArray(r.diagnostics)).toBe(true);
    }
  });
});
