// The RFC 6962 proof vectors of transparency-dev/merkle (testdata/transparency-dev-merkle, 196 cases):
// happy paths verify, and every mutation is rejected exactly when the case says wantErr.

import { describe, it, expect } from 'vitest';
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isLedgerError, verifyConsistency, verifyInclusion } from '../src/index.js';

const ROOT = new URL('../../../testdata/transparency-dev-merkle/testdata/', import.meta.url);

function files(dir: URL): URL[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const u = new URL(name, dir);
      return statSync(u).isDirectory() ? files(new URL(`${name}/`, dir)) : name.endsWith('.json') ? [u] : [];
    });
}

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const proofOf = (p: string[] | null): Uint8Array[] => (p ?? []).map(b64);
const caseName = (u: URL): string => u.pathname.split('/testdata/').at(-1)!;

function outcome(f: () => void): 'ok' | 'error' {
  try {
    f();
    return 'ok';
  } catch (err) {
    if (!isLedgerError(err, 'invalid-proof')) throw err;
    return 'error';
  }
}

interface InclusionCase {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  wantErr: boolean;
}

interface ConsistencyCase {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}

const inclusion = files(new URL('inclusion/', ROOT));
const consistency = files(new URL('consistency/', ROOT));

describe('transparency-dev/merkle vectors', () => {
  it('are all present', () => {
    expect(inclusion.length + consistency.length).toBe(196);
  });

  describe('inclusion', () => {
    it.each(inclusion.map((u) => [caseName(u), u] as const))('%s', (_name, u) => {
      const c = JSON.parse(readFileSync(u, 'utf8')) as InclusionCase;
      const got = outcome(() =>
        verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), proofOf(c.proof), b64(c.root)),
      );
      expect(got).toBe(c.wantErr ? 'error' : 'ok');
    });
  });

  describe('consistency', () => {
    it.each(consistency.map((u) => [caseName(u), u] as const))('%s', (_name, u) => {
      const c = JSON.parse(readFileSync(u, 'utf8')) as ConsistencyCase;
      const got = outcome(() =>
        verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), proofOf(c.proof)),
      );
      expect(got).toBe(c.wantErr ? 'error' : 'ok');
    });
  });
});
