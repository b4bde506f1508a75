// Hard limits that keep evaluation bounded in time and memory on hostile input. Each is checked where the
// corresponding resource is consumed and reported as a diagnostic, never thrown.

/** Largest environment definition accepted, in bytes. ESC definitions are hand-written; 1 MiB is far beyond that. */
export const MAX_DEFINITION_BYTES = 1024 * 1024;

/** Deepest nesting of YAML collections (and of `[`/`{` in flow style) accepted in one definition. */
export const MAX_NESTING_DEPTH = 64;

/** Most YAML nodes (scalars, sequences, mappings) accepted in one definition. */
export const MAX_SYNTAX_NODES = 200_000;

/** Most environments that one evaluation may load through imports and `environments.*` references. */
export const MAX_ENVIRONMENTS = 256;

/**
 * Most value nodes one evaluation may materialize. References copy values, so a chain of references that each
 * repeat the previous one ("billion laughs" through `${...}`) would otherwise grow exponentially.
 */
export const MAX_VALUE_NODES = 1_000_000;

/** Longest string one evaluation may build (interpolation, fn::join, fn::toJSON, fn::toString, ...), in UTF-16 units. */
export const MAX_STRING_LENGTH = 4 * 1024 * 1024;

/** Longest length accepted by the `random` provider. */
export const MAX_RANDOM_LENGTH = 4096;

/** Total source text (UTF-16 units) of parsed definitions kept for reuse across evaluations. */
export const PARSE_CACHE_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Most evaluation passes spent resolving provider calls: a call whose inputs come from another call's output is
 * made one pass later, so this bounds chains of `fn::open` feeding `fn::open`.
 */
export const MAX_PROVIDER_ROUNDS = 16;

/**
 * Deepest chain of expressions evaluated inside one another (a reference to a reference to ...). Keeps evaluation
 * off the end of the stack; ESC definitions nest a handful of levels.
 */
export const MAX_EVALUATION_DEPTH = 500;
