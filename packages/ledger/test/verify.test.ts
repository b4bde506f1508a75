// The offline verifier against simulated tampering of a signed log.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  canonicalBytes,
  CompactRange,
  generateSignerKey,
  leafHash,
  nodeKey,
  openCheckpoint,
  parseSignerKey,
  proveConsistency,
  proveInclusion,
  rangeHash,
  signCheckpoint,
  verifyCheckpointConsistency,
  verifyEntriesAgainstCheckpoint,
  verifyInclusionOfEntry,
  verifyLog,
} from '../src/index.js';
import type { Hash, LedgerError, LedgerErrorCode, VerifyLogInput, VerifyReport } from '../src/index.js';
import { hex } from './testdata.js';

const N = 48;
const ORIGIN = 'vigil.test/audit';
const key = generateSignerKey(ORIGIN);
const signer = parseSignerKey(key.privateKey);

function record(i: number, action = 'environment.read'): Uint8Array {
  return canonicalBytes({ index: i, action, actor: `user-${i % 5}`, at: 1_700_000_000 + i });
}

interface Log {
  entries: Uint8Array[];
  leafHashes: Hash[];
  stored: Map<string, Hash>;
  /** Signed checkpoint at every size 0..length. */
  checkpoints: string[];
}

function buildLog(entries: Uint8Array[]): Log {
  const stored = new Map<string, Hash>();
  const cr = new CompactRange();
  const leafHashes = entries.map(leafHash);
  for (const h of leafHashes) for (const n of cr.append(h)) stored.set(nodeKey(n), n.hash);
  const checkpoints: string[] = [];
  for (let s = 0; s <= entries.length; s++) {
    checkpoints.push(signCheckpoint({ origin: ORIGIN, size: s, root: rangeHash(0, s, stored) }, signer));
  }
  return { entries, leafHashes, stored, checkpoints };
}

const log = buildLog(Array.from({ length: N }, (_, i) => record(i)));
const forged = (i: number): Uint8Array => record(i, 'secret.delete');

const tamper = {
  modify: (e: Uint8Array[], k: number) => e.map((x, i) => (i === k ? forged(k) : x)),
  delete: (e: Uint8Array[], k: number) => e.filter((_, i) => i !== k),
  insert: (e: Uint8Array[], k: number) => [...e.slice(0, k), forged(k), ...e.slice(k)],
  swap: (e: Uint8Array[], i: number, j: number) => e.map((x, n) => (n === i ? e[j]! : n === j ? e[i]! : x)),
  truncate: (e: Uint8Array[], t: number) => e.slice(0, t),
};

function run(entries: Iterable<Uint8Array>, extra: Partial<VerifyLogInput> = {}): VerifyReport {
  return verifyLog({
    verifierKey: key.verifierKey,
    origin: ORIGIN,
    checkpoint: log.checkpoints[N]!,
    entries,
    ...extra,
  });
}

function failure(r: VerifyReport): LedgerError {
  if (r.ok) throw new Error('expected verification to fail');
  return r.error;
}

function expectFailure(r: VerifyReport, code: LedgerErrorCode, evidence: Record<string, number> = {}): void {
  const e = failure(r);
  expect(e.code).toBe(code);
  expect(e.evidence).toMatchObject(evidence);
}

const k = fc.nat(N - 1);
const pair = fc.tuple(fc.nat(N - 1), fc.nat(N - 1)).filter(([i, j]) => i < j);

describe('verifyLog on an intact log', () => {
  it('accepts the entries of the signed checkpoint', () => {
    const r = run(log.entries, { leafHashes: log.leafHashes, checkpoints: log.checkpoints });
    expect(r).toMatchObject({ ok: true, size: N, origin: ORIGIN, extraEntries: 0 });
    if (r.ok) expect(hex(r.root)).toBe(hex(rangeHash(0, N, log.stored)));
  });

  it('accepts entries appended after the checkpoint and counts them', () => {
    const r = verifyLog({
      verifierKey: key.verifierKey,
      checkpoint: log.checkpoints[30]!,
      entries: log.entries,
    });
    expect(r).toMatchObject({ ok: true, size: 30, extraEntries: N - 30 });
  });

  it('streams entries from a generator', () => {
    function* stream(): Generator<Uint8Array> {
      for (const e of log.entries) yield e;
    }
    expect(run(stream()).ok).toBe(true);
  });

  it('accepts the empty log', () => {
    const r = verifyLog({ verifierKey: key.verifierKey, checkpoint: log.checkpoints[0]!, entries: [] });
    expect(r).toMatchObject({ ok: true, size: 0, extraEntries: 0 });
  });
});

