import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import {
  CompactRange,
  emptyRoot,
  equalBytes,
  isLedgerError,
  leafHash,
  nodeHash,
  nodeKey,
  nodeRange,
  planConsistencyProof,
  planInclusionProof,
  proveConsistency,
  proveInclusion,
  rangeHash,
  rangeNodeIds,
  rootFromInclusionProof,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from '../src/index.js';
import type { Hash, StoredNode } from '../src/index.js';
import { NaiveTree, pathShape } from './naive.js';
import { flipBit, hex, leafHashes } from './testdata.js';

const MAX = 4096; // leaves in the reference tree: proofs are checked for every size up to it (sampled)
const ROOT_SIZES = 2048; // roots are checked exhaustively for 1..ROOT_SIZES

let leaves: Hash[];
let naive: NaiveTree;
let stored: Map<string, Hash>;

beforeAll(() => {
  leaves = leafHashes(MAX);
  naive = new NaiveTree(leaves);
  stored = new Map();
  const cr = new CompactRange();
  for (const h of leaves) for (const n of cr.append(h)) stored.set(nodeKey(n), n.hash);
});

const hexes = (hs: readonly Hash[]): string[] => hs.map(hex);

function rejects(f: () => void): boolean {
  try {
    f();
    return false;
  } catch (err) {
    if (!isLedgerError(err, 'invalid-proof')) throw err;
    return true;
  }
}

describe('hashing (RFC 6962 §2.1)', () => {
  it('hashes leaves and nodes with domain separation', () => {
    // SHA-256("") and SHA-256(0x00), the roots of the empty tree and of a tree with one empty entry.
    expect(hex(emptyRoot())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(leafHash(new Uint8Array(0)))).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    const a = leafHash(Uint8Array.of(1));
    expect(hex(nodeHash(a, a))).not.toBe(hex(leafHash(new Uint8Array([...a, ...a]))));
  });

  it('hashes entries larger than the scratch buffer, and small ones after them', () => {
    const big = new Uint8Array(100_000).fill(7);
    const small = Uint8Array.of(1, 2, 3);
    const before = hex(leafHash(small));
    expect(hex(leafHash(big))).toHaveLength(64);
    expect(hex(leafHash(small))).toBe(before);
  });

  it('rejects node children that are not 32 bytes', () => {
    expect(() => nodeHash(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
  });
});

describe('rangeNodeIds', () => {
  it('decomposes a range into maximal aligned complete subtrees, left to right', () => {
    fc.assert(
      fc.property(fc.nat(5000), fc.nat(5000), (a, b) => {
        const [start, end] = a <= b ? [a, b] : [b, a];
        const ids = rangeNodeIds(start, end);
        let at = start;
        for (const [i, id] of ids.entries()) {
          const r = nodeRange(id);
          expect(r.start).toBe(at); // contiguous
          expect(r.end).toBeLessThanOrEqual(end);
          // Maximal: the parent is not inside the range.
          const parent = nodeRange({ level: id.level + 1, index: Math.floor(id.index / 2) });
          expect(parent.start >= start && parent.end <= end).toBe(false);
          if (i > 0)
            expect(
              id.level === ids[i - 1]!.level && id.index % 2 === 1 && ids[i - 1]!.index === id.index - 1,
            ).toBe(false);
          at = r.end;
        }
        expect(at).toBe(end);
      }),
    );
  });

  it('gives the frontier of a tree: descending levels, the bits of its size', () => {
    expect(rangeNodeIds(0, 13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    expect(rangeNodeIds(5, 5)).toEqual([]);
  });
});

describe('CompactRange and roots', () => {
  it(`matches the naive MTH for every size 1..${ROOT_SIZES}, and so do rangeHash and treeRoot`, () => {
    const cr = new CompactRange();
    expect(equalBytes(cr.root(), emptyRoot())).toBe(true);
    for (let n = 1; n <= ROOT_SIZES; n++) {
      cr.push(leaves[n - 1]!);
      const want = hex(naive.mth(0, n));
      expect(hex(cr.root())).toBe(want);
      expect(hex(rangeHash(0, n, stored))).toBe(want);
    }
    expect(hex(treeRoot(leaves.slice(0, 1000)))).toBe(hex(naive.mth(0, 1000)));
    expect(equalBytes(treeRoot([]), emptyRoot())).toBe(true);
  });

  it('returns the leaf and every parent it completes on append', () => {
    const cr = new CompactRange();
    const got: StoredNode[][] = leaves.slice(0, 8).map((h) => cr.append(h));
    expect(got.map((ns) => ns.map((n) => nodeKey(n)))).toEqual([
      ['0/0'],
      ['0/1', '1/0'],
      ['0/2'],
      ['0/3', '1/1', '2/0'],
      ['0/4'],
      ['0/5', '1/2'],
      ['0/6'],
      ['0/7', '1/3', '2/1', '3/0'],
    ]);
    expect(hex(got[7]![3]!.hash)).toBe(hex(naive.mth(0, 8)));
  });

  it('resumes from a stored frontier and stores exactly the complete subtrees', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX - 1 }), (size) => {
        const ids = rangeNodeIds(0, size);
        const resumed = new CompactRange(
          size,
          ids.map((id) => stored.get(nodeKey(id))!),
        );
        expect(resumed.frontier().map(nodeKey)).toEqual(ids.map(nodeKey));
        const nodes = resumed.append(leaves[size]!);
        for (const n of nodes) expect(hex(n.hash)).toBe(hex(stored.get(nodeKey(n))!));
        expect(hex(resumed.root())).toBe(hex(naive.mth(0, size + 1)));
        const copy = resumed.clone();
        copy.push(leaves[0]!);
        expect(copy.size).toBe(resumed.size + 1);
      }),
    );
    expect(stored.size).toBe(2 * MAX - 1);
  });

  it('rejects a frontier of the wrong shape', () => {
    expect(() => new CompactRange(3, [leaves[0]!])).toThrow(RangeError);
    expect(() => new CompactRange(1, [new Uint8Array(31)])).toThrow(RangeError);
    expect(() => new CompactRange(-1)).toThrow(RangeError);
  });

  it('hashes RFC 6962 subtrees from stored nodes only, and refuses other ranges', () => {
    expect(hex(rangeHash(8, 13, stored))).toBe(hex(naive.mth(8, 13)));
    expect(() => rangeHash(4, 13, stored)).toThrow(RangeError);
    expect(() => rangeHash(0, 3, new Map())).toThrow(/missing/);
  });
});

