// C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed head of the log, a note whose text is
//
//   <origin>\n              non-empty: the identity of the log
//   <tree size>\n           ASCII decimal, no leading zeros ("0" for the empty tree)
//   <base64 root hash>\n    RFC 6962 MTH of the first <tree size> leaves, standard base64
//   [<extension line>\n]*   optional, opaque, non-empty
//
// Checkpoints come from the server and from files: attacker-controlled until the signature is checked,
// and parsed strictly even after (one canonical text per checkpoint).

import { decodeBase64, encodeBase64, hasControlExceptNewline, isWellFormed } from './bytes.js';
import { LedgerError } from './errors.js';
import { HASH_SIZE } from './hash.js';
import type { Hash } from './hash.js';
import { MAX_NOTE_SIZE, openNote, parseVerifierKey, signNote } from './note.js';
import type { NoteSignature, NoteSigner, NoteVerifier } from './note.js';
import { isSafeSize } from './tree.js';

/** The contents of a checkpoint. */
export interface Checkpoint {
  readonly origin: string;
  /** Number of leaves, at most 2^53 - 1. */
  readonly size: number;
  readonly root: Hash;
  /** Extension lines, without their newlines. Usually none. */
  readonly extensions?: readonly string[];
}

/** A checkpoint whose signature has been verified, with the note it came from. */
export interface SignedCheckpoint extends Checkpoint {
  readonly extensions: readonly string[];
  /** The signed note text, as received: keep it as evidence. */
  readonly signedNote: string;
  /** Verified signatures on it. */
  readonly sigs: readonly NoteSignature[];
}

// Canonical decimal: "0" or no leading zero; 16 digits bound the value before Number() sees it.
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

function malformed(reason: string): LedgerError<'malformed-checkpoint'> {
  return new LedgerError('malformed-checkpoint', `malformed checkpoint (${reason})`, { reason });
}

function checkLine(line: string, what: string): void {
  if (line === '' || line.includes('\n') || hasControlExceptNewline(line) || !isWellFormed(line)) {
    throw malformed(what);
  }
}

/** The note text of a checkpoint. */
export function formatCheckpoint(cp: Checkpoint): string {
  checkLine(cp.origin, 'origin');
  if (!isSafeSize(cp.size)) throw malformed('size');
  if (cp.root.length !== HASH_SIZE) throw malformed('root');
  const ext = cp.extensions ?? [];
  for (const line of ext) checkLine(line, 'extension line');
  return [cp.origin, String(cp.size), encodeBase64(cp.root), ...ext].join('\n') + '\n';
}

/** Parses checkpoint note text strictly: canonical size, 32-byte canonical base64 root, no empty lines. */
export function parseCheckpoint(text: string): Checkpoint & { readonly extensions: readonly string[] } {
  if (text.length > MAX_NOTE_SIZE) throw malformed('too large');
  if (!text.endsWith('\n')) throw malformed('text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('fewer than three lines');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine(origin, 'origin');
  if (!DECIMAL.test(sizeText)) throw malformed('size');
  const size = Number(sizeText);
  if (!isSafeSize(size)) throw malformed('size');
  const root = decodeBase64(rootText);
  if (root === undefined || root.length !== HASH_SIZE) throw malformed('root');
  for (const line of extensions) checkLine(line, 'extension line');
  return { origin, size, root, extensions };
}

/** Signs a checkpoint: the signed note text. */
export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), [signer]);
}

/**
 * Opens a signed checkpoint: verifies the note's signature by the verifier key (trusted input),
 * parses the text strictly and checks the origin when one is expected.
 */
export function openCheckpoint(
  signedNote: string,
  verifierKey: string | NoteVerifier,
  expectedOrigin?: string,
): SignedCheckpoint {
  const verifier = typeof verifierKey === 'string' ? parseVerifierKey(verifierKey) : verifierKey;
  const note = openNote(signedNote, [verifier]);
  const cp = parseCheckpoint(note.text);
  if (expectedOrigin !== undefined && cp.origin !== expectedOrigin) {
    throw new LedgerError(
      'origin-mismatch',
      `checkpoint origin ${JSON.stringify(cp.origin)} is not the expected one`,
      {
        origin: cp.origin,
        expectedOrigin,
        checkpoint: signedNote,
      },
    );
  }
  return { ...cp, signedNote, sigs: note.sigs };
}
