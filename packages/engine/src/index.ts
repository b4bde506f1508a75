// @vigil/engine: the ESC environment language, pure (no I/O of its own). See README.md.

export type { Diagnostic, Pos, Range, Severity } from './diagnostics.js';
export { hasErrors, sortDiagnostics } from './diagnostics.js';
export * from './limits.js';

export type { Value, ValueRepr, Trace, ProviderValue, JSONValue } from './value.js';
export {
  toJSON,
  redact,
  reveal,
  fromJSON,
  propertiesToJSON,
  valueAtPath,
  SECRET_PLACEHOLDER,
  UNKNOWN_PLACEHOLDER,
} from './value.js';
export type { ExprJSON, BuiltinExprJSON, Interpolation, PropertyAccessor, Accessor } from './expr.js';
export type { Schema, SchemaObject } from './eval/schema.js';

export type {
  Decrypter,
  Encrypter,
  EnvironmentLoader,
  EnvironmentRef,
  LoadFailure,
  LoadResult,
  Provider,
  ProviderContext,
  ProviderRegistry,
  Rotator,
} from './eval/interfaces.js';
export { parseEnvironmentRef } from './eval/interfaces.js';
export type { RotationPatch } from './eval/evaluator.js';

export type { Environment, EvaluateOptions, EvaluateResult, RotateResult } from './environment.js';
export { checkEnvironment, evalEnvironment, rotateEnvironment, parseDefinition } from './environment.js';
export { clearParseCache } from './parse-cache.js';

export type { SealResult } from './seal.js';
export { sealEnvironment, unsealEnvironment } from './seal.js';
export {
  encodeCiphertext,
  decodeCiphertext,
  crc32,
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
} from './crypt/envelope.js';
export { encodeBase64, decodeBase64 } from './crypt/base64.js';

export type { Projection, ProjectionOptions } from './projection/projection.js';
export {
  projectEnvironment,
  renderDotenv,
  renderShell,
  renderJSON,
  shellQuote,
  ENVIRONMENT_VARIABLES_KEY,
  FILES_KEY,
  PULUMI_CONFIG_KEY,
} from './projection/projection.js';

export { randomProvider, RANDOM_CLASSES, RANDOM_DEFAULT_LENGTH } from './providers/random.js';