describe('verifyLog with authentic stored leaf hashes', () => {
  const withHashes = { leafHashes: log.leafHashes };

  it('names a modified entry', () => {
    fc.assert(
      fc.property(k, (k) =>
        expectFailure(run(tamper.modify(log.entries, k), withHashes), 'entry-modified', { index: k }),
      ),
    );
  });

  it('names a deleted entry', () => {
    fc.assert(
      fc.property(k, (k) =>
        expectFailure(run(tamper.delete(log.entries, k), withHashes), 'entries-missing', { index: k }),
      ),
    );
  });

  it('names an inserted entry', () => {
    fc.assert(
      fc.property(k, (k) =>
        expectFailure(run(tamper.insert(log.entries, k), withHashes), 'entries-inserted', { index: k }),
      ),
    );
  });

  it('names reordered entries', () => {
    fc.assert(
      fc.property(pair, ([i, j]) =>
        expectFailure(run(tamper.swap(log.entries, i, j), withHashes), 'entries-reordered', {
          index: i,
          otherIndex: j,
        }),
      ),
    );
  });

  it('names where a truncated log ends', () => {
    fc.assert(
      fc.property(k, (t) =>
        expectFailure(run(tamper.truncate(log.entries, t), withHashes), 'entries-missing', {
          index: t,
          indexEnd: N,
        }),
      ),
    );
  });
});

describe('verifyLog bracketing with checkpoints signed one entry apart', () => {
  // Without leaf hashes, or with leaf hashes the attacker recomputed from the tampered entries (they do
  // not reproduce the signed root, so they are ignored).
  const modes = {
    'no leaf hashes': (_e: Uint8Array[]) => ({ checkpoints: log.checkpoints }),
    'recomputed leaf hashes': (e: Uint8Array[]) => ({
      checkpoints: log.checkpoints,
      leafHashes: e.map(leafHash),
    }),
  };

  for (const [mode, extra] of Object.entries(modes)) {
    describe(mode, () => {
      const check = (e: Uint8Array[], code: LedgerErrorCode, evidence: Record<string, number>) =>
        expectFailure(run(e, extra(e)), code, evidence);

      it('names a modified entry', () => {
        fc.assert(
          fc.property(k, (k) =>
            check(tamper.modify(log.entries, k), 'entry-modified', { index: k, indexEnd: k + 1 }),
          ),
          { numRuns: 30 },
        );
      });

      it('names a deleted entry', () => {
        fc.assert(
          fc.property(k, (k) =>
            k === N - 1
              ? check(tamper.delete(log.entries, k), 'entries-missing', { index: k })
              : check(tamper.delete(log.entries, k), 'entry-modified', { index: k, indexEnd: k + 1 }),
          ),
          { numRuns: 30 },
        );
      });

      it('names an inserted entry', () => {
        fc.assert(
          fc.property(k, (k) =>
            check(tamper.insert(log.entries, k), 'entry-modified', { index: k, indexEnd: k + 1 }),
          ),
          { numRuns: 30 },
        );
      });

      it('names the first of reordered entries', () => {
        fc.assert(
          fc.property(pair, ([i, j]) =>
            check(tamper.swap(log.entries, i, j), 'entry-modified', { index: i, indexEnd: i + 1 }),
          ),
          { numRuns: 30 },
        );
      });

      it('names where a truncated log ends', () => {
        fc.assert(
          fc.property(k, (t) =>
            check(tamper.truncate(log.entries, t), 'entries-missing', { index: t, indexEnd: N }),
          ),
          { numRuns: 30 },
        );
      });
    });
  }

  it('brackets damage between sparser checkpoints', () => {
    const every8 = log.checkpoints.filter((_, s) => s % 8 === 0);
    fc.assert(
      fc.property(k, (k) => {
        const e = failure(run(tamper.modify(log.entries, k), { checkpoints: every8 }));
        expect(e.code).toBe('entry-modified');
        expect(e.evidence.index).toBe(Math.floor(k / 8) * 8);
        expect(e.evidence.indexEnd).toBe(Math.floor(k / 8) * 8 + 8);
      }),
      { numRuns: 30 },
    );
  });

  it('brackets the whole log when nothing else is given', () => {
    expectFailure(run(tamper.modify(log.entries, 7)), 'entry-modified', { index: 0, indexEnd: N });
  });
});

