import type { EnvironmentDecl, ImportDecl } from '../ast/environment.js';
import type { BuiltinExpr, Expr, StringExpr } from '../ast/expr.js';
import type { PropertyAccessor } from '../ast/property.js';
import { decodeBase64, encodeBase64 } from '../crypt/base64.js';
import { decodeCiphertext } from '../crypt/envelope.js';
import { error } from '../diagnostics.js';
import type { Diagnostic } from '../diagnostics.js';
import { MAX_ENVIRONMENTS, MAX_EVALUATION_DEPTH, MAX_STRING_LENGTH } from '../limits.js';
import { joinKey } from '../syntax/node.js';
import type { JSONValue, ProviderValue } from '../value.js';
import { fromJSON } from '../value.js';
import { goJSON } from './gofmt.js';
import type { Decrypter, LoadFailure, ProviderContext, ProviderRegistry } from './interfaces.js';
import { jsonSchemaValidator } from './json-schema.js';
import {
  always,
  arrayOf,
  constSchema,
  itemSchema,
  mapOf,
  mergedSchema,
  nullSchema,
  propertySchema,
  record,
  recordOf,
  stringSchema,
  tupleOf,
} from './schema.js';
import type { Schema } from './schema.js';
import { validateValue } from './validate.js';
import { copyVal, EvalExpr, ExprState, newVal, StringTooLong, unexport } from './values.js';
import type { AccessorSlot, Budget, InterpolationPart, Repr, Val } from './values.js';

/** A rewrite of rotation state produced while rotating, to be written back to the definition. */
export interface RotationPatch {
  /** Document path of the `state` argument, e.g. `values.creds["fn::rotate::aws"].state`. */
  docPath: string;
  replacement: ProviderValue;
}

interface Imported {
  evaluating: boolean;
  value?: Val;
}

/** An environment loaded (and parsed) ahead of evaluation, or why it could not be. */
export type LoadedEnvironment =
  | { decl: EnvironmentDecl; diagnostics: readonly Diagnostic[]; decrypter?: Decrypter; failure?: undefined }
  | { failure: LoadFailure };

/** The outcome of a provider or rotator call, kept across evaluation passes. */
export type CallResult = { output: ProviderValue; patch?: RotationPatch } | { error: string };

/** A provider or rotator call discovered during a pass, to be made before the next one. */
export interface PendingCall {
  node: BuiltinExpr;
  key: string;
  run: () => Promise<CallResult>;
}

/**
 * State shared by the root evaluation and every imported environment it evaluates.
 *
 * Evaluation itself is synchronous. Everything asynchronous happens between passes: environments are loaded and
 * secrets decrypted before the first pass; provider and rotator calls found during a pass are made after it and
 * their results fed to the next pass (see environment.ts).
 */
export interface Shared {
  validating: boolean;
  rotating: boolean;
  showSecrets: boolean;
  rootName: string;
  providers: ProviderRegistry | undefined;
  context: { [key: string]: JSONValue };
  /** Paths of `fn::rotate` calls to rotate; empty means all. */
  rotatePaths: Set<string>;
  /** Loaded environments by import name (filled before evaluation). */
  environments: Map<string, LoadedEnvironment>;
  /** Decrypted static secrets by environment and ciphertext (filled before evaluation). */
  plaintexts: Map<string, { plaintext: string } | { error: string }>;
  /** Provider and rotator results by call site and inputs (filled between passes). */
  calls: Map<BuiltinExpr, Map<string, CallResult>>;

  // Per pass:
  imports: Map<string, Imported>;
  budget: Budget;
  patches: RotationPatch[];
  /** Import failures, so the caller can report denied imports. */
  failures: { ref: string; failure: LoadFailure }[];
  pending: PendingCall[];
  /** Expressions being evaluated, innermost last (bounded by MAX_EVALUATION_DEPTH). */
  depth: number;
}

