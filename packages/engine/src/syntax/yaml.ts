import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, parseDocument } from 'yaml';
import type { Node as YAMLNode } from 'yaml';
import { error } from '../diagnostics.js';
import type { Diagnostic, Range } from '../diagnostics.js';
import { MAX_DEFINITION_BYTES, MAX_NESTING_DEPTH, MAX_SYNTAX_NODES } from '../limits.js';
import { joinKey } from './node.js';
import type { ObjectEntry, ScalarStyle, StringNode, SyntaxNode } from './node.js';
import { PositionIndex, utf8Length } from './position.js';

export interface DecodedYAML {
  /** The document's root node; undefined for an empty document or when decoding failed. */
  node?: SyntaxNode;
  /** The decoded source text. */
  text: string;
  diags: Diagnostic[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

// C0 controls other than TAB, LF and CR, plus DEL: YAML forbids them in a stream (YAML 1.2 §5.1).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/**
 * Decodes YAML source (bytes or text) into syntax nodes carrying ESC-compatible ranges and document paths.
 * The source is hostile: size, encoding, control characters, nesting depth, node count and aliases are all checked,
 * and every problem becomes a diagnostic.
 */
export function decodeYAML(environment: string, source: Uint8Array | string): DecodedYAML {
  const whole = (): Range => {
    const b = { line: 1, column: 1, byte: 0 };
    return { environment, begin: b, end: b };
  };

  let text: string;
  if (typeof source === 'string') {
    if (source.length > MAX_DEFINITION_BYTES || utf8Length(source) > MAX_DEFINITION_BYTES) {
      return {
        text: '',
        diags: [error(`definition exceeds the limit of ${MAX_DEFINITION_BYTES} bytes`, whole())],
      };
    }
    text = source;
  } else {
    if (source.byteLength > MAX_DEFINITION_BYTES) {
      return {
        text: '',
        diags: [error(`definition exceeds the limit of ${MAX_DEFINITION_BYTES} bytes`, whole())],
      };
    }
    try {
      text = utf8.decode(source);
    } catch {
      return { text: '', diags: [error('definition is not valid UTF-8', whole())] };
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const positions = new PositionIndex(text);
  const rangeOf = (start: number, end: number): Range => {
    const b = positions.lineColumn(start);
    const e = positions.lineColumn(end);
    return { environment, begin: positions.pos(b.line, b.column), end: positions.pos(e.line, e.column) };
  };

  const control = CONTROL.exec(text);
  if (control) {
    return {
      text,
      diags: [error('yaml: control characters are not allowed', rangeOf(control.index, control.index + 1))],
    };
  }

  // Reject deep flow nesting before composing: the composer recurses, and a megabyte of `[` would be slow.
  // Documents with few brackets cannot nest too deeply, so they skip the extra lexing pass.
  let brackets = 0;
  for (let i = 0; i < text.length && brackets <= MAX_NESTING_DEPTH; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) brackets++;
  }
  let depth = 0;
  let offset = 0;
  for (const token of brackets > MAX_NESTING_DEPTH ? new Lexer().lex(text) : []) {
    if (token === '[' || token === '{') {
      if (++depth > MAX_NESTING_DEPTH) {
        return {
          text,
          diags: [
            error(`nesting exceeds the limit of ${MAX_NESTING_DEPTH} levels`, rangeOf(offset, offset + 1)),
          ],
        };
      }
    } else if (token === ']' || token === '}') depth--;
    offset += token.length;
  }

  const doc = parseDocument(text, {
    keepSourceTokens: false,
    uniqueKeys: false,
    prettyErrors: false,
    strict: false,
  });
  const diags: Diagnostic[] = [];
  for (const e of doc.errors) {
    const [start, end] = e.pos;
    diags.push(error(`yaml: ${e.message.split('\n')[0]}`, rangeOf(start, Math.max(start, end))));
  }
  if (diags.length > 0) return { text, diags };
  if (doc.contents === null) return { text, diags };

  let nodes = 0;
  const decode = (
    n: YAMLNode | null,
    path: string,
    level: number,
    fallback: number,
  ): SyntaxNode | undefined => {
    if (++nodes > MAX_SYNTAX_NODES) {
      if (nodes === MAX_SYNTAX_NODES + 1) {
        diags.push(
          error(
            `definition exceeds the limit of ${MAX_SYNTAX_NODES} nodes`,
            rangeOf(fallback, fallback),
            path,
          ),
        );
      }
      return undefined;
    }
    if (n === null) {
      const at = positions.lineColumn(fallback);
      const p = positions.pos(at.line, at.column);
      return { kind: 'null', path, range: { environment, begin: p, end: p } };
    }
    const [start] = n.range ?? [fallback, fallback, fallback];
    const begin = positions.lineColumn(start);
    const beginPos = positions.pos(begin.line, begin.column);
    if (isAlias(n)) {
      diags.push(
        error('alias nodes are not supported', { environment, begin: beginPos, end: beginPos }, path),
      );
      return undefined;
    }
    if (level > MAX_NESTING_DEPTH) {
      diags.push(
        error(
          `nesting exceeds the limit of ${MAX_NESTING_DEPTH} levels`,
          { environment, begin: beginPos, end: beginPos },
          path,
        ),
      );
      return undefined;
    }
    if (isScalar(n)) {
      // ESC computes a scalar's end as (start line + newlines of a literal block, start column + length of the
      // last line of the value in bytes); we reproduce that so ranges agree with the reference.
      const v = n.value;
      const str = typeof v === 'string' ? v : (n.source ?? String(v));
      let line = begin.line;
      let last = str;
      if (n.type === 'BLOCK_LITERAL') {
        const parts = str.split('\n');
        line += parts.length - 1;
        last = parts[parts.length - 1]!;
      }
      const range: Range = {
        environment,
        begin: beginPos,
        end: positions.pos(line, begin.column + utf8Length(last)),
      };
      if (v === null || v === undefined) return { kind: 'null', path, range };
      if (typeof v === 'boolean') return { kind: 'boolean', value: v, path, range };
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) {
          diags.push(error(`number ${n.source ?? String(v)} cannot be represented in JSON`, range, path));
          return undefined;
        }
        return { kind: 'number', value: v, path, range };
      }
      if (typeof v === 'bigint') return { kind: 'number', value: Number(v), path, range };
      return { kind: 'string', value: String(v), style: scalarStyle(n.type), path, range };
    }
    if (isSeq(n)) {
      const elements: SyntaxNode[] = [];
      n.items.forEach((item, i) => {
        const e = decode(item as YAMLNode | null, `${path}[${i}]`, level + 1, start);
        if (e) elements.push(e);
      });
      const last = elements[elements.length - 1];
      return {
        kind: 'array',
        elements,
        path,
        range: { environment, begin: beginPos, end: last?.range?.end ?? beginPos },
      };
    }
    if (isMap(n)) {
      const entries: ObjectEntry[] = [];
      let end = beginPos;
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as YAMLNode | null;
        const keyName = isScalar(keyNode) ? String(keyNode.value) : '';
        const childPath = joinKey(path, keyName);
        const key = decode(keyNode, childPath, level + 1, start);
        const value = decode(
          pair.value as YAMLNode | null,
          childPath,
          level + 1,
          keyNode?.range?.[1] ?? start,
        );
        if (value?.range) end = value.range.end;
        if (!key || !value) continue;
        if (key.kind !== 'string') {
          diags.push(error('mapping keys must be strings', key.range, key.path));
          continue;
        }
        entries.push({ key, value });
      }
      return { kind: 'object', entries, path, range: { environment, begin: beginPos, end } };
    }
    diags.push(error('unexpected YAML node', { environment, begin: beginPos, end: beginPos }, path));
    return undefined;
  };

  const node = decode(doc.contents as YAMLNode, '', 0, 0);
  return node ? { node, text, diags } : { text, diags };
}

function scalarStyle(type: string | undefined): ScalarStyle {
  switch (type) {
    case 'QUOTE_SINGLE':
      return 'single';
    case 'QUOTE_DOUBLE':
      return 'double';
    case 'BLOCK_LITERAL':
      return 'literal';
    case 'BLOCK_FOLDED':
      return 'folded';
    default:
      return 'plain';
  }
}

export type { StringNode };
