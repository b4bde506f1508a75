// The offline log verifier: given a verifier key, a signed checkpoint and the log's entries, decide
// whether the entries are exactly the log the key signed, and if not, name what was done to them.
//
// Threat model: everything but the verifier key (and the optional expected origin and trusted
// checkpoint, which the caller vouches for) is attacker-controlled: the checkpoint text, the entries,
// the stored leaf hashes, the extra checkpoints and the consistency proof. Parse defensively; trust a
// piece of data only once it has been tied to the signed root. In particular, stored leaf hashes are
// used to localize damage only after they reproduce the signed root (then they are authentic: a second
// preimage of SHA-256 would be needed to forge them). Pure and synchronous: no I/O, no clock.

import { equalBytes } from './bytes.js';
import { formatCheckpoint, openCheckpoint } from './checkpoint.js';
import type { Checkpoint, SignedCheckpoint } from './checkpoint.js';
import { CompactRange, treeRoot } from './compact-range.js';
import { LedgerError, isLedgerError } from './errors.js';
import { emptyRoot, HASH_SIZE, leafHash } from './hash.js';
import type { Hash } from './hash.js';
import { parseVerifierKey } from './note.js';
import type { NoteVerifier } from './note.js';
import { verifyConsistency, verifyInclusion } from './proof.js';

export interface VerifyLogInput {
  /** Verifier key text (or a parsed verifier) of the log. Trusted. */
  readonly verifierKey: string | NoteVerifier;
  /** Expected checkpoint origin. Trusted. */
  readonly origin?: string;
  /** Signed checkpoint claimed to be the latest. */
  readonly checkpoint: string;
  /** Claimed entries 0, 1, ... in index order; may be a generator streaming from a file. */
  readonly entries: Iterable<Uint8Array>;
  /**
   * Leaf hashes the server claims it stored. Used only to localize damage, and only if they reproduce
   * the signed root.
   */
  readonly leafHashes?: readonly Hash[];
  /** Other signed checkpoints of the same log (e.g. all the server kept), to bracket damage. */
  readonly checkpoints?: readonly string[];
  /** An earlier checkpoint the caller trusts, and a consistency proof from it to `checkpoint`. */
  readonly trusted?: { readonly checkpoint: string; readonly consistencyProof: readonly Hash[] };
}

export interface VerifyOk {
  readonly ok: true;
  readonly origin: string;
  readonly size: number;
  readonly root: Hash;
  readonly checkpoint: SignedCheckpoint;
  /** Entries beyond the checkpoint's size (appended after it was signed; not verified). */
  readonly extraEntries: number;
}

export interface VerifyFailure {
  readonly ok: false;
  readonly error: LedgerError;
}

export type VerifyReport = VerifyOk | VerifyFailure;

function fail(error: LedgerError): VerifyFailure {
  return { ok: false, error };
}

// Runs a check, turning LedgerErrors into a failed report; anything else (a bug, an I/O error thrown by
// an entries generator) propagates.
function report(run: () => VerifyOk): VerifyReport {
  try {
    return run();
  } catch (err) {
    if (isLedgerError(err)) return fail(err);
    throw err;
  }
}

function verifierOf(key: string | NoteVerifier): NoteVerifier {
  return typeof key === 'string' ? parseVerifierKey(key) : key;
}

/**
 * Opens the checkpoint under test. A note that carries no signature by the key is reported as
 * signature-invalid like a bad signature: either way the key did not sign this checkpoint.
 */
