/** A position in a source document. `line` and `column` are 1-based, `byte` is a 0-based UTF-8 offset. */
export interface Pos {
  line: number;
  column: number;
  byte: number;
}

/** A source range inside the named environment, in ESC's `Range` shape. */
export interface Range {
  environment: string;
  begin: Pos;
  end: Pos;
}

export type Severity = 'error' | 'warning';

/**
 * A user-facing problem with an environment definition. User mistakes are always reported this way, never thrown.
 * `path` is the document path of the offending node, e.g. `values.foo[0]["fn::join"]`.
 */
export interface Diagnostic {
  severity: Severity;
  summary: string;
  detail?: string;
  path?: string;
  range?: Range;
}

export function error(summary: string, range?: Range, path?: string): Diagnostic {
  const d: Diagnostic = { severity: 'error', summary };
  if (path !== undefined && path !== '') d.path = path;
  if (range !== undefined) d.range = range;
  return d;
}

export function warning(summary: string, range?: Range, path?: string, detail?: string): Diagnostic {
  const d = error(summary, range, path);
  d.severity = 'warning';
  if (detail !== undefined) d.detail = detail;
  return d;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** Sorts diagnostics the way ESC's golden tests do: by environment, then line, then column. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return diags.sort((a, b) => {
    if (!a.range || !b.range) {
      if (!a.range && !b.range) return a.summary < b.summary ? -1 : a.summary > b.summary ? 1 : 0;
      return a.range ? 1 : -1;
    }
    if (a.range.environment !== b.range.environment)
      return a.range.environment < b.range.environment ? -1 : 1;
    if (a.range.begin.line !== b.range.begin.line) return a.range.begin.line - b.range.begin.line;
    return a.range.begin.column - b.range.begin.column;
  });
}