/** Key of a decrypted secret in {@link Shared.plaintexts}. */
export function plaintextKey(environment: string, ciphertext: string): string {
  return `${environment}\u0000${ciphertext}`;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

function rangeOf(x: Expr | undefined) {
  return x?.syntax?.range;
}

/** Evaluates one environment (ESC's evalContext). */
export class Evaluation {
  readonly diags: Diagnostic[] = [];
  myContext!: Val;
  myImports!: Val;
  root!: EvalExpr;
  base?: Val;

  constructor(
    readonly shared: Shared,
    readonly name: string,
    readonly env: EnvironmentDecl,
    readonly decrypter: Decrypter | undefined,
  ) {}

  private get budget(): Budget {
    return this.shared.budget;
  }

  private exprError(x: Expr | undefined, summary: string): void {
    this.diags.push(error(summary, rangeOf(x), x?.syntax?.path));
  }

  private accessorError(x: Expr | undefined, _accessor: PropertyAccessor, summary: string): void {
    this.exprError(x, summary);
  }

  private expr(path: string, repr: Repr, schema: Schema, base: Val | undefined): EvalExpr {
    return new EvalExpr(path, repr, schema, base, this.name);
  }

  private val(def: EvalExpr, schema: Schema, repr: Val['repr'] = null): Val {
    return newVal(def, schema, repr, this.budget);
  }

  private unknownVal(def: EvalExpr, schema: Schema = def.schema): Val {
    const v = this.val(def, schema);
    v.unknown = true;
    return v;
  }

  /** {@link Val.toStringParts}, reporting an over-long result instead of building it. */
  private stringParts(x: Expr | undefined, v: Val): [string, boolean, boolean] | undefined {
    try {
      return v.toStringParts();
    } catch (e) {
      if (!(e instanceof StringTooLong)) throw e;
      this.exprError(x, `string exceeds the limit of ${MAX_STRING_LENGTH} characters`);
      return undefined;
    }
  }

  private checkString(x: Expr | undefined, s: string): boolean {
    if (s.length <= MAX_STRING_LENGTH) return true;
    this.exprError(x, `string exceeds the limit of ${MAX_STRING_LENGTH} characters`);
    return false;
  }

  /** Creates the evaluator's expression for an AST expression, attaching bases and reporting duplicate keys. */
  declare(path: string, x: Expr | undefined, base: Val | undefined): EvalExpr {
    if (!x) return this.expr(path, { k: 'missing' }, always, base);
    switch (x.kind) {
      case 'null':
        return this.expr(path, { k: 'literal', node: x }, nullSchema(), base);
      case 'boolean':
        return this.expr(path, { k: 'literal', node: x }, constSchema('boolean', x.value), base);
      case 'number':
        return this.expr(path, { k: 'literal', node: x }, constSchema('number', x.value), base);
      case 'string':
        return this.expr(path, { k: 'literal', node: x }, constSchema('string', x.value), base);
      case 'interpolate': {
        const parts: InterpolationPart[] = x.parts.map((p) =>
          p.value
            ? { text: p.text, access: p.value.accessors.map((accessor) => ({ accessor })) }
            : { text: p.text },
        );
        return this.expr(path, { k: 'interpolate', node: x, parts }, stringSchema(), base);
      }
      case 'symbol': {
        const accessors = x.property.accessors.map((accessor): AccessorSlot => ({ accessor }));
        return this.expr(path, { k: 'symbol', node: x, accessors }, always, base);
      }
      case 'array': {
        const elements = x.elements.map((e, i) => this.declare(`${path}[${i}]`, e, undefined));
        return this.expr(path, { k: 'array', node: x, elements }, arrayOf(always), base);
      }
      case 'object': {
        const properties = new Map<string, EvalExpr>();
        for (const e of x.entries) {
          const k = e.key.value;
          if (properties.has(k)) this.exprError(e.key, `duplicate key "${k}"`);
          else properties.set(k, this.declare(joinKey(path, k), e.value, base?.property(k, this.budget)));
        }
        return this.expr(path, { k: 'object', node: x, properties }, mapOf(always), base);
      }
      case 'builtin':
        return this.declareBuiltin(path, x, base);
    }
  }

  private declareBuiltin(path: string, x: BuiltinExpr, base: Val | undefined): EvalExpr {
    const args = new Map<string, EvalExpr>();
    const arg = (role: string, e: Expr | undefined) => {
      const d = this.declare('', e, undefined);
      args.set(role, d);
      return d;
    };
    let schema: Schema = always;
    let argSchema: Schema = always;
    switch (x.fn) {
      case 'open':
        arg('provider', x.provider);
        arg('inputs', x.inputs);
        break;
      case 'rotate':
        arg('provider', x.provider);
        arg('inputs', x.inputs);
        arg('state', x.state);
        break;
      case 'secret':
        if (x.plaintext) arg('plaintext', x.plaintext).secret = true;
        else arg('ciphertext', x.ciphertext).secret = true;
        schema = stringSchema();
        break;
      case 'join':
        arg('delimiter', x.delimiter);
        arg('values', x.values);
        schema = stringSchema();
        argSchema = tupleOf([stringSchema(), arrayOf(stringSchema())]);
        break;
      case 'split':
        arg('delimiter', x.delimiter);
        arg('string', x.string);
        schema = arrayOf(stringSchema());
        argSchema = tupleOf([stringSchema(), stringSchema()]);
        break;
      case 'concat':
        arg('arrays', x.arrays);
        schema = arrayOf(always);
        argSchema = arrayOf(arrayOf(always));
        break;
      case 'validate':
        arg('schema', x.schema);
        arg('value', x.value);
        argSchema = record({ schema: always, value: always });
        break;
      case 'toBase64':
      case 'fromBase64':
        arg('value', x.value);
        schema = stringSchema();
        argSchema = stringSchema();
        break;
      case 'toJSON':
      case 'toString':
        arg('value', x.value);
        schema = stringSchema();
        break;
      case 'fromJSON':
      case 'final':
        arg('value', x.value);
        break;
    }
    return this.expr(path, { k: 'builtin', node: x, args, argSchema }, schema, base);
  }

  /** Evaluates the environment: context, imports, then the root object. */
  evaluate(): Val {
    this.evaluateContext();
    this.evaluateImports();

    const properties = new Map<string, EvalExpr>();
    this.root = this.expr(`<${this.name}>`, { k: 'object', properties }, mapOf(always), this.base);
    for (const { key, value } of this.env.values) {
      const k = key.value;
      if (k === 'imports' || k === 'context') this.exprError(key, `"${k}" is a reserved key`);
      else if (properties.has(k)) this.exprError(key, `duplicate key "${k}"`);
      else properties.set(k, this.declare(k, value, this.base?.property(k, this.budget)));
    }
    return this.evaluateExpr(this.root, always);
  }

  private evaluateContext(): void {
    const def = this.expr('', { k: 'missing' }, always, undefined);
    const ctx: { [key: string]: JSONValue } = {
      ...this.shared.context,
      rootEnvironment: { name: this.shared.rootName },
      currentEnvironment: { name: this.name },
    };
    this.myContext = unexport(fromJSON(ctx), def, this.budget);
  }

  private evaluateImports(): void {
    const mine: Imported = { evaluating: true };
    this.shared.imports.set(this.name, mine);
    const myImports = new Map<string, Val>();
    try {
      for (const decl of this.env.imports) this.evaluateImport(myImports, decl);
    } finally {
      mine.evaluating = false;
    }
    const props: Record<string, Schema> = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    for (const [k, v] of myImports) props[k] = v.schema;
    const s = record(props);
    const def = this.expr('', { k: 'missing' }, s, undefined);
    def.state = ExprState.Done;
    const v = this.val(def, s, myImports);
    def.value = v;
    this.myImports = v;
  }

  private evaluateImport(myImports: Map<string, Val>, decl: ImportDecl, errorAt?: Expr): void {
    const name = decl.environment.value;
    const merge = decl.rotateOnly?.value ? false : (decl.merge?.value ?? true);
    const rotateOnly = decl.rotateOnly?.value ?? false;
    if (rotateOnly && decl.merge?.value) {
      this.diags.push(error('rotateOnly: true implies merge: false', decl.syntax.range, decl.syntax.path));
    }
    const rootEnv = this.shared.imports.size === 1;
    const at = errorAt ?? decl.environment;

    let val: Val | undefined;
    const imported = this.shared.imports.get(name);
    if (imported) {
      if (imported.evaluating) {
        const node = errorAt?.syntax ?? decl.syntax;
        this.diags.push(error(`cyclic import of ${name}`, node.range, node.path));
        return;
      }
      val = imported.value;
    } else if (rotateOnly && !this.shared.rotating && !(this.shared.validating && rootEnv)) {
      val = this.unknownVal(this.expr('', { k: 'missing' }, always, undefined), always);
    } else {
      if (this.shared.imports.size >= MAX_ENVIRONMENTS) {
        this.exprError(at, `evaluation exceeds the limit of ${MAX_ENVIRONMENTS} environments`);
        return;
      }
      const loaded = this.shared.environments.get(name) ?? {
        failure: { kind: 'not-found', message: `environment "${name}" not found` },
      };
      if (loaded.failure) {
        this.shared.failures.push({ ref: name, failure: loaded.failure });
        this.exprError(at, loaded.failure.message);
        return;
      }
      this.diags.push(...loaded.diagnostics);
      const imp = new Evaluation({ ...this.shared, rotating: false }, name, loaded.decl, loaded.decrypter);
      val = imp.evaluate();
      this.diags.push(...imp.diags);
      const entry = this.shared.imports.get(name);
      if (entry) entry.value = val;
    }
    if (!val) return;
    myImports.set(name, val);
    if (merge) {
      // Merging mutates the merged value, so merge a copy; the first merged import is only ever read (bases are
      // not mutated by evaluation), so it is shared instead of copied.
      if (this.base) {
        val = copyVal(val, this.budget);
        val.merge(this.base);
      }
      this.base = val;
    }
  }

  /** Evaluates an expression once, memoizing the result and merging it onto its base. */
  evaluateExpr(x: EvalExpr, accept: Schema): Val {
    if (x.state === ExprState.Done) return x.value!;
    if (x.state === ExprState.Evaluating) {
      this.exprError(x.repr.node, `cyclic reference to ${x.path}`);
      return this.unknownVal(x, always);
    }
    if (this.shared.depth >= MAX_EVALUATION_DEPTH) {
      this.exprError(x.repr.node, `references are nested more than ${MAX_EVALUATION_DEPTH} levels deep`);
      return this.unknownVal(x, always);
    }
    x.state = ExprState.Evaluating;
    this.shared.depth++;
    try {
      if (x.base?.final && x.repr.k !== 'missing') {
        // fn::final: the inherited value wins and the override is reported.
        this.exprError(x.repr.node, 'cannot override final value');
        x.schema = x.base.schema;
        x.value = x.base;
        return x.base;
      }
      const val = this.evaluateRepr(x, accept);
      if (x.secret) val.secret = true;
      val.merge(x.base);
      x.schema = val.schema;
      x.value = val;
      return val;
    } finally {
      x.state = ExprState.Done;
      this.shared.depth--;
    }
  }

  private evaluateRepr(x: EvalExpr, accept: Schema): Val {
    const repr = x.repr;
    switch (repr.k) {
      case 'missing':
      case 'access':
        return this.unknownVal(x);
      case 'literal': {
        const node = repr.node;
        const v =
          node.kind === 'boolean' || node.kind === 'number' || node.kind === 'string' ? node.value : null;
        return this.val(x, x.schema, v);
      }
      case 'interpolate':
        return this.evaluateInterpolate(x, repr.parts);
      case 'symbol':
        return this.evaluatePropertyAccess(x, repr.accessors, accept);
      case 'array': {
        const items: Val[] = [];
        for (let i = 0; i < repr.elements.length; i++) {
          items.push(this.evaluateExpr(repr.elements[i]!, itemSchema(accept, i)));
        }
        return this.val(x, tupleOf(items.map((v) => v.schema)), items);
      }
      case 'object': {
        // Evaluate in key order so that diagnostics in the face of cycles are predictable.
        const keys = [...repr.properties.keys()].sort();
        const m = new Map<string, Val>();
        const schemas: Schema[] = [];
        for (const k of keys) {
          const pv = this.evaluateExpr(repr.properties.get(k)!, propertySchema(accept, k));
          m.set(k, pv);
          schemas.push(pv.schema);
        }
        return this.val(x, recordOf(keys, schemas), m);
      }
      case 'builtin':
        return this.evaluateBuiltin(x, repr);
    }
  }

  private evaluateTypedExpr(x: EvalExpr, accept: Schema): [Val, boolean] {
    const v = this.evaluateExpr(x, accept);
    return [v, validateValue(v, accept, this.diags)];
  }

  private evaluateInterpolate(x: EvalExpr, parts: InterpolationPart[]): Val {
    const v = this.val(x, x.schema);
    let s = '';
    for (const p of parts) {
      s += p.text;
      if (p.access) {
        const pv = this.evaluatePropertyAccess(x, p.access, always);
        const parts = this.stringParts(x.repr.node, pv);
        if (!parts) {
          v.unknown = true;
          break;
        }
        const [str, unknown, secret] = parts;
        v.unknown ||= unknown;
        v.secret ||= secret;
        if (!unknown) s += str;
        if (!this.checkString(x.repr.node, s)) {
          v.unknown = true;
          break;
        }
      }
    }
    v.repr = v.unknown ? '[unknown]' : s;
    return v;
  }

  private evaluatePropertyAccess(x: EvalExpr, accessors: AccessorSlot[], accept: Schema): Val {
    const resolved = this.evaluateExprAccess(x, accessors, accept);
    const v = copyVal(resolved, this.budget);
    v.def = x;
    v.final = false;
    return v;
  }

  private evaluateExprAccess(x: EvalExpr, accessors: AccessorSlot[], accept: Schema): Val {
    const node = x.repr.node;
    let receiver: EvalExpr = this.root;
    // `${}` was already reported while parsing; it refers to nothing.
    if (accessors.length === 0) return this.unknownVal(x, always);
    const [k, ok] = this.objectKey(node, accessors[0]!.accessor, false);
    if (ok && k === 'imports') {
      accessors[0]!.value = this.myImports;
      return this.evaluateValueAccess(node, this.myImports, accessors.slice(1));
    }
    if (ok && k === 'context') {
      accessors[0]!.value = this.myContext;
      return this.evaluateValueAccess(node, this.myContext, accessors.slice(1));
    }
    if (ok && k === 'environments') return this.evaluateEnvironmentReference(x, accessors, accept);

    let rest = accessors;
    while (rest.length > 0) {
      const slot = rest[0]!;
      const repr = receiver.repr;
      if (repr.k === 'array') {
        const [index, ok] = this.arrayIndex(node, slot.accessor, repr.elements.length);
        if (!ok) return this.invalidPropertyAccess(x, rest);
        receiver = repr.elements[index]!;
      } else if (repr.k === 'object') {
        const [key, ok] = this.objectKey(node, slot.accessor, true);
        if (!ok) return this.invalidPropertyAccess(x, rest);
        const prop = repr.properties.get(key);
        if (!prop) {
          if (receiver.base?.isObject()) return this.evaluateValueAccess(node, receiver.base, rest);
          this.accessorError(node, slot.accessor, `unknown property "${key}"`);
          return this.invalidPropertyAccess(x, rest);
        }
        receiver = prop;
      } else if (repr.k === 'builtin' && repr.node.fn === 'secret' && repr.args.has('plaintext')) {
        // Plaintext secrets are transparent to accessors.
        receiver = repr.args.get('plaintext')!;
        continue;
      } else {
        return this.evaluateValueAccess(node, this.evaluateExpr(receiver, always), rest);
      }
      const synthesized = this.val(receiver, receiver.schema);
      if (receiver.base) synthesized.base = receiver.base;
      slot.value = synthesized;
      rest = rest.slice(1);
    }
    return this.evaluateExpr(receiver, always);
  }

  /** `${environments.<project>.<env>...}`: an implicit, unmerged import. */
  private evaluateEnvironmentReference(x: EvalExpr, accessors: AccessorSlot[], accept: Schema): Val {
    const node = x.repr.node;
    if (accessors.length < 3) return this.invalidPropertyAccess(x, accessors);
    const [project, pok] = this.objectKey(node, accessors[1]!.accessor, true);
    const [envName, eok] = this.objectKey(node, accessors[2]!.accessor, true);
    if (!pok || !eok) return this.invalidPropertyAccess(x, accessors);
    const qualified = `${project}/${envName}`;
    const inline = new Map<string, Val>();
    const environment: StringExpr = { kind: 'string', value: qualified };
    const rotateOnly = typeof accept === 'object' && accept.rotateOnly === true;
    this.evaluateImport(
      inline,
      {
        syntax: node?.syntax ?? { kind: 'null', path: '' },
        environment,
        merge: { kind: 'boolean', value: false },
        rotateOnly: { kind: 'boolean', value: rotateOnly },
      },
      node,
    );
    const imported = inline.get(qualified);
    if (!imported) return this.invalidPropertyAccess(x, accessors);
    const envs = this.val(x, record({ [envName]: imported.schema }), new Map([[envName, imported]]));
    const projects = this.val(x, record({ [project]: envs.schema }), new Map([[project, envs]]));
    const reference = this.val(
      x,
      record({ environments: projects.schema }),
      new Map([['environments', projects]]),
    );
    return this.evaluateValueAccess(node, reference, accessors);
  }

  private evaluateValueAccess(node: Expr | undefined, receiver: Val, accessors: AccessorSlot[]): Val {
    let rest = accessors;
    while (rest.length > 0) {
      const slot = rest[0]!;
      if (receiver.unknown) return this.evaluateUnknownAccess(node, receiver.schema, rest, receiver.def);
      const r = receiver.repr;
      if (Array.isArray(r)) {
        const [index, ok] = this.arrayIndex(node, slot.accessor, r.length);
        if (!ok) return this.invalidPropertyAccess(receiver.def, rest, node);
        receiver = r[index]!;
      } else if (r instanceof Map) {
        const [key, ok] = this.objectKey(node, slot.accessor, true);
        if (!ok) return this.invalidPropertyAccess(receiver.def, rest, node);
        const prop = r.get(key);
        if (!prop) {
          if (receiver.base?.isObject()) return this.evaluateValueAccess(node, receiver.base, rest);
          this.accessorError(node, slot.accessor, `unknown property "${key}"`);
          return this.invalidPropertyAccess(receiver.def, rest, node);
        }
        receiver = prop;
      } else {
        this.accessorError(node, slot.accessor, 'receiver must be an array or an object');
        return this.invalidPropertyAccess(receiver.def, rest, node);
      }
      slot.value = receiver;
      rest = rest.slice(1);
    }
    return receiver;
  }

  private evaluateUnknownAccess(
    node: Expr | undefined,
    schema: Schema,
    accessors: AccessorSlot[],
    owner: EvalExpr,
  ): Val {
    let val: Val | undefined;
    for (const slot of accessors) {
      if (schema !== true) {
        const type = typeof schema === 'object' ? schema.type : undefined;
        if (type === 'array' && typeof schema === 'object') {
          const n = schema.items === false ? (schema.prefixItems?.length ?? 0) : -1;
          const [index, ok] = this.arrayIndex(node, slot.accessor, n);
          if (!ok) return this.invalidPropertyAccess(owner, accessors, node);
          schema = itemSchema(schema, index);
        } else if (type === 'object') {
          const [key, ok] = this.objectKey(node, slot.accessor, true);
          if (!ok) return this.invalidPropertyAccess(owner, accessors, node);
          schema = propertySchema(schema, key);
        } else {
          this.accessorError(node, slot.accessor, 'receiver must be an array or an object');
          return this.invalidPropertyAccess(owner, accessors, node);
        }
      }
      const def = this.expr('', node ? { k: 'literal', node } : { k: 'missing' }, schema, undefined);
      def.state = ExprState.Done;
      val = this.unknownVal(def, schema);
      slot.value = val;
    }
    return val ?? this.unknownVal(owner, always);
  }

  /** Resolves each remaining accessor to an unknown value (after an error). */
  private invalidPropertyAccess(
    owner: EvalExpr,
    accessors: AccessorSlot[],
    node: Expr | undefined = owner.repr.node,
  ): Val {
    let last: Val | undefined;
    for (const slot of accessors) {
      const def = this.expr('', node ? { k: 'literal', node } : { k: 'missing' }, always, undefined);
      def.state = ExprState.Done;
      last = this.unknownVal(def, always);
      slot.value = last;
    }
    return last ?? this.unknownVal(owner, always);
  }

  private arrayIndex(node: Expr | undefined, accessor: PropertyAccessor, len: number): [number, boolean] {
    if (accessor.kind !== 'subscript' || typeof accessor.index !== 'number') {
      this.accessorError(node, accessor, 'cannot access an array element using a property name');
      return [0, false];
    }
    const index = accessor.index;
    if (index < 0) {
      this.accessorError(node, accessor, 'array indices must not be negative');
      return [0, false];
    }
    if (len >= 0 && index >= len) {
      this.accessorError(node, accessor, `array index ${index} out-of-bounds for array of length ${len}`);
      return [0, false];
    }
    return [index, true];
  }

  private objectKey(node: Expr | undefined, accessor: PropertyAccessor, must: boolean): [string, boolean] {
    if (accessor.kind === 'name') return [accessor.name, true];
    if (typeof accessor.index === 'string') return [accessor.index, true];
    if (must) this.accessorError(node, accessor, 'cannot access an object property using an integer index');
    return ['', false];
  }

  private providerContext(): ProviderContext {
    return {
      rootEnvironment: this.shared.rootName,
      currentEnvironment: this.name,
      context: this.shared.context,
    };
  }

  private evaluateBuiltin(x: EvalExpr, repr: Extract<Repr, { k: 'builtin' }>): Val {
    const node = repr.node;
    const arg = (role: string) => repr.args.get(role)!;
    switch (node.fn) {
      case 'secret':
        return this.evaluateSecret(x, repr);
      case 'open':
        return this.evaluateOpen(x, repr);
      case 'rotate':
        return this.evaluateRotate(x, repr);
      case 'final': {
        const inner = this.evaluateExpr(arg('value'), always);
        const v = copyVal(inner, this.budget);
        v.def = x;
        v.final = true;
        return v;
      }
      case 'join': {
        const v = this.val(x, x.schema);
        const [delim, dok] = this.evaluateTypedExpr(arg('delimiter'), stringSchema());
        const [vs, vok] = this.evaluateTypedExpr(arg('values'), arrayOf(stringSchema()));
        if (!dok || !vok) return this.unknown(v);
        v.combine(delim, vs);
        if (!v.unknown) {
          const items = (vs.repr as Val[]).map((e) => e.repr as string);
          const d = delim.repr as string;
          const total = items.reduce((n, i) => n + i.length + d.length, 0);
          if (total > MAX_STRING_LENGTH) {
            this.exprError(node, `string exceeds the limit of ${MAX_STRING_LENGTH} characters`);
            return this.unknown(v);
          }
          v.repr = items.join(d);
        }
        return v;
      }
      case 'split': {
        const v = this.val(x, x.schema);
        const [delim, dok] = this.evaluateTypedExpr(arg('delimiter'), stringSchema());
        const [str, sok] = this.evaluateTypedExpr(arg('string'), stringSchema());
        if (!dok || !sok) return this.unknown(v);
        v.combine(delim, str);
        if (!v.unknown) {
          const parts = goSplit(str.repr as string, delim.repr as string);
          v.repr = parts.map((p) => {
            const e = this.val(x, constSchema('string', p), p);
            e.secret = v.secret;
            return e;
          });
          v.schema = tupleOf((v.repr as Val[]).map((e) => e.schema));
        }
        return v;
      }
      case 'concat': {
        const v = this.val(x, x.schema);
        const [arrays, ok] = this.evaluateTypedExpr(arg('arrays'), arrayOf(arrayOf(always)));
        if (!ok) return this.unknown(v);
        v.combine(arrays);
        if (!v.unknown) {
          const items: Val[] = [];
          for (const a of arrays.repr as Val[])
            for (const e of a.repr as Val[]) items.push(copyVal(e, this.budget));
          v.repr = items;
          v.schema = tupleOf(items.map((e) => e.schema));
        }
        return v;
      }
      case 'fromBase64': {
        const v = this.val(x, x.schema);
        const [str, ok] = this.evaluateTypedExpr(arg('value'), stringSchema());
        if (!ok) return this.unknown(v);
        v.combine(str);
        if (!v.unknown) {
          try {
            v.repr = textDecoder.decode(decodeBase64(str.repr as string));
          } catch (e) {
            this.exprError(node, `decoding base64 string: ${(e as Error).message}`);
            return this.unknown(v);
          }
        }
        return v;
      }
      case 'toBase64': {
        const v = this.val(x, x.schema);
        const [str, ok] = this.evaluateTypedExpr(arg('value'), stringSchema());
        if (!ok) return this.unknown(v);
        v.combine(str);
        if (!v.unknown) {
          const s = encodeBase64(textEncoder.encode(str.repr as string));
          if (!this.checkString(node, s)) return this.unknown(v);
          v.repr = s;
        }
        return v;
      }
      case 'fromJSON': {
        const v = this.val(x, x.schema);
        const [str, ok] = this.evaluateTypedExpr(arg('value'), stringSchema());
        if (!ok) return this.unknown(v);
        v.combine(str);
        if (v.unknown) return v;
        let parsed: JSONValue;
        try {
          parsed = JSON.parse(str.repr as string) as JSONValue;
        } catch (e) {
          this.exprError(node, `decoding JSON string: ${(e as Error).message}`);
          return this.unknown(v);
        }
        return unexport(fromJSON(parsed, v.secret), x, this.budget);
      }
      case 'toJSON': {
        const v = this.val(x, x.schema);
        const value = this.evaluateExpr(arg('value'), always);
        v.combine(value);
        if (!v.unknown) {
          try {
            v.repr = goJSON(toPlain(value), MAX_STRING_LENGTH);
          } catch {
            this.exprError(node, `string exceeds the limit of ${MAX_STRING_LENGTH} characters`);
            return this.unknown(v);
          }
        }
        return v;
      }
      case 'toString': {
        const v = this.val(x, x.schema);
        const value = this.evaluateExpr(arg('value'), always);
        const parts = this.stringParts(node, value);
        if (!parts) return this.unknown(v);
        const [s, unknown, secret] = parts;
        v.unknown = unknown;
        v.secret = secret;
        if (!unknown) {
          if (!this.checkString(node, s)) return this.unknown(v);
          v.repr = s;
        }
        return v;
      }
      case 'validate': {
        const v = this.val(x, x.schema);
        const schema = this.evaluateExpr(arg('schema'), always);
        const value = this.evaluateExpr(arg('value'), always);
        if (schema.containsUnknowns() || value.containsUnknowns()) {
          const u = copyVal(value, this.budget);
          u.def = x;
          u.unknown = true;
          return u;
        }
        const check = jsonSchemaValidator(toPlain(schema));
        if ('error' in check) {
          this.exprError(arg('schema').repr.node ?? node, `invalid schema: ${check.error}`);
          return this.unknown(v);
        }
        const errors = check.validate(toPlain(value));
        if (errors.length > 0) {
          for (const e of errors) this.exprError(arg('value').repr.node ?? node, e);
          return this.unknown(v);
        }
        const out = copyVal(value, this.budget);
        out.def = x;
        return out;
      }
    }
  }

  private unknown(v: Val): Val {
    v.unknown = true;
    return v;
  }

  private evaluateSecret(x: EvalExpr, repr: Extract<Repr, { k: 'builtin' }>): Val {
    const plaintext = repr.args.get('plaintext');
    if (plaintext) return this.evaluateExpr(plaintext, stringSchema());
    const v = this.val(x, x.schema);
    v.secret = true;
    const node = repr.node;
    const text = node.fn === 'secret' ? (node.ciphertext?.value ?? '') : '';
    try {
      decodeCiphertext(text); // the envelope was opened before evaluation; this only reports a bad one
    } catch (e) {
      this.exprError(node, `invalid ciphertext: ${(e as Error).message}`);
      return this.unknown(v);
    }
    if (this.shared.validating && !this.shared.showSecrets) return this.unknown(v);
    const decrypted = this.shared.plaintexts.get(plaintextKey(this.name, text));
    if (!decrypted) {
      this.exprError(node, 'decrypting: no decrypter is configured');
      return this.unknown(v);
    }
    if ('error' in decrypted) {
      this.exprError(node, `decrypting: ${decrypted.error}`);
      return this.unknown(v);
    }
    v.repr = decrypted.plaintext;
    return v;
  }

  private evaluateOpen(x: EvalExpr, repr: Extract<Repr, { k: 'builtin' }>): Val {
    const node = repr.node;
    if (node.fn !== 'open' || !node.provider) return this.unknownVal(x, always);
    const name = node.provider.value;
    const provider = this.shared.providers?.provider(name);
    let inputSchema: Schema = always;
    if (!provider) this.exprError(node, `unknown provider "${name}"`);
    else {
      inputSchema = provider.inputSchema;
      x.schema = provider.outputSchema;
    }
    repr.inputSchema = inputSchema;
    const v = this.val(x, x.schema);
    const [inputs, ok] = this.evaluateTypedExpr(repr.args.get('inputs')!, inputSchema);
    if (!ok || inputs.containsUnknowns() || this.shared.validating || !provider) return this.unknown(v);
    if (!(inputs.repr instanceof Map)) {
      this.exprError(repr.args.get('inputs')!.repr.node ?? node, 'provider inputs must be an object');
      return this.unknown(v);
    }
    const args = exportInputs(inputs);
    const ctx = this.providerContext();
    return this.callResult(x, node, args, () => provider.open(args, ctx).then((output) => ({ output })));
  }

  /**
   * The result of a provider or rotator call made between passes, or — the first time the call is seen — an
   * unknown value while the call is queued for the next pass.
   */
  private callResult(
    x: EvalExpr,
    node: BuiltinExpr,
    args: { [key: string]: ProviderValue },
    run: () => Promise<CallResult>,
  ): Val {
    const key = JSON.stringify(args);
    const result = this.shared.calls.get(node)?.get(key);
    if (!result) {
      if (!this.shared.pending.some((p) => p.node === node && p.key === key)) {
        this.shared.pending.push({
          node,
          key,
          // Injected code may also throw synchronously.
          run: () =>
            Promise.resolve()
              .then(run)
              .catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) })),
        });
      }
      return this.unknownVal(x, x.schema);
    }
    if ('error' in result) {
      this.exprError(node, result.error);
      return this.unknownVal(x, x.schema);
    }
    if (result.patch) this.shared.patches.push(result.patch);
    return unexport(result.output, x, this.budget);
  }

  private evaluateRotate(x: EvalExpr, repr: Extract<Repr, { k: 'builtin' }>): Val {
    const node = repr.node;
    if (node.fn !== 'rotate' || !node.provider) return this.unknownVal(x, always);
    const name = node.provider.value;
    const rotator = this.shared.providers?.rotator?.(name);
    let inputSchema: Schema = always;
    let stateSchema: Schema = always;
    if (!rotator) this.exprError(node, `unknown rotator "${name}"`);
    else {
      inputSchema = rotator.inputSchema;
      stateSchema = { oneOf: [rotator.stateSchema, nullSchema()] };
      x.schema = rotator.outputSchema;
    }
    repr.inputSchema = inputSchema;
    repr.stateSchema = stateSchema;
    const v = this.val(x, x.schema);
    const [inputs, iok] = this.evaluateTypedExpr(repr.args.get('inputs')!, inputSchema);
    const [state, sok] = this.evaluateTypedExpr(repr.args.get('state')!, stateSchema);
    if (
      !iok ||
      !sok ||
      inputs.containsUnknowns() ||
      state.containsUnknowns() ||
      this.shared.validating ||
      !rotator
    ) {
      return this.unknown(v);
    }
    if (!(inputs.repr instanceof Map)) {
      this.exprError(repr.args.get('inputs')!.repr.node ?? node, 'rotator inputs must be an object');
      return this.unknown(v);
    }
    const ctx = this.providerContext();
    const args = exportInputs(inputs);
    const stateIn = state.repr instanceof Map ? exportInputs(state) : undefined;
    const docPath = node.syntax?.path ?? '';
    const rotate =
      this.shared.rotating && (this.shared.rotatePaths.size === 0 || this.shared.rotatePaths.has(docPath));
    return this.callResult(
      x,
      node,
      { inputs: { value: args }, state: { value: stateIn ?? null } },
      async () => {
        let current = stateIn;
        let patch: RotationPatch | undefined;
        if (rotate) {
          let newState: ProviderValue;
          try {
            newState = await rotator.rotate(args, current, ctx);
          } catch (e) {
            return { error: `rotate: ${e instanceof Error ? e.message : String(e)}` };
          }
          patch = { docPath: `${joinKey(docPath, node.name.value)}.state`, replacement: newState };
          const r = newState.value;
          current = r !== null && typeof r === 'object' && !Array.isArray(r) ? r : undefined;
        }
        const output = await rotator.open(args, current, ctx);
        return patch ? { output, patch } : { output };
      },
    );
  }
}