function openClaimed(
  text: string,
  verifier: NoteVerifier,
  origin: string | undefined,
  inputIndex?: number,
): SignedCheckpoint {
  try {
    return openCheckpoint(text, verifier, origin);
  } catch (err) {
    if (isLedgerError(err, 'unknown-key')) {
      throw new LedgerError(
        'signature-invalid',
        'checkpoint is not signed by the verifier key',
        {
          ...err.evidence,
          checkpoint: text,
          inputIndex,
        },
        { cause: err },
      );
    }
    if (isLedgerError(err) && inputIndex !== undefined) {
      throw new LedgerError(
        err.code,
        `checkpoints[${inputIndex}]: ${err.message}`,
        { ...err.evidence, inputIndex },
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

function noteOrBody(cp: Checkpoint | SignedCheckpoint): string {
  return 'signedNote' in cp ? cp.signedNote : formatCheckpoint(cp);
}

/**
 * Checks that `newer` extends `older` (a consistency proof between two checkpoints of one log, RFC 9162
 * §2.1.4.2). Throws checkpoint-inconsistent with both checkpoints and the proof as evidence. An empty
 * older checkpoint is consistent with anything iff its root is the empty root.
 */
export function verifyCheckpointConsistency(
  older: Checkpoint | SignedCheckpoint,
  newer: Checkpoint | SignedCheckpoint,
  proof: readonly Hash[],
): void {
  const evidence = {
    size: older.size,
    otherSize: newer.size,
    checkpoint: noteOrBody(older),
    otherCheckpoint: noteOrBody(newer),
    proof,
  };
  if (older.origin !== newer.origin) {
    throw new LedgerError('checkpoint-inconsistent', 'checkpoints of different origins', evidence);
  }
  if (older.size === newer.size) {
    if (proof.length === 0 && equalBytes(older.root, newer.root)) return;
    throw new LedgerError(
      'checkpoint-inconsistent',
      'checkpoints of one size with different roots',
      evidence,
    );
  }
  if (older.size === 0) {
    if (proof.length === 0 && equalBytes(older.root, emptyRoot())) return;
    throw new LedgerError(
      'checkpoint-inconsistent',
      'empty checkpoint with a non-empty root or proof',
      evidence,
    );
  }
  try {
    verifyConsistency(older.size, newer.size, older.root, newer.root, proof);
  } catch (err) {
    if (!isLedgerError(err, 'invalid-proof')) throw err;
    const why = older.size > newer.size ? 'the log shrank' : 'no valid consistency proof';
    throw new LedgerError(
      'checkpoint-inconsistent',
      `checkpoint ${newer.size} does not extend ${older.size}: ${why}`,
      {
        ...evidence,
        expectedRoot: newer.root,
      },
      { cause: err },
    );
  }
}

/** Checks an inclusion proof of an entry in a (verified) checkpoint. Throws invalid-proof. */
export function verifyInclusionOfEntry(
  entry: Uint8Array,
  index: number,
  checkpoint: Checkpoint,
  proof: readonly Hash[],
): void {
  verifyInclusion(index, checkpoint.size, leafHash(entry), proof, checkpoint.root);
}

/**
 * The cheap check: opens the checkpoint and recomputes its root from the entries, without localizing
 * damage. Fails with entries-missing (fewer entries than the checkpoint's size; evidence.index is the
 * first missing index) or root-mismatch.
 */
export function verifyEntriesAgainstCheckpoint(input: {
  readonly verifierKey: string | NoteVerifier;
  readonly origin?: string;
  readonly checkpoint: string;
  readonly entries: Iterable<Uint8Array>;
}): VerifyReport {
  return report(() => {
    const cp = openClaimed(input.checkpoint, verifierOf(input.verifierKey), input.origin);
    const cr = new CompactRange();
    let count = 0;
    for (const entry of input.entries) {
      if (count < cp.size) cr.push(leafHash(entry));
      count++;
    }
    if (count < cp.size) {
      throw new LedgerError('entries-missing', `${cp.size - count} entries missing from index ${count}`, {
        index: count,
        indexEnd: cp.size,
        size: cp.size,
        checkpoint: cp.signedNote,
      });
    }
    const root = cr.root();
    if (!equalBytes(root, cp.root)) {
      throw new LedgerError('root-mismatch', `entries do not reproduce the root of checkpoint ${cp.size}`, {
        size: cp.size,
        expectedRoot: cp.root,
        actualRoot: root,
        checkpoint: cp.signedNote,
      });
    }
    return {
      ok: true,
      origin: cp.origin,
      size: cp.size,
      root: cp.root,
      checkpoint: cp,
      extraEntries: count - cp.size,
    };
  });
}

/**
 * Verifies a whole log: that `entries` are exactly the leaves of the signed `checkpoint` (entries past
 * its size are allowed and counted), that the checkpoint extends the trusted one, and that the given
 * checkpoints agree with each other. On failure the report names the first fault:
 *
 * - malformed-key: the verifier key text is invalid (the caller's configuration).
 * - malformed-note / malformed-checkpoint / signature-invalid / origin-mismatch: a checkpoint does not
 *   open under the key (evidence.inputIndex says which of `checkpoints`, if not the main one).
 * - checkpoint-inconsistent: the checkpoint does not extend the trusted one, two checkpoints of one size
 *   have different roots, or the entries reproduce the latest root but contradict an earlier signed
 *   checkpoint (the log signed a fork). Evidence: both checkpoints (and the proof).
 * - entries-missing / entries-inserted / entries-reordered / entry-modified, at evidence.index: the
 *   entries do not reproduce the signed root. With authentic leaf hashes, the first differing position p
 *   is classified: entry p is the stored p+1 (and p+1 the stored p+2) → entries-missing (rows deleted);
 *   entry p+1 is the stored p → entries-inserted; entry p is stored elsewhere (evidence.otherIndex) →
 *   entries-reordered; else entry-modified. Without them, the damage is bracketed between the last
 *   checkpoint that the entries reproduce and the first they do not: entry-modified with
 *   [index, indexEnd), exact when checkpoints were signed one entry apart.
 * - entries-missing with [index, indexEnd): the entries end before the checkpoint's size.
 */
export function verifyLog(input: VerifyLogInput): VerifyReport {
  return report(() => {
    const verifier = verifierOf(input.verifierKey);
    const main = openClaimed(input.checkpoint, verifier, input.origin);
    const origin = main.origin;
    const n = main.size;

    // Checkpoints to check on the way: the trusted one (after its proof), then the others.
    const opened: SignedCheckpoint[] = [];
    if (input.trusted !== undefined) {
      const trusted = openClaimed(input.trusted.checkpoint, verifier, origin);
      verifyCheckpointConsistency(trusted, main, input.trusted.consistencyProof);
      opened.push(trusted);
    }
    (input.checkpoints ?? []).forEach((text, i) => opened.push(openClaimed(text, verifier, origin, i)));
    opened.push(main);

    // Two signed checkpoints of one size must have one root.
    const bySize = new Map<number, SignedCheckpoint>();
    for (const cp of opened) {
      const other = bySize.get(cp.size);
      if (other === undefined) bySize.set(cp.size, cp);
      else if (!equalBytes(other.root, cp.root)) throw forked(other, cp, undefined);
    }
    // Sizes past the main checkpoint are not checked: nothing here vouches for those entries.
    const brackets = [...bySize.values()].filter((cp) => cp.size <= n).sort((a, b) => a.size - b.size);

    const authentic = authenticLeafHashes(input.leafHashes, main);

    const cr = new CompactRange();
    let count = 0; // entries hashed into cr (then, past n, entries counted)
    let next = 0; // next bracket to check
    let lastGood = 0; // largest bracket size whose root the entries reproduced
    let firstBad: { cp: SignedCheckpoint; from: number; root: Hash } | undefined;
    let mainMatched = false;
    let diffAt: number | undefined; // first position where entries differ from the authentic leaf hashes
    const tail: Hash[] = []; // leaf hashes of entries diffAt and diffAt+1: enough to classify

    const checkBrackets = (): void => {
      while (next < brackets.length && brackets[next]!.size === count) {
        const cp = brackets[next++]!;
        const root = cr.root();
        const good = equalBytes(root, cp.root);
        if (cp.size === n) mainMatched = good;
        if (firstBad !== undefined) continue;
        if (good) lastGood = cp.size;
        else firstBad = { cp, from: lastGood, root };
      }
    };

    checkBrackets(); // an empty checkpoint is reproduced by no entries
    for (const entry of input.entries) {
      if (diffAt !== undefined) {
        tail.push(leafHash(entry));
        if (tail.length === 2) break;
      } else if (count >= n) {
        count++; // past the checkpoint: counted, not verified
      } else {
        const h = leafHash(entry);
        if (authentic !== undefined && !equalBytes(h, authentic[count]!)) {
          diffAt = count;
          tail.push(h);
        } else {
          cr.push(h);
          count++;
          checkBrackets();
        }
      }
    }

    if (diffAt !== undefined && authentic !== undefined) throw classify(diffAt, tail, authentic, main);
    if (count < n) {
      // Bracketing still names damage before the end of the entries; past it, entries are missing.
      if (authentic === undefined && firstBad !== undefined)
        throw modifiedBetween(firstBad, input.leafHashes !== undefined);
      throw missing(count, main);
    }
    // The main checkpoint is the last bracket: if it failed, firstBad is set.
    if (!mainMatched) throw modifiedBetween(firstBad!, input.leafHashes !== undefined);
    // The entries reproduce the latest signed root, so they are authentic: an earlier signed
    // checkpoint that they contradict is a fork the log signed.
    if (firstBad !== undefined) throw forked(firstBad.cp, main, firstBad.root);
    return { ok: true, origin, size: n, root: main.root, checkpoint: main, extraEntries: count - n };
  });
}

function modifiedBetween(
  bad: { cp: SignedCheckpoint; from: number; root: Hash },
  hadLeafHashes: boolean,
): LedgerError<'entry-modified'> {
  const { cp, from } = bad;
  return new LedgerError(
    'entry-modified',
    cp.size - from === 1
      ? `entry ${from} differs from the one signed`
      : `entries in [${from}, ${cp.size}) differ from those signed`,
    {
      index: from,
      indexEnd: cp.size,
      size: cp.size,
      expectedRoot: cp.root,
      actualRoot: bad.root,
      checkpoint: cp.signedNote,
      reason: hadLeafHashes ? 'bracketed; leaf hashes not authentic' : 'bracketed',
    },
  );
}

function forked(
  a: SignedCheckpoint,
  b: SignedCheckpoint,
  actualRoot: Hash | undefined,
): LedgerError<'checkpoint-inconsistent'> {
  return new LedgerError(
    'checkpoint-inconsistent',
    `signed checkpoints ${a.size} and ${b.size} are inconsistent`,
    {
      size: a.size,
      otherSize: b.size,
      expectedRoot: a.root,
      actualRoot,
      checkpoint: a.signedNote,
      otherCheckpoint: b.signedNote,
    },
  );
}

function missing(count: number, main: SignedCheckpoint): LedgerError<'entries-missing'> {
  return new LedgerError('entries-missing', `entries end at ${count}, the checkpoint covers ${main.size}`, {
    index: count,
    indexEnd: main.size,
    size: main.size,
    checkpoint: main.signedNote,
  });
}

/** The first main.size claimed leaf hashes, if they are well-formed and reproduce the signed root. */
function authenticLeafHashes(
  leafHashes: readonly Hash[] | undefined,
  main: SignedCheckpoint,
): readonly Hash[] | undefined {
  if (leafHashes === undefined || leafHashes.length < main.size) return undefined;
  const prefix = leafHashes.slice(0, main.size);
  if (!prefix.every((h) => h instanceof Uint8Array && h.length === HASH_SIZE)) return undefined;
  return equalBytes(treeRoot(prefix), main.root) ? prefix : undefined;
}

/**
 * Names the fault at the first position p where entry leaf hashes (tail = entries p and p+1, as far as
 * they exist) differ from the authentic ones.
 */
function classify(
  p: number,
  tail: readonly Hash[],
  authentic: readonly Hash[],
  main: SignedCheckpoint,
): LedgerError {
  const at = (i: number): Hash | undefined => authentic[i];
  const same = (x: Hash | undefined, y: Hash | undefined): boolean =>
    x !== undefined && y !== undefined && equalBytes(x, y);
  const [e0, e1] = tail;
  const base = { index: p, size: main.size, checkpoint: main.signedNote };
  if (same(e1, at(p))) {
    if (same(e0, at(p + 1))) {
      return new LedgerError('entries-reordered', `entries ${p} and ${p + 1} are swapped`, {
        ...base,
        otherIndex: p + 1,
      });
    }
    return new LedgerError('entries-inserted', `an entry was inserted at ${p}`, base);
  }
  if (same(e0, at(p + 1)) && (e1 === undefined || at(p + 2) === undefined || same(e1, at(p + 2)))) {
    return new LedgerError('entries-missing', `entry ${p} was deleted`, { ...base, indexEnd: p + 1 });
  }
  const q = authentic.findIndex((h) => same(e0, h));
  if (q >= 0) {
    return new LedgerError('entries-reordered', `entry ${p} is the one signed at ${q}`, {
      ...base,
      otherIndex: q,
    });
  }
  return new LedgerError('entry-modified', `entry ${p} differs from the one signed`, {
    ...base,
    indexEnd: p + 1,
  });
}
