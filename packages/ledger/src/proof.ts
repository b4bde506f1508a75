// RFC 6962 §2.1.1 / RFC 9162 §2.1.3 inclusion proofs and RFC 6962 §2.1.2 / RFC 9162 §2.1.4 consistency
// proofs: planning and building from stored nodes (prove), and verification (check).
//
// Proving is split in two so that a server can read storage once: plan*Proof() names every stored node
// the proof needs, the caller fetches them in one batched read, and build() assembles the proof.

import { equalBytes } from './bytes.js';
import { LedgerError } from './errors.js';
import type { LedgerErrorEvidence } from './errors.js';
import { HASH_SIZE, nodeHash } from './hash.js';
import type { Hash } from './hash.js';
import { foldHashes, isSafeSize, nodeKey, nodeReader, rangeNodeIds, splitPoint } from './tree.js';
import type { HashSource, NodeId } from './tree.js';

/** The stored nodes a proof needs, and how to assemble it once they are read. */
export interface ProofPlan {
  /** Stored nodes to read, deduplicated. */
  readonly nodeIds: readonly NodeId[];
  /** The proof, in RFC 6962 order (from the leaf or the old root upward). */
  build(source: HashSource): Hash[];
}

// A proof is a list of subtree hashes, each MTH of a range [start, end) that RFC 6962 recursion visits;
// every range is a complete stored node except possibly one on the right edge of the tree.
type LeafRange = readonly [start: number, end: number];

function planFromRanges(ranges: readonly LeafRange[]): ProofPlan {
  const perRange = ranges.map(([start, end]) => rangeNodeIds(start, end));
  const seen = new Set<string>();
  const nodeIds: NodeId[] = [];
  for (const ids of perRange) {
    for (const id of ids) {
      const k = nodeKey(id);
      if (!seen.has(k)) {
        seen.add(k);
        nodeIds.push(id);
      }
    }
  }
  return {
    nodeIds,
    build(source) {
      const read = nodeReader(source);
      return perRange.map((ids) => foldHashes(ids.map(read)));
    },
  };
}

/**
 * Ranges of PATH(m, D[0:n]), RFC 6962 §2.1.1: descending from the root, the sibling of the half that
 * holds leaf m; listed leaf-to-root as the RFC appends them.
 */
function inclusionRanges(index: number, size: number): LeafRange[] {
  const ranges: LeafRange[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      ranges.push([lo + k, hi]); // PATH(m, D[0:k]) : MTH(D[k:n])
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]); // PATH(m - k, D[k:n]) : MTH(D[0:k])
      lo += k;
    }
  }
  return ranges.reverse();
}

/**
 * Ranges of PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true), RFC 6962 §2.1.2, in absolute leaf
 * coordinates; listed in the RFC's order (deepest first).
 */
function consistencyRanges(m: number, n: number): LeafRange[] {
  const ranges: LeafRange[] = [];
  let lo = 0;
  let hi = n;
  let completeOldTree = true; // the RFC's flag b
  while (m !== hi) {
    const k = splitPoint(hi - lo);
    if (m <= lo + k) {
      ranges.push([lo + k, hi]); // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]); // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      lo += k;
      completeOldTree = false;
    }
  }
  // SUBPROOF(m, D[m], b) = {} if b, else {MTH(D[m])}: the old tree is a subtree of the proof.
  if (!completeOldTree) ranges.push([lo, hi]);
  return ranges.reverse();
}

/** Plan the inclusion proof of leaf `index` in the tree of size `treeSize` (0 <= index < treeSize). */
export function planInclusionProof(index: number, treeSize: number): ProofPlan {
  if (!isSafeSize(index) || !isSafeSize(treeSize) || index >= treeSize) {
    throw new RangeError(`planInclusionProof: index ${index} not in tree of size ${treeSize}`);
  }
  return planFromRanges(inclusionRanges(index, treeSize));
}

/** Plan the consistency proof from size m to size n (0 < m <= n; m = n gives the empty proof). */
export function planConsistencyProof(m: number, n: number): ProofPlan {
  if (!isSafeSize(m) || !isSafeSize(n) || m < 1 || m > n) {
    throw new RangeError(`planConsistencyProof: invalid sizes ${m} -> ${n}`);
  }
  return planFromRanges(consistencyRanges(m, n));
}

/** Inclusion proof of leaf `index` in the tree of size `treeSize`, from stored nodes. */
export function proveInclusion(index: number, treeSize: number, source: HashSource): Hash[] {
  return planInclusionProof(index, treeSize).build(source);
}

