import { describe, expect, it } from 'vitest';
import { decodeYAML } from '../src/syntax/yaml.js';
import { MAX_DEFINITION_BYTES, MAX_NESTING_DEPTH } from '../src/index.js';
import type { SyntaxNode } from '../src/syntax/node.js';

function valueOf(node: SyntaxNode | undefined, ...path: string[]): SyntaxNode {
  let n = node!;
  for (const p of path) {
    if (n.kind !== 'object') throw new Error(`not an object at ${p}`);
    n = n.entries.find((e) => e.key.value === p)!.value;
  }
  return n;
}

describe('YAML decoding', () => {
  it('gives scalars 1-based line/column and 0-based UTF-8 byte ranges', () => {
    const { node, diags } = decodeYAML('env', 'values:\n  a: hello\n');
    expect(diags).toEqual([]);
    const a = valueOf(node, 'values', 'a');
    expect(a.range).toEqual({
      environment: 'env',
      begin: { line: 2, column: 6, byte: 13 },
      end: { line: 2, column: 11, byte: 18 },
    });
    expect(a.path).toBe('values.a');
  });

  it('counts bytes, not characters, after multi-byte text', () => {
    const { node } = decodeYAML('env', 'values:\n  é: x\n  b: y\n');
    const x = valueOf(node, 'values', 'é');
    expect(x.range!.begin).toEqual({ line: 2, column: 6, byte: 14 });
    const y = valueOf(node, 'values', 'b');
    expect(y.range!.begin).toEqual({ line: 3, column: 6, byte: 21 });
  });

  it('ends a collection at the end of its last element (as ESC does)', () => {
    const { node } = decodeYAML('env', 'values:\n  a: [1, 22]\n');
    const a = valueOf(node, 'values', 'a');
    expect(a.range!.begin.column).toBe(6);
    expect(a.range!.end.column).toBe(12);
  });

  it('ends a literal block on its last line', () => {
    const { node } = decodeYAML('env', 'values:\n  a: |\n    one\n    two\n');
    const a = valueOf(node, 'values', 'a');
    expect(a.range!.begin.line).toBe(2);
    expect(a.range!.end.line).toBe(4);
  });

  it('reports byte 0 on the last line of a document without a trailing newline (ESC quirk)', () => {
    const { node } = decodeYAML('env', 'values:\n  a: b');
    expect(valueOf(node, 'values', 'a').range!.begin).toEqual({ line: 2, column: 6, byte: 0 });
  });

  it('quotes non-identifier keys in paths', () => {
    const { node } = decodeYAML('env', 'values:\n  "a.b": {fn::secret: x}\n');
    const v = valueOf(node, 'values', 'a.b');
    expect(v.path).toBe('values["a.b"]');
    if (v.kind !== 'object') throw new Error('expected object');
    expect(v.entries[0]!.value.path).toBe('values["a.b"]["fn::secret"]');
  });

  it('rejects invalid UTF-8, control characters, aliases, deep nesting and oversized input', () => {
    expect(decodeYAML('e', new Uint8Array([0x76, 0x3a, 0x20, 0xff])).diags[0]!.summary).toBe(
      'definition is not valid UTF-8',
    );
    expect(decodeYAML('e', 'a: "\u0000"').diags[0]!.summary).toBe('yaml: control characters are not allowed');
    expect(decodeYAML('e', 'a: &x 1\nb: *x\n').diags[0]!.summary).toBe('alias nodes are not supported');
    const deep = 'a: ' + '['.repeat(MAX_NESTING_DEPTH + 1) + ']'.repeat(MAX_NESTING_DEPTH + 1);
    expect(decodeYAML('e', deep).diags[0]!.summary).toMatch(/nesting exceeds/);
    let block = 'a:\n';
    for (let i = 1; i <= MAX_NESTING_DEPTH + 2; i++) block += ' '.repeat(i) + 'k:\n';
    expect(decodeYAML('e', block).diags[0]!.summary).toMatch(/nesting exceeds/);
    expect(decodeYAML('e', 'a'.repeat(MAX_DEFINITION_BYTES + 1)).diags[0]!.summary).toMatch(
      /exceeds the limit/,
    );
  });

  it('reports YAML syntax errors as diagnostics', () => {
    const { diags, node } = decodeYAML('e', 'values:\n  a: [1, 2\n');
    expect(node).toBeUndefined();
    expect(diags.length).toBeGreaterThan(0);
    expect(diags[0]!.summary).toMatch(/^yaml: /);
    expect(diags[0]!.range?.environment).toBe('e');
  });

  it('requires string keys', () => {
    expect(decodeYAML('e', '1: a\n').diags[0]!.summary).toBe('mapping keys must be strings');
  });
});
