import type { Range } from '../diagnostics.js';

/** How a string scalar was written; ranges of sub-strings are only computable for single-line plain/quoted ones. */
export type ScalarStyle = 'plain' | 'single' | 'double' | 'literal' | 'folded';

interface NodeBase {
  /** Source range; absent for synthesized nodes. */
  range?: Range;
  /** Document path, e.g. `values.foo[0]`. */
  path: string;
}

export interface NullNode extends NodeBase {
  kind: 'null';
}
export interface BooleanNode extends NodeBase {
  kind: 'boolean';
  value: boolean;
}
export interface NumberNode extends NodeBase {
  kind: 'number';
  value: number;
}
export interface StringNode extends NodeBase {
  kind: 'string';
  value: string;
  style?: ScalarStyle;
}
export interface ArrayNode extends NodeBase {
  kind: 'array';
  elements: SyntaxNode[];
}
export interface ObjectEntry {
  key: StringNode;
  value: SyntaxNode;
}
export interface ObjectNode extends NodeBase {
  kind: 'object';
  entries: ObjectEntry[];
}

export type SyntaxNode = NullNode | BooleanNode | NumberNode | StringNode | ArrayNode | ObjectNode;

/** A string node with no source information. */
export function syntheticString(value: string, path = ''): StringNode {
  return { kind: 'string', value, path };
}

const SIMPLE_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Joins a property key onto a document path: `a.b` for identifiers, `a["b c"]` otherwise (ESC's JoinKey). */
export function joinKey(root: string, key: string): string {
  if (!SIMPLE_KEY.test(key)) return `${root}["${key.replaceAll('"', '\\"')}"]`;
  return root === '' ? key : `${root}.${key}`;
}