/** Consistency proof from size m to size n, from stored nodes. */
export function proveConsistency(m: number, n: number, source: HashSource): Hash[] {
  return planConsistencyProof(m, n).build(source);
}

// ---- Checks. Everything below is attacker-controlled input: sizes, hashes and proofs.

function invalidProof(message: string, evidence: LedgerErrorEvidence): LedgerError<'invalid-proof'> {
  return new LedgerError('invalid-proof', message, evidence);
}

function allHashes(proof: readonly Hash[]): boolean {
  return proof.every((p) => p instanceof Uint8Array && p.length === HASH_SIZE);
}

const half = (x: number): number => Math.floor(x / 2);

/**
 * The root implied by an inclusion proof, RFC 9162 §2.1.3.2 steps 1-4 (step 5, comparing with the
 * root, is the caller's). Throws invalid-proof when the proof cannot be one for (index, treeSize).
 */
export function rootFromInclusionProof(
  index: number,
  treeSize: number,
  leafHash: Hash,
  proof: readonly Hash[],
): Hash {
  const evidence = { index, size: treeSize, proof };
  if (!isSafeSize(index) || !isSafeSize(treeSize) || index >= treeSize) {
    throw invalidProof(`leaf index ${index} is not in a tree of size ${treeSize}`, evidence);
  }
  if (leafHash.length !== HASH_SIZE) throw invalidProof(`leaf hash is not ${HASH_SIZE} bytes`, evidence);
  if (!allHashes(proof)) throw invalidProof(`proof hashes must be ${HASH_SIZE} bytes`, evidence);
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) throw invalidProof('proof is too long', evidence);
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // Right edge: skip the levels where this node has no right sibling.
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw invalidProof('proof is too short', evidence);
  return r;
}

/** Checks that leafHash is leaf `index` of the tree of size treeSize with this root (RFC 9162 §2.1.3.2). */
export function verifyInclusion(
  index: number,
  treeSize: number,
  leafHash: Hash,
  proof: readonly Hash[],
  root: Hash,
): void {
  const computed = rootFromInclusionProof(index, treeSize, leafHash, proof);
  if (!equalBytes(computed, root)) {
    throw invalidProof('inclusion proof does not lead to the root', {
      index,
      size: treeSize,
      proof,
      expectedRoot: root,
      actualRoot: computed,
    });
  }
}

/**
 * Checks that the tree of size2 with root2 extends the tree of size1 with root1 (RFC 9162 §2.1.4.2).
 * As in transparency-dev/merkle, size1 = 0 is rejected: every tree extends the empty one, so a proof
 * from it proves nothing and a caller asking for one has a bug. Equal sizes need an empty proof and
 * equal roots.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Hash,
  root2: Hash,
  proof: readonly Hash[],
): void {
  const evidence = { size: size1, otherSize: size2, expectedRoot: root2, proof };
  if (!isSafeSize(size1) || !isSafeSize(size2) || size2 < size1) {
    throw invalidProof(`size ${size2} cannot extend size ${size1}`, evidence);
  }
  if (size1 === 0) throw invalidProof('consistency with the empty tree proves nothing', evidence);
  if (size1 === size2) {
    if (proof.length !== 0) throw invalidProof('equal sizes need an empty proof', evidence);
    if (!equalBytes(root1, root2)) throw invalidProof('equal sizes with different roots', evidence);
    return;
  }
  // 1. An empty proof fails.
  if (proof.length === 0) throw invalidProof('empty consistency proof', evidence);
  if (!allHashes(proof) || root1.length !== HASH_SIZE || root2.length !== HASH_SIZE) {
    throw invalidProof(`roots and proof hashes must be ${HASH_SIZE} bytes`, evidence);
  }
  // 2. If size1 is a power of two, the old root is itself a node of the path: prepend it.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  // 3-4. fn, sn: the last leaf of each tree; skip the levels where the old tree's edge is a right child.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. fr, sr: the old and new roots being rebuilt.
  let fr = path[0]!;
  let sr = path[0]!;
  // 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) throw invalidProof('proof is too long', evidence);
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  if (sn !== 0) throw invalidProof('proof is too short', evidence);
  if (!equalBytes(fr, root1))
    throw invalidProof('proof does not lead to the old root', { ...evidence, actualRoot: fr });
  if (!equalBytes(sr, root2))
    throw invalidProof('proof does not lead to the new root', { ...evidence, actualRoot: sr });
}

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}
