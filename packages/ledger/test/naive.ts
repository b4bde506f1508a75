// A naive RFC 6962 §2.1 implementation, straight from the recursive definitions, to cross-check the
// library against. Works on leaf hashes (D[i] already hashed with leafHash). Not a test file.

import { nodeHash } from '../src/hash.js';
import type { Hash } from '../src/hash.js';

/** Largest power of two strictly less than n (n > 1). */
function k(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

/** MTH(D[lo:hi]) over leaf hashes, memoized per (lo, hi) so whole-range sweeps stay cheap. */
export class NaiveTree {
  readonly #leaves: readonly Hash[];
  readonly #memo = new Map<string, Hash>();

  constructor(leaves: readonly Hash[]) {
    this.#leaves = leaves;
  }

  mth(lo: number, hi: number): Hash {
    if (hi - lo === 1) return this.#leaves[lo]!;
    const key = `${lo}:${hi}`;
    let h = this.#memo.get(key);
    if (h === undefined) {
      const s = lo + k(hi - lo);
      h = nodeHash(this.mth(lo, s), this.mth(s, hi));
      this.#memo.set(key, h);
    }
    return h;
  }

  /** PATH(m, D[lo:hi]), RFC 6962 §2.1.1. */
  path(m: number, lo: number, hi: number): Hash[] {
    if (hi - lo <= 1) return [];
    const s = lo + k(hi - lo);
    return m < s ? [...this.path(m, lo, s), this.mth(s, hi)] : [...this.path(m, s, hi), this.mth(lo, s)];
  }

  /** PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true), RFC 6962 §2.1.2. */
  proof(m: number, n: number): Hash[] {
    return this.#subproof(m, 0, n, true);
  }

  #subproof(m: number, lo: number, hi: number, b: boolean): Hash[] {
    if (m === hi) return b ? [] : [this.mth(lo, hi)];
    const s = lo + k(hi - lo);
    return m <= s
      ? [...this.#subproof(m, lo, s, b), this.mth(s, hi)]
      : [...this.#subproof(m, s, hi, false), this.mth(lo, s)];
  }
}

/** Left/right shape of PATH(m, D[0:n]): which side each sibling is on, leaf to root. */
export function pathShape(m: number, n: number): string {
  let lo = 0;
  let hi = n;
  const dirs: string[] = [];
  while (hi - lo > 1) {
    const s = lo + k(hi - lo);
    if (m < s) {
      dirs.push('R');
      hi = s;
    } else {
      dirs.push('L');
      lo = s;
    }
  }
  return dirs.reverse().join('');
}
