// The stored-node model of an RFC 6962 tree, as the server keeps it (one row per node):
//
// A stored node NodeId{level, index} is a *complete* subtree: level L, index k covers leaves
// [k·2^L, (k+1)·2^L). Level 0 holds the leaf hashes. Nodes are written once, when their last leaf is
// appended, and never change; so every tree size up to the current one can be hashed and proved from
// them, the incomplete right edge of an older size being recomputed from complete nodes (RFC 6962 §2.1
// defines MTH over any list of leaves; its subtrees [k·2^L, min((k+1)·2^L, n)) are what we rebuild).
//
// Sizes and indexes are JavaScript numbers: integers up to 2^53 - 1. No bitwise operators here, they
// truncate to 32 bits.

import { emptyRoot, HASH_SIZE, nodeHash } from './hash.js';
import type { Hash } from './hash.js';

/** A complete subtree: leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A stored node and its hash. */
export interface StoredNode extends NodeId {
  readonly hash: Hash;
}

/** Where hashes of stored nodes come from: a map keyed by nodeKey(), or a lookup function. */
export type HashSource = ReadonlyMap<string, Hash> | ((id: NodeId) => Hash | undefined);

/** Map key of a node: "level/index". */
export function nodeKey(id: NodeId): string {
  return `${id.level}/${id.index}`;
}

/** The leaves a node covers: [start, end). */
export function nodeRange(id: NodeId): { start: number; end: number } {
  const width = 2 ** id.level;
  return { start: id.index * width, end: (id.index + 1) * width };
}

/** Whether n is a tree size or leaf index we can represent exactly. */
export function isSafeSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Largest power of two strictly less than n, for n >= 2 (the split point k of RFC 6962 §2.1). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Largest power of two dividing n (n > 0): the widest subtree that can start at leaf n. */
function alignment(n: number): number {
  let a = 1;
  while (n % (a * 2) === 0) a *= 2;
  return a;
}

/**
 * The decomposition of leaves [start, end) into maximal aligned complete subtrees, left to right.
 * For start = 0 these are the subtrees of the descending powers of two that sum to end (the frontier
 * of a tree of size end).
 */
export function rangeNodeIds(start: number, end: number): NodeId[] {
  if (!isSafeSize(start) || !isSafeSize(end) || start > end) {
    throw new RangeError(`rangeNodeIds: invalid range [${start}, ${end})`);
  }
  const ids: NodeId[] = [];
  while (start < end) {
    let width = 1;
    let level = 0;
    while (start % (width * 2) === 0 && start + width * 2 <= end) {
      width *= 2;
      level++;
    }
    ids.push({ level, index: start / width });
    start += width;
  }
  return ids;
}

/** A lookup that fails loudly: a missing or malformed stored node is a storage bug, not a proof failure. */
export function nodeReader(source: HashSource): (id: NodeId) => Hash {
  const get = typeof source === 'function' ? source : (id: NodeId) => source.get(nodeKey(id));
  return (id) => {
    const h = get(id);
    if (h === undefined) throw new Error(`tlog: stored node ${nodeKey(id)} is missing`);
    if (h.length !== HASH_SIZE) throw new Error(`tlog: stored node ${nodeKey(id)} is not ${HASH_SIZE} bytes`);
    return h;
  };
}

/**
 * Hash of the tree whose descending complete subtrees are `hashes` (left to right), folding right to
 * left: MTH of RFC 6962 §2.1, since MTH(D[0:n]) = H(MTH(D[0:k]) || MTH(D[k:n])) with the left part
 * always complete.
 */
export function foldHashes(hashes: readonly Hash[]): Hash {
  if (hashes.length === 0) return emptyRoot();
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return h;
}

/**
 * MTH of leaves [start, end) from stored complete nodes, O(log n) lookups. The range must be one that
 * RFC 6962 uses as a subtree: start is a multiple of a power of two at least as large as end - start
 * (always true for start = 0, i.e. the root of any tree size).
 */
export function rangeHash(start: number, end: number, source: HashSource): Hash {
  if (!isSafeSize(start) || !isSafeSize(end) || start > end) {
    throw new RangeError(`rangeHash: invalid range [${start}, ${end})`);
  }
  if (start > 0 && end - start > alignment(start)) {
    throw new RangeError(`rangeHash: [${start}, ${end}) is not an RFC 6962 subtree`);
  }
  const read = nodeReader(source);
  return foldHashes(rangeNodeIds(start, end).map(read));
}