const sizeAndIndex = fc
  .integer({ min: 1, max: MAX })
  .chain((size) => fc.tuple(fc.constant(size), fc.nat(size - 1)));
const oldAndNew = fc
  .integer({ min: 1, max: MAX })
  .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));

describe('inclusion proofs (RFC 6962 §2.1.1, RFC 9162 §2.1.3)', () => {
  it('equal the naive PATH for small trees exhaustively and verify', () => {
    for (let n = 1; n <= 64; n++) {
      const root = naive.mth(0, n);
      for (let m = 0; m < n; m++) {
        const proof = proveInclusion(m, n, stored);
        expect(hexes(proof)).toEqual(hexes(naive.path(m, 0, n)));
        verifyInclusion(m, n, leaves[m]!, proof, root);
      }
    }
  });

  it('equal the naive PATH from stored nodes for any size, including incomplete right edges', () => {
    fc.assert(
      fc.property(sizeAndIndex, ([size, index]) => {
        const plan = planInclusionProof(index, size);
        const keys = plan.nodeIds.map(nodeKey);
        expect(new Set(keys).size).toBe(keys.length);
        expect(keys.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(size)) + 1);
        const proof = plan.build((id) => stored.get(nodeKey(id)));
        expect(hexes(proof)).toEqual(hexes(naive.path(index, 0, size)));
        const root = naive.mth(0, size);
        verifyInclusion(index, size, leaves[index]!, proof, root);
        expect(hex(rootFromInclusionProof(index, size, leaves[index]!, proof))).toBe(hex(root));
      }),
      { numRuns: 500 },
    );
  });

  it('reject any single bit flip in the proof, the leaf hash or the root', () => {
    fc.assert(
      fc.property(sizeAndIndex, fc.nat(), fc.nat(255), ([size, index], which, bit) => {
        const proof = proveInclusion(index, size, stored);
        const root = naive.mth(0, size);
        const leaf = leaves[index]!;
        const targets = proof.length + 2;
        const t = which % targets;
        if (t < proof.length) {
          const bad = proof.map((p, i) => (i === t ? flipBit(p, bit) : p));
          expect(rejects(() => verifyInclusion(index, size, leaf, bad, root))).toBe(true);
        } else if (t === proof.length) {
          expect(rejects(() => verifyInclusion(index, size, flipBit(leaf, bit), proof, root))).toBe(true);
        } else {
          expect(rejects(() => verifyInclusion(index, size, leaf, proof, flipBit(root, bit)))).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('accept a wrong index or size only when the proof has exactly the same shape', () => {
    fc.assert(
      fc.property(
        sizeAndIndex,
        fc.integer({ min: 0, max: MAX + 2 }),
        fc.integer({ min: 0, max: MAX + 2 }),
        ([size, index], i2, s2) => {
          const proof = proveInclusion(index, size, stored);
          const root = naive.mth(0, size);
          for (const [i, s] of [
            [i2, size],
            [index, s2],
          ] as const) {
            if (i === index && s === size) continue;
            const sameShape = i < s && pathShape(i, s) === pathShape(index, size);
            expect(rejects(() => verifyInclusion(i, s, leaves[index]!, proof, root))).toBe(!sameShape);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reject truncated, extended and malformed proofs', () => {
    const proof = proveInclusion(5, 11, stored);
    const root = naive.mth(0, 11);
    expect(rejects(() => verifyInclusion(5, 11, leaves[5]!, proof.slice(1), root))).toBe(true);
    expect(rejects(() => verifyInclusion(5, 11, leaves[5]!, [...proof, root], root))).toBe(true);
    expect(
      rejects(() => verifyInclusion(5, 11, leaves[5]!, [proof[0]!.subarray(1), ...proof.slice(1)], root)),
    ).toBe(true);
    expect(rejects(() => verifyInclusion(11, 11, leaves[5]!, proof, root))).toBe(true);
    expect(rejects(() => verifyInclusion(-1, 11, leaves[5]!, proof, root))).toBe(true);
    expect(rejects(() => verifyInclusion(1.5, 11, leaves[5]!, proof, root))).toBe(true);
  });

  it('are planned only for leaves inside the tree', () => {
    expect(() => planInclusionProof(3, 3)).toThrow(RangeError);
    expect(() => planInclusionProof(0, 0)).toThrow(RangeError);
  });
});

describe('consistency proofs (RFC 6962 §2.1.2, RFC 9162 §2.1.4)', () => {
  it('equal the naive PROOF for small trees exhaustively and verify', () => {
    for (let n = 1; n <= 64; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = proveConsistency(m, n, stored);
        expect(hexes(proof)).toEqual(hexes(naive.proof(m, n)));
        verifyConsistency(m, n, naive.mth(0, m), naive.mth(0, n), proof);
      }
    }
  });

  it('equal the naive PROOF from stored nodes for any pair of sizes', () => {
    fc.assert(
      fc.property(oldAndNew, ([m, n]) => {
        const plan = planConsistencyProof(m, n);
        const keys = plan.nodeIds.map(nodeKey);
        expect(new Set(keys).size).toBe(keys.length);
        const proof = plan.build(stored);
        expect(hexes(proof)).toEqual(hexes(naive.proof(m, n)));
        verifyConsistency(m, n, naive.mth(0, m), naive.mth(0, n), proof);
      }),
      { numRuns: 500 },
    );
  });

  it('reject any single bit flip in the proof or either root', () => {
    fc.assert(
      fc.property(oldAndNew, fc.nat(), fc.nat(255), ([m, n], which, bit) => {
        const proof = proveConsistency(m, n, stored);
        const r1 = naive.mth(0, m);
        const r2 = naive.mth(0, n);
        const t = which % (proof.length + 2);
        if (t < proof.length) {
          const bad = proof.map((p, i) => (i === t ? flipBit(p, bit) : p));
          expect(rejects(() => verifyConsistency(m, n, r1, r2, bad))).toBe(true);
        } else if (t === proof.length) {
          expect(rejects(() => verifyConsistency(m, n, flipBit(r1, bit), r2, proof))).toBe(true);
        } else {
          expect(rejects(() => verifyConsistency(m, n, r1, flipBit(r2, bit), proof))).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reject dropped or extra proof hashes and a shrinking tree', () => {
    fc.assert(
      fc.property(oldAndNew, ([m, n]) => {
        fc.pre(m < n);
        const proof = proveConsistency(m, n, stored);
        const r1 = naive.mth(0, m);
        const r2 = naive.mth(0, n);
        expect(rejects(() => verifyConsistency(m, n, r1, r2, proof.slice(0, -1)))).toBe(true);
        expect(rejects(() => verifyConsistency(m, n, r1, r2, [...proof, r2]))).toBe(true);
        expect(rejects(() => verifyConsistency(n, m, r2, r1, proof))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('are planned only for 0 < m <= n', () => {
    expect(() => planConsistencyProof(0, 4)).toThrow(RangeError);
    expect(() => planConsistencyProof(5, 4)).toThrow(RangeError);
    expect(planConsistencyProof(4, 4).nodeIds).toEqual([]);
  });
});
