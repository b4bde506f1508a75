// Crypto primitives for Node (node:crypto, i.e. OpenSSL): the fast path for the server and the CLI.
// Same exports and results as crypto-browser.ts; the package's `#crypto` import picks one.
// This is the only file of the ledger allowed to import node:*.

import {
  createPrivateKey,
  createPublicKey,
  hash,
  randomBytes as nodeRandomBytes,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Buffer } from 'node:buffer';

/**
 * SHA-256 of data, as a plain Uint8Array of its own (not a Buffer: its slice() shares memory). The digest leaves
 * OpenSSL as a `binary` (latin1) string, one char per byte, copied into a fresh array: asking `hash` for a
 * Buffer costs a backing store per call, three times the hashing itself for a Merkle node (bench/ledger-verify.ts).
 */
export function sha256(data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'binary');
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = digest.charCodeAt(i);
  return out;
}

// DER prefixes that wrap a raw Ed25519 seed / public key (RFC 8410 §7 and §4).
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const SPKI_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

// KeyObjects are cached per key array: building one parses DER, which costs more than a signature.
// The cache keeps a copy of the bytes and is used only while the array still holds them, so a caller
// that reuses or mutates an array never gets a stale key.
interface CachedKey {
  readonly bytes: Uint8Array;
  readonly key: KeyObject;
}
const privateKeys = new WeakMap<Uint8Array, CachedKey>();
const publicKeys = new WeakMap<Uint8Array, CachedKey>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cached(cache: WeakMap<Uint8Array, CachedKey>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const hit = cache.get(raw);
  if (hit !== undefined && sameBytes(hit.bytes, raw)) return hit.key;
  const key = make();
  cache.set(raw, { bytes: raw.slice(), key });
  return key;
}

function privateKey(seed32: Uint8Array): KeyObject {
  if (seed32.length !== 32) throw new RangeError('ed25519: seed must be 32 bytes');
  return cached(privateKeys, seed32, () => {
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
    der.set(PKCS8_ED25519_PREFIX);
    der.set(seed32, PKCS8_ED25519_PREFIX.length);
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  });
}

function publicKey(pub32: Uint8Array): KeyObject {
  return cached(publicKeys, pub32, () => {
    const der = new Uint8Array(SPKI_ED25519_PREFIX.length + 32);
    der.set(SPKI_ED25519_PREFIX);
    der.set(pub32, SPKI_ED25519_PREFIX.length);
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  });
}

/** Ed25519 signature (RFC 8032 §5.1.6) of msg under the 32-byte seed. Deterministic. */
export function ed25519Sign(seed32: Uint8Array, msg: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, msg, privateKey(seed32)));
}

/** The 32-byte Ed25519 public key of a 32-byte seed. */
export function ed25519PublicKey(seed32: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKey(seed32)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
}

/** Whether sig64 is a valid Ed25519 signature of msg by pub32. Never throws. */
export function ed25519Verify(pub32: Uint8Array, msg: Uint8Array, sig64: Uint8Array): boolean {
  if (pub32.length !== 32 || sig64.length !== 64) return false;
  try {
    return verify(null, msg, publicKey(pub32), sig64);
  } catch {
    return false; // e.g. a public key that is not a curve point
  }
}

/** n cryptographically random bytes. */
export function randomBytes(n: number): Uint8Array {
  const b = nodeRandomBytes(n);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
