// C2SP signed notes (c2sp.org/signed-note), compatible byte for byte with Go's
// golang.org/x/mod/sumdb/note, Ed25519 only.
//
//   <text ending in "\n">           the signed message (UTF-8, no control characters but "\n")
//   "\n"                            a blank line: the last one in the note separates the signatures
//   "— <name> <base64(keyId || sig)>\n"   one or more signature lines (U+2014 EM DASH, space)
//
// key ID = SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4], big-endian uint32.
// Verifier key text: "<name>+<8 hex key ID>+<base64(0x01 || public key)>".
// Signer key text:   "PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>" (the prefix makes a
// private key impossible to mistake for a public one).
//
// Notes come from the network: everything in them is attacker-controlled. Parsing is strict and bounded.

import { ed25519PublicKey, ed25519Sign, ed25519Verify, randomBytes, sha256 } from '#crypto';
import {
  concatBytes,
  decodeBase64,
  decodeUtf8,
  encodeBase64,
  hasControlExceptNewline,
  isWellFormed,
  utf8,
} from './bytes.js';
import { LedgerError } from './errors.js';

/** Largest note accepted, in UTF-8 bytes: a checkpoint with many post-quantum cosignatures (~5 kB each) fits. */
export const MAX_NOTE_SIZE = 256 * 1024;

/** Most signature lines accepted in a note, as in Go (C2SP requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

/** Signature type byte of Ed25519 keys (C2SP signed-note §Signature types). */
export const ALG_ED25519 = 0x01;

const SIG_PREFIX = '\u2014 '; // "— "
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';

/** Verifies signatures of one key. */
export interface NoteVerifier {
  readonly name: string;
  /** Key ID, uint32. */
  readonly keyId: number;
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

/** Signs with one key. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The verifier key text matching this signer, to publish. */
  readonly verifierKey: string;
  sign(msg: Uint8Array): Uint8Array;
}

/** A signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** base64(keyId || signature), as on the line. */
  readonly base64: string;
}

/** An opened note: its text and which signatures were verified. */
export interface Note {
  readonly text: string;
  /** Signatures by known keys, all verified. */
  readonly sigs: readonly NoteSignature[];
  /** Signatures by unknown keys, not verified (C2SP: ignored). */
  readonly unverifiedSigs: readonly NoteSignature[];
}

// Go's unicode.IsSpace: the Latin-1 spaces plus the White_Space property (not U+FEFF, unlike JS \s).
const UNICODE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Key name rule of C2SP and Go: non-empty, well-formed, no Unicode spaces, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && isWellFormed(name) && !UNICODE_SPACE.test(name) && !name.includes('+');
}

