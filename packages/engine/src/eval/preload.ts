import type { EnvironmentDecl } from '../ast/environment.js';
import type { Expr } from '../ast/expr.js';
import type { PropertyAccessor } from '../ast/property.js';
import { decodeCiphertext } from '../crypt/envelope.js';
import { MAX_ENVIRONMENTS } from '../limits.js';
import { parseCached } from '../parse-cache.js';
import type { LoadedEnvironment, Shared } from './evaluator.js';
import { plaintextKey } from './evaluator.js';
import type { Decrypter, EnvironmentLoader, LoadFailure } from './interfaces.js';
import { parseEnvironmentRef } from './interfaces.js';

const EMPTY_ENV: EnvironmentDecl = { imports: [], values: [] };
const textDecoder = new TextDecoder();

/** Calls `fn` for every expression of a definition's values, depth first. */
function walk(decl: EnvironmentDecl, fn: (x: Expr) => void): void {
  const visit = (x: Expr | undefined): void => {
    if (!x) return;
    fn(x);
    switch (x.kind) {
      case 'array':
        x.elements.forEach(visit);
        break;
      case 'object':
        for (const e of x.entries) visit(e.value);
        break;
      case 'builtin':
        visit(x.args);
        break;
    }
  };
  for (const v of decl.values) visit(v.value);
}

const keyOf = (a: PropertyAccessor | undefined): string | undefined =>
  a === undefined
    ? undefined
    : a.kind === 'name'
      ? a.name
      : typeof a.index === 'string'
        ? a.index
        : undefined;

/** `${environments.<project>.<env>...}` references: implicit imports that must be loaded too. */
function inlineReferences(decl: EnvironmentDecl): string[] {
  const names = new Set<string>();
  const check = (accessors: PropertyAccessor[]) => {
    if (accessors.length < 3 || keyOf(accessors[0]) !== 'environments') return;
    const project = keyOf(accessors[1]);
    const env = keyOf(accessors[2]);
    if (project !== undefined && env !== undefined) names.add(`${project}/${env}`);
  };
  walk(decl, (x) => {
    if (x.kind === 'symbol') check(x.property.accessors);
    else if (x.kind === 'interpolate') for (const p of x.parts) if (p.value) check(p.value.accessors);
  });
  return [...names];
}

function ciphertexts(decl: EnvironmentDecl): string[] {
  const out = new Set<string>();
  walk(decl, (x) => {
    if (x.kind === 'builtin' && x.fn === 'secret' && x.ciphertext) out.add(x.ciphertext.value);
  });
  return [...out];
}

async function load(loader: EnvironmentLoader | undefined, name: string): Promise<LoadedEnvironment> {
  const notFound: LoadFailure = { kind: 'not-found', message: `environment "${name}" not found` };
  if (!loader) return { failure: notFound };
  try {
    const r = await loader.load(parseEnvironmentRef(name));
    if (r.failure) return { failure: r.failure };
    if (r.definition === undefined) return { failure: notFound };
    const parsed = parseCached(name, r.definition);
    const loaded: LoadedEnvironment = { decl: parsed.decl ?? EMPTY_ENV, diagnostics: parsed.diagnostics };
    if (r.decrypter) loaded.decrypter = r.decrypter;
    return loaded;
  } catch (e) {
    return { failure: { kind: 'error', message: e instanceof Error ? e.message : String(e) } };
  }
}

/**
 * Loads every environment the root can reach through imports and `environments.*` references (breadth first,
 * each wave concurrently, each environment once), then decrypts the static secrets that evaluation will reveal.
 * Failures are recorded, not thrown: evaluation reports them where the import is written.
 */
export async function preload(
  shared: Shared,
  root: EnvironmentDecl,
  rootDecrypter: Decrypter | undefined,
  loader: EnvironmentLoader | undefined,
): Promise<void> {
  const seen = new Set<string>([shared.rootName]);
  let wave: { decl: EnvironmentDecl; root: boolean }[] = [{ decl: root, root: true }];
  while (wave.length > 0) {
    const names: string[] = [];
    for (const { decl, root: isRoot } of wave) {
      for (const imp of decl.imports) {
        // rotateOnly imports are only evaluated while rotating (and checked for the root, see Evaluation).
        if (imp.rotateOnly?.value && !shared.rotating && !(shared.validating && isRoot)) continue;
        names.push(imp.environment.value);
      }
      names.push(...inlineReferences(decl));
    }
    const fresh = [...new Set(names)]
      .filter((n) => !seen.has(n))
      .slice(0, Math.max(0, MAX_ENVIRONMENTS - seen.size));
    for (const n of fresh) seen.add(n);
    const loaded = await Promise.all(fresh.map((n) => load(loader, n)));
    wave = [];
    fresh.forEach((n, i) => {
      const env = loaded[i]!;
      shared.environments.set(n, env);
      if (!env.failure) wave.push({ decl: env.decl, root: false });
    });
  }

  if (shared.validating && !shared.showSecrets) return;
  const jobs: Promise<void>[] = [];
  const decrypt = (environment: string, decl: EnvironmentDecl, decrypter: Decrypter | undefined) => {
    if (!decrypter) return;
    for (const text of ciphertexts(decl)) {
      let ciphertext: Uint8Array;
      try {
        ciphertext = decodeCiphertext(text);
      } catch {
        continue; // reported by evaluation as invalid ciphertext
      }
      const key = plaintextKey(environment, text);
      jobs.push(
        Promise.resolve()
          .then(() => decrypter.decrypt(ciphertext))
          .then(
            (p) => void shared.plaintexts.set(key, { plaintext: textDecoder.decode(p) }),
            (e: unknown) =>
              void shared.plaintexts.set(key, { error: e instanceof Error ? e.message : String(e) }),
          ),
      );
    }
  };
  decrypt(shared.rootName, root, rootDecrypter);
  for (const [name, env] of shared.environments) if (!env.failure) decrypt(name, env.decl, env.decrypter);
  await Promise.all(jobs);
}
