import { EnvironmentStoreError } from './errors.js';

// Names are attacker-controlled path segments. They are checked once, here, against Pulumi's rules (swagger
// `orgName`, `ProjectName`, `EnvName`), before any query sees them.

/** Organization logins: 3–40 characters, alphanumeric at both ends ([SWAGGER] `orgName`). */
const ORG_NAME = /^[a-zA-Z0-9][a-zA-Z0-9-_]{1,38}[a-zA-Z0-9]$/;
/** Project and environment names: 1–100 of `[a-zA-Z0-9-_.]`. */
const NAME = /^[a-zA-Z0-9\-_.]{1,100}$/;
/** Revision tag names: as environment names, but never starting with a digit (a digit selects a revision). */
const REVISION_TAG_NAME = /^[a-zA-Z\-_.][a-zA-Z0-9\-_.]{0,99}$/;
/** Environment tag names: Pulumi's stack-tag rule (1–40 of `[a-zA-Z0-9-_.:]`); ESC documents none. */
const ENVIRONMENT_TAG_NAME = /^[a-zA-Z0-9\-_.:]{1,40}$/;
/** Environment tag values: at most 256 characters (Pulumi's stack-tag limit). */
export const MAX_TAG_VALUE_LENGTH = 256;

/** The project an unqualified environment reference (`imports: [dev]`) lives in. */
export const DEFAULT_PROJECT = 'default';

/**
 * Environment names that would collide with routes (`/environments/{org}/yaml/open`, `…/{env}/open`).
 *
 * The swagger regexes express these as a negative *prefix* lookahead, `^(?!(\.|\.\.|open|yaml))`, and the project
 * regex adds `default`: read literally they forbid `openai`, `yaml-configs`, `.hidden`, and every project starting
 * with `default` — including the implicit project `default` itself, which every unqualified import names. That is a
 * spec bug; we refuse only the exact reserved names.
 */
const RESERVED_ENVIRONMENT_NAMES = new Set(['.', '..', 'open', 'yaml']);
const RESERVED_PROJECT_NAMES = new Set(['.', '..']);

function invalid(kind: string, name: string): never {
  // Names are not secret; quoting them helps the caller fix the request. JSON.stringify keeps control bytes inert.
  throw new EnvironmentStoreError(
    'invalid-name',
    `invalid ${kind} name ${JSON.stringify(name.slice(0, 120))}`,
  );
}

export function checkOrgName(org: string): string {
  if (typeof org !== 'string' || !ORG_NAME.test(org)) invalid('organization', String(org));
  return org;
}

export function checkProjectName(project: string): string {
  if (typeof project !== 'string' || !NAME.test(project) || RESERVED_PROJECT_NAMES.has(project))
    invalid('project', String(project));
  return project;
}

export function checkEnvironmentName(name: string): string {
  if (typeof name !== 'string' || !NAME.test(name) || RESERVED_ENVIRONMENT_NAMES.has(name))
    invalid('environment', String(name));
  return name;
}

export function checkRevisionTagName(name: string): string {
  if (typeof name !== 'string' || !REVISION_TAG_NAME.test(name) || name === '.' || name === '..')
    invalid('revision tag', String(name));
  return name;
}

export function checkEnvironmentTagName(name: string): string {
  if (typeof name !== 'string' || !ENVIRONMENT_TAG_NAME.test(name)) invalid('environment tag', String(name));
  return name;
}

export function checkEnvironmentTagValue(value: string): string {
  if (typeof value !== 'string' || value.length > MAX_TAG_VALUE_LENGTH)
    throw new EnvironmentStoreError(
      'invalid-argument',
      `an environment tag value is a string of at most ${MAX_TAG_VALUE_LENGTH} characters`,
    );
  return value;
}

/** An environment's full name. */
export interface EnvironmentRef {
  readonly org: string;
  readonly project: string;
  readonly name: string;
}

export function checkEnvironmentRef(ref: EnvironmentRef): EnvironmentRef {
  checkOrgName(ref.org);
  checkProjectName(ref.project);
  checkEnvironmentName(ref.name);
  return ref;
}

/** What a `version` path segment selects: a revision number, or a tag (ESC: "begins with a digit → revision"). */
export type VersionSelector = { readonly revision: number } | { readonly tag: string };

/** The largest revision number we accept: revisions are INTEGER columns. */
const MAX_REVISION = 2 ** 31 - 1;

/**
 * Parses a `version` path segment. A segment that begins with a digit must be a canonical positive decimal
 * (`3`, not `03`, `3a` or `0`) — 'invalid-revision' otherwise; anything else names a tag.
 */
export function parseVersion(version: string): VersionSelector {
  if (/^[0-9]/.test(version)) {
    if (!/^[1-9][0-9]{0,9}$/.test(version) || Number(version) > MAX_REVISION)
      throw new EnvironmentStoreError(
        'invalid-revision',
        `invalid revision number ${JSON.stringify(version.slice(0, 20))}`,
      );
    return { revision: Number(version) };
  }
  return { tag: checkRevisionTagName(version) };
}

/** Checks a revision number given as a number (request bodies). */
export function checkRevisionNumber(revision: number): number {
  if (!Number.isSafeInteger(revision) || revision < 1 || revision > MAX_REVISION)
    throw new EnvironmentStoreError('invalid-revision', `invalid revision number ${String(revision)}`);
  return revision;
}
