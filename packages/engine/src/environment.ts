import type { EnvironmentDecl } from './ast/environment.js';
import { error } from './diagnostics.js';
import type { Diagnostic } from './diagnostics.js';
import { Evaluation } from './eval/evaluator.js';
import type { RotationPatch, Shared } from './eval/evaluator.js';
import { preload } from './eval/preload.js';
import { exportExpr } from './eval/export-expr.js';
import type { Decrypter, EnvironmentLoader, LoadFailure, ProviderRegistry } from './eval/interfaces.js';
import type { Schema } from './eval/schema.js';
import { BudgetExceeded } from './eval/values.js';
import type { ExprJSON } from './expr.js';
import { MAX_PROVIDER_ROUNDS, MAX_VALUE_NODES } from './limits.js';
import { parseCached } from './parse-cache.js';
import type { JSONValue, Value } from './value.js';

/** An evaluated environment in ESC's `Environment` shape. */
export interface Environment {
  exprs?: { [key: string]: ExprJSON };
  properties?: { [key: string]: Value };
  schema?: Schema;
  executionContext?: { properties?: { [key: string]: Value }; schema?: Schema };
}

export interface EvaluateOptions {
  /** Loads imported environments; without one, every import fails with "not found". */
  loader?: EnvironmentLoader;
  /** Decrypts `fn::secret: {ciphertext: ...}` in this definition. */
  decrypter?: Decrypter;
  /** Providers (`fn::open`) and rotators (`fn::rotate`). */
  providers?: ProviderRegistry;
  /**
   * Execution context exposed as `${context.*}`, e.g. `{pulumi: {user: {login: "alice"}, organization: {login:
   * "acme"}}}`. `rootEnvironment.name` and `currentEnvironment.name` are added by the engine.
   */
  context?: { [key: string]: JSONValue };
  /** Check only: decrypt static secrets instead of reporting them as unknown. */
  showSecrets?: boolean;
  /** Overrides {@link MAX_VALUE_NODES} (tests use a smaller budget). */
  maxValueNodes?: number;
}

export interface EvaluateResult {
  /** Absent when the definition is empty or failed to parse (as in ESC). */
  environment?: Environment;
  /** Load, check and evaluation diagnostics, in the order found. */
  diagnostics: Diagnostic[];
  /** Imports that could not be loaded, with the loader's reason (e.g. `denied`). */
  importFailures: { ref: string; failure: LoadFailure }[];
}

export interface RotateResult extends EvaluateResult {
  /** New rotation state to write back to the definition as a new revision. */
  patches: RotationPatch[];
}

/** Parses a definition without evaluating it. `decl` is absent only when the YAML itself is unusable. */
export function parseDefinition(
  name: string,
  source: Uint8Array | string,
): { decl?: EnvironmentDecl; diagnostics: Diagnostic[] } {
  const parsed = parseCached(name, source);
  return parsed.decl
    ? { decl: parsed.decl, diagnostics: [...parsed.diagnostics] }
    : { diagnostics: [...parsed.diagnostics] };
}

type Mode = { validating: boolean; rotating: boolean; rotatePaths?: string[] };

