// Shared test fixtures. Not a test file.

import { leafHash } from '../src/hash.js';
import type { Hash } from '../src/hash.js';

/** Deterministic distinct leaf hashes. */
export function leafHashes(n: number): Hash[] {
  const out: Hash[] = [];
  for (let i = 0; i < n; i++) out.push(leafHash(new TextEncoder().encode(`leaf ${i}`)));
  return out;
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function fromHex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
}

/** A copy of b with bit `bit` flipped. */
export function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = b.slice();
  const i = Math.floor(bit / 8) % c.length;
  c[i] = c[i]! ^ (1 << (bit % 8));
  return c;
}
