import { error, warning } from '../diagnostics.js';
import type { Diagnostic } from '../diagnostics.js';
import type { ObjectNode, SyntaxNode } from '../syntax/node.js';
import { parseExpr, stringExpr } from './expr.js';
import type { BooleanExpr, Expr, StringExpr } from './expr.js';

export interface ImportDecl {
  syntax: SyntaxNode;
  /** The import as written, e.g. `project/env@stable`. */
  environment: StringExpr;
  /** `false` for `- name: {merge: false}`: evaluated and reachable through `imports`, but not merged. */
  merge?: BooleanExpr;
  rotateOnly?: BooleanExpr;
}

export interface ValueEntry {
  key: StringExpr;
  value: Expr;
}

/** A parsed environment definition: `imports`, `values` and `description`. */
export interface EnvironmentDecl {
  syntax?: SyntaxNode;
  description?: StringExpr;
  imports: ImportDecl[];
  values: ValueEntry[];
  /** Syntax of the `values` mapping, if present. */
  valuesSyntax?: ObjectNode;
}

const FIELDS = ['description', 'imports', 'values'];

function nodeError(node: SyntaxNode, summary: string): Diagnostic {
  return error(summary, node.range, node.path);
}

function parseImport(node: SyntaxNode, diags: Diagnostic[]): ImportDecl | undefined {
  if (node.kind === 'string') return { syntax: node, environment: stringExpr(node.value, node) };
  if (node.kind !== 'object') {
    diags.push(nodeError(node, 'import must be a string or an object'));
    return undefined;
  }
  if (node.entries.length !== 1) {
    diags.push(nodeError(node, 'import must have a single key'));
    return undefined;
  }
  const kvp = node.entries[0]!;
  const decl: ImportDecl = { syntax: node, environment: stringExpr(kvp.key.value, kvp.key) };
  const meta = kvp.value;
  if (meta.kind === 'null') return decl;
  if (meta.kind !== 'object') {
    diags.push(nodeError(meta, 'import must be an object'));
    return decl;
  }
  for (const e of meta.entries) {
    const k = e.key.value.toLowerCase();
    if (k === 'merge' || k === 'rotateonly') {
      if (e.value.kind !== 'boolean') {
        diags.push(nodeError(e.value, `${k === 'merge' ? 'merge' : 'rotateOnly'} must be a boolean value`));
        continue;
      }
      const b: BooleanExpr = { kind: 'boolean', value: e.value.value, syntax: e.value };
      if (k === 'merge') decl.merge = b;
      else decl.rotateOnly = b;
    }
    // Other keys are ignored, as in ESC.
  }
  return decl;
}

/** Parses the top level of an environment definition. */
export function parseEnvironment(node: SyntaxNode | undefined): {
  env: EnvironmentDecl;
  diags: Diagnostic[];
} {
  const env: EnvironmentDecl = { imports: [], values: [] };
  const diags: Diagnostic[] = [];
  if (!node) return { env, diags };
  env.syntax = node;
  if (node.kind !== 'object') return { env, diags: [nodeError(node, 'environment must be an object')] };

  const seen = new Set<string>();
  for (const { key, value } of node.entries) {
    const field = FIELDS.find((f) => f === key.value.toLowerCase());
    // Unknown top-level keys are ignored, as in ESC.
    if (!field) continue;
    if (seen.has(field)) diags.push(warning(`duplicate key "${key.value}"`, key.range, key.path));
    seen.add(field);
    if (field === 'description') {
      if (value.kind === 'string') env.description = stringExpr(value.value, value);
      else if (value.kind !== 'null') diags.push(nodeError(value, 'description must be a string'));
    } else if (field === 'imports') {
      if (value.kind === 'null') continue;
      if (value.kind !== 'array') {
        diags.push(nodeError(value, 'imports must be a list'));
        continue;
      }
      env.imports = [];
      for (const el of value.elements) {
        const decl = parseImport(el, diags);
        if (decl) env.imports.push(decl);
      }
    } else {
      if (value.kind === 'null') continue;
      if (value.kind !== 'object') {
        diags.push(nodeError(value, 'values must be an object'));
        continue;
      }
      env.valuesSyntax = value;
      env.values = value.entries.map((e) => {
        const x = parseExpr(e.value);
        diags.push(...x.diags);
        return { key: stringExpr(e.key.value, e.key), value: x.expr };
      });
    }
  }
  return { env, diags };
}