/** Go's strings.Split. */
function goSplit(s: string, sep: string): string[] {
  if (sep === '') return [...s];
  return s.split(sep);
}

/** Plain JSON of a value, secrets revealed (builtins operate on plaintext; secretness is tracked separately). */
export function toPlain(v: Val): JSONValue {
  const r = v.repr;
  if (Array.isArray(r)) return r.map(toPlain);
  if (r instanceof Map) {
    const o: { [key: string]: JSONValue } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
    for (const k of v.keys()) o[k] = toPlain(v.property(k)!);
    return o;
  }
  return r;
}

function exportInputs(v: Val): { [key: string]: ProviderValue } {
  const out: { [key: string]: ProviderValue } = Object.create(null); // user keys: "__proto__" must stay an ordinary key
  for (const k of v.keys()) out[k] = toProviderValue(v.property(k)!);
  return out;
}

function toProviderValue(v: Val): ProviderValue {
  const r = v.repr;
  let value: ProviderValue['value'];
  if (Array.isArray(r)) value = r.map(toProviderValue);
  else if (r instanceof Map) value = exportInputs(v);
  else value = r;
  const out: ProviderValue = Object.create(null); // user keys: "__proto__" must stay an ordinary key
  if (value !== null) out.value = value;
  if (v.secret) out.secret = true;
  if (v.unknown) out.unknown = true;
  return out;
}

export { mergedSchema };