/** Key ID: first 4 bytes of SHA-256(name || "\n" || encodedKey), big-endian; encodedKey = alg || key. */
export function computeKeyId(name: string, encodedKey: Uint8Array): number {
  const h = sha256(concatBytes(utf8(name), Uint8Array.of(0x0a), encodedKey));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

function hex8(id: number): string {
  return id.toString(16).padStart(8, '0');
}

/** "name+8hex", how keys are named in messages and evidence. */
export function keyLabel(name: string, keyId: number): string {
  return `${name}+${hex8(id32(keyId))}`;
}

function id32(n: number): number {
  return n >>> 0;
}

function malformedKey(reason: string): LedgerError<'malformed-key'> {
  // Never echo the key text: it may be a private key.
  return new LedgerError('malformed-key', `malformed key (${reason})`, { reason });
}

// Go's chop: text before and after the first sep; after is '' when sep is absent.
function chop(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

function parseKeyFields(text: string): { name: string; keyId: number; key: Uint8Array } {
  const [name, rest] = chop(text, '+');
  const [hash16, key64] = chop(rest, '+');
  const key = decodeBase64(key64);
  if (!/^[0-9a-fA-F]{8}$/.test(hash16) || key === undefined || !isValidKeyName(name) || key.length === 0) {
    throw malformedKey('syntax');
  }
  if (key[0] !== ALG_ED25519) throw malformedKey('unknown-algorithm');
  if (key.length !== 33) throw malformedKey('key-length');
  return { name, keyId: parseInt(hash16, 16), key: key.subarray(1) };
}

class Ed25519Verifier implements NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  readonly #publicKey: Uint8Array;

  constructor(name: string, keyId: number, publicKey: Uint8Array) {
    this.name = name;
    this.keyId = keyId;
    this.#publicKey = publicKey;
  }

  verify(msg: Uint8Array, sig: Uint8Array): boolean {
    return ed25519Verify(this.#publicKey, msg, sig);
  }
}

class Ed25519Signer implements NoteSigner {
  readonly name: string;
  readonly keyId: number;
  readonly verifierKey: string;
  readonly #seed: Uint8Array;

  constructor(name: string, seed: Uint8Array) {
    const pub = concatBytes(Uint8Array.of(ALG_ED25519), ed25519PublicKey(seed));
    this.name = name;
    this.keyId = computeKeyId(name, pub);
    this.verifierKey = `${name}+${hex8(this.keyId)}+${encodeBase64(pub)}`;
    this.#seed = seed;
  }

  sign(msg: Uint8Array): Uint8Array {
    return ed25519Sign(this.#seed, msg);
  }
}

/** Parses verifier key text "<name>+<hex id>+<base64(0x01 || pubkey)>", checking the key ID (as Go's NewVerifier). */
export function parseVerifierKey(text: string): NoteVerifier {
  const { name, keyId, key } = parseKeyFields(text);
  if (keyId !== computeKeyId(name, concatBytes(Uint8Array.of(ALG_ED25519), key)))
    throw malformedKey('key-id-mismatch');
  return new Ed25519Verifier(name, keyId, key.slice());
}

/** Parses signer key text "PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>" (as Go's NewSigner). */
export function parseSignerKey(text: string): NoteSigner {
  if (!text.startsWith(PRIVATE_KEY_PREFIX)) throw malformedKey('syntax');
  const { name, keyId, key } = parseKeyFields(text.slice(PRIVATE_KEY_PREFIX.length));
  const signer = new Ed25519Signer(name, key.slice());
  if (signer.keyId !== keyId) throw malformedKey('key-id-mismatch');
  return signer;
}

/** Generates an Ed25519 key pair for a key name: the private key text and the verifier key text. */
export function generateSignerKey(name: string): { privateKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw malformedKey('name');
  const seed = randomBytes(32);
  const signer = new Ed25519Signer(name, seed);
  const privateKey = `${PRIVATE_KEY_PREFIX}${name}+${hex8(signer.keyId)}+${encodeBase64(concatBytes(Uint8Array.of(ALG_ED25519), seed))}`;
  return { privateKey, verifierKey: signer.verifierKey };
}

/** Verifier key text for a raw 32-byte Ed25519 public key (Go's NewEd25519VerifierKey). */
export function ed25519VerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw malformedKey('name');
  if (publicKey.length !== 32) throw malformedKey('key-length');
  const pub = concatBytes(Uint8Array.of(ALG_ED25519), publicKey);
  return `${name}+${hex8(computeKeyId(name, pub))}+${encodeBase64(pub)}`;
}

function malformedNote(reason: string): LedgerError<'malformed-note'> {
  return new LedgerError('malformed-note', `malformed note (${reason})`, { reason });
}

/** Checks the character rules of C2SP signed-note §Format on a decoded note or text. */
function checkNoteChars(s: string): void {
  if (!isWellFormed(s)) throw malformedNote('invalid UTF-8');
  if (hasControlExceptNewline(s)) throw malformedNote('control character');
}

function decodeNote(msg: string | Uint8Array): string {
  if (typeof msg === 'string') {
    // UTF-8 is never shorter than UTF-16 in code units: a cheap bound before encoding.
    if (msg.length > MAX_NOTE_SIZE || utf8(msg).length > MAX_NOTE_SIZE) throw malformedNote('too large');
    checkNoteChars(msg);
    return msg;
  }
  if (msg.length > MAX_NOTE_SIZE) throw malformedNote('too large');
  const s = decodeUtf8(msg);
  if (s === undefined) throw malformedNote('invalid UTF-8');
  checkNoteChars(s);
  return s;
}

/** A note to sign: text, plus signatures already on it (kept unless a signer replaces them). */
export interface NoteToSign {
  readonly text: string;
  readonly sigs?: readonly NoteSignature[];
  readonly unverifiedSigs?: readonly NoteSignature[];
}

function signatureLine(name: string, b64: string): string {
  return `${SIG_PREFIX}${name} ${b64}\n`;
}

/**
 * Signs a note (Go's note.Sign). The text must end in "\n" and satisfy the signed-note character rules.
 * Existing signatures come first, minus those by a key among the signers; new signatures follow in
 * signer order.
 */
export function signNote(note: string | NoteToSign, signers: readonly NoteSigner[]): string {
  const n: NoteToSign = typeof note === 'string' ? { text: note } : note;
  if (!n.text.endsWith('\n')) throw malformedNote('text must end in a newline');
  checkNoteChars(n.text);
  const msg = utf8(n.text);
  if (msg.length > MAX_NOTE_SIZE) throw malformedNote('too large');

  let fresh = '';
  const replaced = new Set<string>();
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw malformedKey('signer name');
    replaced.add(keyLabel(s.name, s.keyId));
    const sig = s.sign(msg);
    const raw = new Uint8Array(4 + sig.length);
    new DataView(raw.buffer).setUint32(0, id32(s.keyId));
    raw.set(sig, 4);
    fresh += signatureLine(s.name, encodeBase64(raw));
  }

  let out = n.text + '\n';
  for (const sig of [...(n.sigs ?? []), ...(n.unverifiedSigs ?? [])]) {
    if (!isValidKeyName(sig.name)) throw malformedNote('signature name');
    if (replaced.has(keyLabel(sig.name, sig.keyId))) continue;
    // Double-check the key ID against the base64, as Go does.
    const raw = decodeBase64(sig.base64);
    if (raw === undefined || raw.length < 4 || new DataView(raw.buffer).getUint32(0) !== id32(sig.keyId)) {
      throw malformedNote('existing signature');
    }
    out += signatureLine(sig.name, sig.base64);
  }
  return out + fresh;
}

/**
 * Opens a signed note, verifying signatures by the given keys (Go's note.Open):
 * - signatures by unknown keys are ignored (returned as unverifiedSigs);
 * - a signature by a known key that does not verify fails the whole note (signature-invalid);
 * - at least one signature by a known key is required (unknown-key otherwise);
 * - malformed notes, more than MAX_NOTE_SIGNATURES signature lines or more than MAX_NOTE_SIZE bytes
 *   fail with malformed-note.
 * Two verifiers with the same name and key ID are ambiguous (malformed-key) when a signature uses them.
 */
export function openNote(msg: string | Uint8Array, verifiers: readonly NoteVerifier[]): Note {
  const s = decodeNote(msg);

  // The text is separated from the signatures by the last blank line.
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw malformedNote('no signature block');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw malformedNote('signature block must end in a newline');

  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    const k = keyLabel(v.name, v.keyId);
    known.set(k, [...(known.get(k) ?? []), v]);
  }

  const textBytes = utf8(text);
  const sigs: NoteSignature[] = [];
  const unverifiedSigs: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformedNote('too many signatures');
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw malformedNote('signature line');
    const body = line.slice(SIG_PREFIX.length);
    const [name, b64] = chop(body, ' ');
    const raw = decodeBase64(b64);
    if (raw === undefined || !isValidKeyName(name) || b64 === '' || raw.length < 5) {
      throw malformedNote('signature line');
    }
    const keyId = new DataView(raw.buffer, raw.byteOffset).getUint32(0);
    const label = keyLabel(name, keyId);
    const sig: NoteSignature = { name, keyId, base64: b64 };

    const candidates = known.get(label);
    if (candidates === undefined) {
      if (!seenUnverified.has(body)) {
        seenUnverified.add(body);
        unverifiedSigs.push(sig);
      }
      continue;
    }
    if (candidates.length > 1) {
      throw new LedgerError('malformed-key', `ambiguous key ${label}`, {
        key: label,
        reason: 'ambiguous-key',
      });
    }
    if (seen.has(label)) continue; // repeated signatures by one key: the first one counts
    seen.add(label);
    if (!candidates[0]!.verify(textBytes, raw.subarray(4))) {
      throw new LedgerError('signature-invalid', `invalid signature for key ${label}`, { key: label });
    }
    sigs.push(sig);
  }

  if (sigs.length === 0) {
    const names = unverifiedSigs.map((u) => keyLabel(u.name, u.keyId));
    throw new LedgerError(
      'unknown-key',
      `note has no signature by a known key (signed by: ${names.join(', ')})`,
      {
        key: names[0],
        reason: 'no-known-signature',
      },
    );
  }
  return { text, sigs, unverifiedSigs };
}
