// RFC 6962 §2.1 hashing with SHA-256, domain-separated so a leaf can never pose as an interior node.

import { sha256 } from '#crypto';

/** A SHA-256 digest: a Merkle tree node, a leaf hash or a root. Always HASH_SIZE bytes when valid. */
export type Hash = Uint8Array;

/** SHA-256 output size in bytes. */
export const HASH_SIZE = 32;

/** Entries up to this size are hashed through a reused buffer; larger ones get their own (rare). */
const LEAF_SCRATCH_MAX = 64 * 1024;
// 0x00 || entry for small entries: hashing a million entries must not allocate twice per entry.
let leafScratch = new Uint8Array(1024);

/** Leaf hash: SHA-256(0x00 || entry), RFC 6962 §2.1. */
export function leafHash(entry: Uint8Array): Hash {
  const n = entry.length + 1;
  let buf = leafScratch;
  if (n > buf.length) {
    buf = new Uint8Array(n);
    if (n <= LEAF_SCRATCH_MAX) leafScratch = buf;
  }
  buf[0] = 0x00;
  buf.set(entry, 1);
  return sha256(n === buf.length ? buf : buf.subarray(0, n));
}

// 0x01 || left || right, 65 bytes, reused: sha256 returns a fresh array, so nothing escapes the buffer.
const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);

/** Interior node hash: SHA-256(0x01 || left || right), RFC 6962 §2.1. Both children must be 32 bytes. */
export function nodeHash(left: Hash, right: Hash): Hash {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new RangeError(`nodeHash: children must be ${HASH_SIZE} bytes`);
  }
  nodeScratch[0] = 0x01;
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return sha256(nodeScratch);
}

/** Root of the empty tree: SHA-256 of the empty string, RFC 6962 §2.1 (MTH({}) = SHA-256()). */
export function emptyRoot(): Hash {
  return sha256(new Uint8Array(0));
}
