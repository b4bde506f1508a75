// Crypto primitives for browsers (and any other runtime without node:crypto): @noble/hashes and
// @noble/curves, audited pure-JS implementations. Same exports and results as crypto-node.ts.

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';

/** SHA-256 of data. */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** Ed25519 signature (RFC 8032 §5.1.6) of msg under the 32-byte seed. Deterministic. */
export function ed25519Sign(seed32: Uint8Array, msg: Uint8Array): Uint8Array {
  if (seed32.length !== 32) throw new RangeError('ed25519: seed must be 32 bytes');
  return ed25519.sign(msg, seed32);
}

/** The 32-byte Ed25519 public key of a 32-byte seed. */
export function ed25519PublicKey(seed32: Uint8Array): Uint8Array {
  if (seed32.length !== 32) throw new RangeError('ed25519: seed must be 32 bytes');
  return ed25519.getPublicKey(seed32);
}

/**
 * Whether sig64 is a valid Ed25519 signature of msg by pub32. Never throws.
 * zip215: false selects RFC 8032 strict encodings, as Go's crypto/ed25519 and OpenSSL check them.
 */
export function ed25519Verify(pub32: Uint8Array, msg: Uint8Array, sig64: Uint8Array): boolean {
  if (pub32.length !== 32 || sig64.length !== 64) return false;
  try {
    return ed25519.verify(sig64, msg, pub32, { zip215: false });
  } catch {
    return false;
  }
}

/** n cryptographically random bytes (crypto.getRandomValues). */
export function randomBytes(n: number): Uint8Array {
  return nobleRandomBytes(n);
}
