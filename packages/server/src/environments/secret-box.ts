import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

/**
 * Authenticated encryption of secrets at rest: open-session values, and (through the lead's adapter) the ESC
 * engine's `fn::secret` ciphertexts. AES-256-GCM under one 32-byte master key.
 *
 * Sealed layout (all offsets in bytes):
 *
 *     0      version  0x01
 *     1..4   key id   SHA-256("vigil secret-box key id\0" || key)[0..4]  — which master key sealed it
 *     5..16  nonce    12 random bytes (NIST SP 800-38D §8.2.2: random IVs, ≤ 2^32 messages per key)
 *     17..   ciphertext || 16-byte GCM tag
 *
 * GCM's additional data is `header (bytes 0..4) || aad`, so the version and key id are authenticated too and a
 * sealed value bound to one context (e.g. an open-session id) does not open in another.
 */
export interface SecretBox {
  /** The key id (hex) written into every sealed value: lets an operator tell which key a database needs. */
  readonly keyId: string;
  seal(plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** Throws SecretBoxError on any malformed, foreign or tampered input; never returns unauthenticated bytes. */
  open(sealed: Uint8Array, aad?: Uint8Array): Uint8Array;
}

export type SecretBoxErrorCode =
  /** Too short, or not a sealed value at all. */
  | 'malformed'
  /** A version byte this build does not know. */
  | 'unsupported-version'
  /** Sealed under another master key (the key id differs). */
  | 'unknown-key'
  /** The GCM tag does not verify: the bytes, the aad or the key are wrong. */
  | 'authentication-failed';

/** Errors never carry plaintext, key bytes or the sealed input. */
export class SecretBoxError<C extends SecretBoxErrorCode = SecretBoxErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** AES-256: the master key is exactly 32 bytes. */
export const MASTER_KEY_BYTES = 32;
/** The only sealed-value format so far. */
export const SECRET_BOX_VERSION = 1;
const KEY_ID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES;
const OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;
const EMPTY = new Uint8Array(0);

/** The key id of a 32-byte master key. Not secret: a truncated hash under a fixed label. */
export function secretBoxKeyId(key: Uint8Array | KeyObject): Uint8Array {
  const bytes = key instanceof Uint8Array ? key : key.export();
  return createHash('sha256')
    .update('vigil secret-box key id\0')
    .update(bytes)
    .digest()
    .subarray(0, KEY_ID_BYTES);
}

export function createSecretBox(masterKey: Uint8Array | KeyObject): SecretBox {
  const key = masterKey instanceof Uint8Array ? createSecretKey(masterKey) : masterKey;
  if (key.type !== 'secret' || key.symmetricKeySize !== MASTER_KEY_BYTES)
    throw new RangeError(`the secret box needs a ${MASTER_KEY_BYTES}-byte key`);
  const header = new Uint8Array(HEADER_BYTES);
  header[0] = SECRET_BOX_VERSION;
  header.set(secretBoxKeyId(key), 1);
  const keyId = Buffer.from(header.subarray(1)).toString('hex');

  return {
    keyId,
    seal(plaintext, aad = EMPTY) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.concat([header, aad]));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
    },
    open(sealed, aad = EMPTY) {
      // The sealed bytes come from storage an attacker may have written: check every field before use.
      if (!(sealed instanceof Uint8Array) || sealed.length < OVERHEAD)
        throw new SecretBoxError('malformed', 'sealed value is too short');
      if (sealed[0] !== SECRET_BOX_VERSION)
        throw new SecretBoxError('unsupported-version', `unsupported sealed-value version ${sealed[0]}`);
      const theirs = Buffer.from(sealed.subarray(1, HEADER_BYTES)).toString('hex');
      if (theirs !== keyId)
        throw new SecretBoxError(
          'unknown-key',
          `sealed under key ${theirs}, but this server's key is ${keyId}`,
        );
      const nonce = sealed.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
      const tag = sealed.subarray(sealed.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.concat([header, aad]));
      decipher.setAuthTag(tag);
      const plaintext = decipher.update(
        sealed.subarray(HEADER_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES),
      );
      try {
        return Buffer.concat([plaintext, decipher.final()]);
      } catch {
        // Unauthenticated plaintext must not escape: wipe what update() produced.
        plaintext.fill(0);
        throw new SecretBoxError('authentication-failed', 'sealed value failed authentication');
      }
    },
  };
}
