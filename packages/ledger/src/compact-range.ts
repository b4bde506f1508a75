// The compact range ("frontier") of a tree: the hashes of its maximal complete subtrees, left to right
// (rangeNodeIds(0, size)). It is all an appender needs: appending a leaf completes some subtrees, whose
// nodes are returned for storage, and the root of any size is a fold of the frontier.

import { HASH_SIZE, nodeHash } from './hash.js';
import type { Hash } from './hash.js';
import { foldHashes, isSafeSize, rangeNodeIds } from './tree.js';
import type { StoredNode } from './tree.js';

function popCount(n: number): number {
  let c = 0;
  while (n > 0) {
    c += n % 2;
    n = Math.floor(n / 2);
  }
  return c;
}

export class CompactRange {
  #size: number;
  // Hashes of rangeNodeIds(0, size), left (largest) to right (smallest). Kept by reference: callers
  // must not mutate hashes they pass in.
  readonly #hashes: Hash[];

  /**
   * A range over leaves [0, size) given the hashes of rangeNodeIds(0, size) in that order (for a
   * server: the stored nodes it reads back at startup). Defaults to the empty tree.
   */
  constructor(size = 0, hashes: readonly Hash[] = []) {
    if (!isSafeSize(size)) throw new RangeError(`CompactRange: invalid size ${size}`);
    if (hashes.length !== popCount(size)) {
      throw new RangeError(`CompactRange: size ${size} needs ${popCount(size)} hashes, got ${hashes.length}`);
    }
    for (const h of hashes) {
      if (h.length !== HASH_SIZE) throw new RangeError(`CompactRange: hashes must be ${HASH_SIZE} bytes`);
    }
    this.#size = size;
    this.#hashes = [...hashes];
  }

  /** Number of leaves covered. */
  get size(): number {
    return this.#size;
  }

  /** The frontier: stored nodes rangeNodeIds(0, size) with their hashes. */
  frontier(): StoredNode[] {
    return rangeNodeIds(0, this.#size).map((id, i) => ({ ...id, hash: this.#hashes[i]! }));
  }

  /**
   * Appends a leaf hash and returns the nodes it completes, to be stored: the leaf itself (level 0)
   * and every parent whose right-most leaf it is, bottom-up.
   */
  append(leafHash: Hash): StoredNode[] {
    const index = this.#size;
    const completed: StoredNode[] = [{ level: 0, index, hash: leafHash }];
    this.#add(leafHash, completed);
    return completed;
  }

  /** Appends a leaf hash without reporting completed nodes: for computing roots of a stream. */
  push(leafHash: Hash): void {
    this.#add(leafHash, undefined);
  }

  #add(leafHash: Hash, completed: StoredNode[] | undefined): void {
    if (leafHash.length !== HASH_SIZE)
      throw new RangeError(`CompactRange: leaf hash must be ${HASH_SIZE} bytes`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError('CompactRange: tree is full');
    // Leaf `index` is a right child while index is odd: merge with the frontier's last (left) sibling.
    let index = this.#size;
    let level = 0;
    let h = leafHash;
    while (index % 2 === 1) {
      h = nodeHash(this.#hashes.pop()!, h);
      index = (index - 1) / 2;
      level++;
      completed?.push({ level, index, hash: h });
    }
    this.#hashes.push(h);
    this.#size++;
  }

  /** RFC 6962 MTH of leaves [0, size); the empty tree's root is SHA-256(""). */
  root(): Hash {
    return foldHashes(this.#hashes);
  }

  /** An independent copy. */
  clone(): CompactRange {
    return new CompactRange(this.#size, this.#hashes);
  }
}

/** RFC 6962 MTH of a list of leaf hashes. */
export function treeRoot(leafHashes: Iterable<Hash>): Hash {
  const cr = new CompactRange();
  for (const h of leafHashes) cr.push(h);
  return cr.root();
}