async function run(
  name: string,
  source: Uint8Array | string,
  opts: EvaluateOptions,
  mode: Mode,
): Promise<RotateResult> {
  const { decl, diagnostics: loadDiagnostics } = parseDefinition(name, source);
  const result: RotateResult = { diagnostics: loadDiagnostics, importFailures: [], patches: [] };
  if (!decl || (decl.values.length === 0 && decl.imports.length === 0)) return result;

  const persistent = {
    validating: mode.validating,
    rotating: mode.rotating,
    showSecrets: mode.validating ? (opts.showSecrets ?? false) : true,
    rootName: name,
    providers: opts.providers,
    context: opts.context ?? {},
    rotatePaths: new Set((mode.rotatePaths ?? []).map((p) => `values.${p}`)),
    environments: new Map(),
    plaintexts: new Map(),
    calls: new Map(),
  } satisfies Partial<Shared>;
  const pass = (): Shared => ({
    ...persistent,
    imports: new Map(),
    budget: { values: 0, max: opts.maxValueNodes ?? MAX_VALUE_NODES, exhausted: false },
    patches: [],
    failures: [],
    pending: [],
    depth: 0,
  });
  await preload(pass(), decl, opts.decrypter, opts.loader).catch(() => undefined);
  // preload fills the persistent maps through the pass it is given (they are shared by reference).

  for (let round = 0; ; round++) {
    const shared = pass();
    const ev = new Evaluation(shared, name, decl, opts.decrypter);
    let v: ReturnType<Evaluation['evaluate']>;
    try {
      v = ev.evaluate();
    } catch (e) {
      result.diagnostics = [...loadDiagnostics, ...ev.diags, failure(e, shared.budget.max)];
      result.importFailures = shared.failures;
      return result;
    }
    if (shared.pending.length > 0 && round < MAX_PROVIDER_ROUNDS) {
      // Make the calls this pass discovered, then evaluate again with their results.
      const results = await Promise.all(shared.pending.map((p) => p.run()));
      shared.pending.forEach((p, i) => {
        let byInputs = persistent.calls.get(p.node);
        if (!byInputs) persistent.calls.set(p.node, (byInputs = new Map()));
        byInputs.set(p.key, results[i]!);
      });
      continue;
    }
    result.diagnostics = [...loadDiagnostics, ...ev.diags];
    if (shared.pending.length > 0) {
      result.diagnostics.push(
        error(
          `provider calls depend on each other more than ${MAX_PROVIDER_ROUNDS} levels deep`,
          undefined,
          '',
        ),
      );
    }
    result.importFailures = shared.failures;
    result.patches = shared.patches;
    const exprs: { [key: string]: ExprJSON } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    const root = ev.root.repr;
    if (root.k === 'object') for (const [k, x] of root.properties) exprs[k] = exportExpr(x, name);
    result.environment = {
      exprs,
      properties: v.export(name).value as { [key: string]: Value },
      // The root value's schema was merged with its base when it was evaluated.
      schema: v.schema,
      executionContext: {
        properties: ev.myContext.export(name).value as { [key: string]: Value },
        schema: ev.myContext.schema,
      },
    };
    return result;
  }
}

function failure(e: unknown, maxValues: number): Diagnostic {
  if (e instanceof BudgetExceeded)
    return error(`evaluation exceeds the limit of ${maxValues} values`, undefined, '');
  if (e instanceof RangeError) return error('evaluation is too deeply nested', undefined, '');
  return error(`internal error: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * Checks a definition: evaluates it symbolically. `fn::open`/`fn::rotate` are not invoked (their results are
 * unknown, with the provider's schema) and static secrets are unknown unless `showSecrets` is set.
 */
export async function checkEnvironment(
  name: string,
  source: Uint8Array | string,
  opts: EvaluateOptions = {},
): Promise<EvaluateResult> {
  const { patches: _patches, ...r } = await run(name, source, opts, { validating: true, rotating: false });
  return r;
}

/** Evaluates ("opens") a definition: imports are merged, secrets decrypted and providers invoked. */
export async function evalEnvironment(
  name: string,
  source: Uint8Array | string,
  opts: EvaluateOptions = {},
): Promise<EvaluateResult> {
  const { patches: _patches, ...r } = await run(name, source, opts, { validating: false, rotating: false });
  return r;
}

/**
 * Evaluates a definition and invokes the rotators of its `fn::rotate` calls (all, or those at `paths` relative to
 * `values`, e.g. `creds`). The returned patches hold the new state to write back as a new revision.
 */
export async function rotateEnvironment(
  name: string,
  source: Uint8Array | string,
  opts: EvaluateOptions & { paths?: string[] } = {},
): Promise<RotateResult> {
  return run(name, source, opts, { validating: false, rotating: true, rotatePaths: opts.paths ?? [] });
}