describe('verifyLog trust checks', () => {
  const other = generateSignerKey(ORIGIN);
  const otherSigner = parseSignerKey(other.privateKey);
  const mainRoot = rangeHash(0, N, log.stored);

  it('rejects a checkpoint that is not signed by the key', () => {
    const byOther = signCheckpoint({ origin: ORIGIN, size: N, root: mainRoot }, otherSigner);
    expectFailure(run(log.entries, { checkpoint: byOther }), 'signature-invalid');
    const badSig = log.checkpoints[N]!.replace(
      / (\S{10})/,
      (_m, s: string) => ` ${s.slice(0, 9)}${s[9] === 'A' ? 'B' : 'A'}`,
    );
    expectFailure(run(log.entries, { checkpoint: badSig }), 'signature-invalid');
    const altered = log.checkpoints[N]!.replace(`\n${N}\n`, `\n${N - 1}\n`);
    expectFailure(run(log.entries, { checkpoint: altered }), 'signature-invalid');
  });

  it('rejects the wrong origin', () => {
    expectFailure(run(log.entries, { origin: 'vigil.test/other' }), 'origin-mismatch');
  });

  it('rejects a malformed verifier key', () => {
    expectFailure(run(log.entries, { verifierKey: 'nope' }), 'malformed-key');
  });

  it('accepts a checkpoint consistent with the trusted one', () => {
    for (const m of [0, 1, 13, 32, N]) {
      const proof = m === 0 ? [] : proveConsistency(m, N, log.stored);
      expect(
        run(log.entries, { trusted: { checkpoint: log.checkpoints[m]!, consistencyProof: proof } }).ok,
      ).toBe(true);
    }
  });

  it('rejects a fork of the trusted checkpoint, with both checkpoints and the proof as evidence', () => {
    const forkLog = buildLog([
      ...log.entries.slice(0, 10),
      ...Array.from({ length: 30 }, (_, i) => forged(10 + i)),
    ]);
    const proof = proveConsistency(20, N, log.stored);
    const r = run(log.entries, {
      trusted: { checkpoint: forkLog.checkpoints[20]!, consistencyProof: proof },
    });
    const e = failure(r);
    expect(e.code).toBe('checkpoint-inconsistent');
    expect(e.evidence.checkpoint).toBe(forkLog.checkpoints[20]);
    expect(e.evidence.otherCheckpoint).toBe(log.checkpoints[N]);
    expect(e.evidence.proof).toBe(proof);
  });

  it('rejects a log that shrank below the trusted checkpoint', () => {
    const r = verifyLog({
      verifierKey: key.verifierKey,
      checkpoint: log.checkpoints[20]!,
      entries: log.entries,
      trusted: { checkpoint: log.checkpoints[30]!, consistencyProof: [] },
    });
    expectFailure(r, 'checkpoint-inconsistent', { size: 30, otherSize: 20 });
  });

  it('rejects two signed checkpoints of one size with different roots', () => {
    const forkLog = buildLog(tamper.modify(log.entries, 3));
    expectFailure(
      run(log.entries, { checkpoints: [log.checkpoints[20]!, forkLog.checkpoints[N]!] }),
      'checkpoint-inconsistent',
    );
  });

  it('rejects an earlier signed checkpoint that the authentic entries contradict', () => {
    const forkLog = buildLog(tamper.modify(log.entries, 3));
    const e = failure(run(log.entries, { checkpoints: [forkLog.checkpoints[10]!] }));
    expect(e.code).toBe('checkpoint-inconsistent');
    expect(e.evidence.checkpoint).toBe(forkLog.checkpoints[10]);
    expect(e.evidence.otherCheckpoint).toBe(log.checkpoints[N]);
  });

  it('rejects extra checkpoints that do not open, saying which', () => {
    const byOther = signCheckpoint(
      { origin: ORIGIN, size: 5, root: rangeHash(0, 5, log.stored) },
      otherSigner,
    );
    expectFailure(run(log.entries, { checkpoints: [log.checkpoints[3]!, byOther] }), 'signature-invalid', {
      inputIndex: 1,
    });
    const elsewhere = signCheckpoint(
      { origin: 'vigil.test/other', size: 5, root: rangeHash(0, 5, log.stored) },
      signer,
    );
    expectFailure(run(log.entries, { checkpoints: [elsewhere] }), 'origin-mismatch', { inputIndex: 0 });
  });

  it('ignores leaf hashes that do not reproduce the signed root', () => {
    const wrong = log.leafHashes.map((h, i) => (i === 5 ? leafHash(forged(5)) : h));
    expect(run(log.entries, { leafHashes: wrong }).ok).toBe(true);
    expect(run(log.entries, { leafHashes: wrong.slice(0, 3) }).ok).toBe(true);
  });
});

