import { hash, randomBytes } from 'node:crypto';

/** What a token stands for. Sessions are short-lived bearer tokens of the same machinery, made by signing in. */
export const TOKEN_KINDS = ['personal', 'team', 'organization', 'session'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/**
 * Token text is `<prefix><43 characters of base64url>`: 256 random bits behind a prefix that names the kind, so a
 * leaked token is recognizable (secret scanners, logs) and nobody mistakes one kind for another. Pulumi's CLI
 * accepts any token text, so the prefix costs nothing in compatibility.
 */
export const TOKEN_PREFIXES: Readonly<Record<TokenKind, string>> = {
  personal: 'vgl_pat_',
  team: 'vgl_team_',
  organization: 'vgl_org_',
  session: 'vgl_ses_',
};
/** 256 bits: guessing is hopeless, so a plain SHA-256 (no salt, no stretching) is enough to store it. */
export const TOKEN_RANDOM_BYTES = 32;
/** Token text is attacker-controlled: anything longer than this is refused before hashing or querying. */
export const MAX_TOKEN_LENGTH = 256;
/**
 * A token an operator supplies (`VIGIL_BOOTSTRAP_TOKEN`) must be at least this long (no `admin`, no `secret`);
 * the same floor as the configuration check.
 */
export const MIN_SUPPLIED_TOKEN_LENGTH = 20;

/** Printable ASCII without spaces: what an `Authorization: token …` header can carry unambiguously. */
const TOKEN_TEXT = /^[\x21-\x7e]+$/;

export function generateTokenText(kind: TokenKind): string {
  return TOKEN_PREFIXES[kind] + randomBytes(TOKEN_RANDOM_BYTES).toString('base64url');
}

/** Whether `text` could be a token at all (shape only; says nothing about whether it exists). */
export function isWellFormedTokenText(text: unknown): text is string {
  return typeof text === 'string' && text.length <= MAX_TOKEN_LENGTH && TOKEN_TEXT.test(text);
}

/**
 * SHA-256(token text as UTF-8): the only thing stored, and the lookup key. One-shot `hash` (every authenticated
 * request computes one): no Hash object for the garbage collector to track.
 */
export function tokenHash(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}