describe('verifyEntriesAgainstCheckpoint', () => {
  const input = { verifierKey: key.verifierKey, origin: ORIGIN, checkpoint: log.checkpoints[N]! };

  it('accepts the signed entries and counts the extra ones', () => {
    expect(verifyEntriesAgainstCheckpoint({ ...input, entries: log.entries })).toMatchObject({
      ok: true,
      extraEntries: 0,
    });
    expect(
      verifyEntriesAgainstCheckpoint({ ...input, checkpoint: log.checkpoints[10]!, entries: log.entries }),
    ).toMatchObject({ ok: true, size: 10, extraEntries: N - 10 });
  });

  it('reports a root mismatch or missing entries, without localizing', () => {
    expectFailure(
      verifyEntriesAgainstCheckpoint({ ...input, entries: tamper.modify(log.entries, 4) }),
      'root-mismatch',
    );
    expectFailure(
      verifyEntriesAgainstCheckpoint({ ...input, entries: log.entries.slice(0, 40) }),
      'entries-missing',
      {
        index: 40,
      },
    );
  });
});

describe('verifyInclusionOfEntry and verifyCheckpointConsistency', () => {
  const cp = openCheckpoint(log.checkpoints[N]!, key.verifierKey, ORIGIN);

  it('checks an entry against a checkpoint with an inclusion proof', () => {
    fc.assert(
      fc.property(k, (i) => {
        const proof = proveInclusion(i, N, log.stored);
        verifyInclusionOfEntry(log.entries[i]!, i, cp, proof);
        expect(() => verifyInclusionOfEntry(forged(i), i, cp, proof)).toThrow(
          expect.objectContaining({ code: 'invalid-proof' }),
        );
      }),
      { numRuns: 20 },
    );
  });

  it('checks two checkpoints with a consistency proof', () => {
    const older = openCheckpoint(log.checkpoints[17]!, key.verifierKey);
    verifyCheckpointConsistency(older, cp, proveConsistency(17, N, log.stored));
    expect(() => verifyCheckpointConsistency(older, cp, proveConsistency(18, N, log.stored))).toThrow(
      expect.objectContaining({ code: 'checkpoint-inconsistent' }),
    );
    verifyCheckpointConsistency(cp, cp, []);
    expect(() => verifyCheckpointConsistency(older, { ...older, root: cp.root }, [])).toThrow(
      expect.objectContaining({ code: 'checkpoint-inconsistent' }),
    );
    expect(() => verifyCheckpointConsistency({ ...older, origin: 'x' }, cp, [])).toThrow(
      expect.objectContaining({ code: 'checkpoint-inconsistent' }),
    );
  });
});
