// crypto-node.ts (node:crypto) and crypto-browser.ts (@noble) must be interchangeable: same results on
// the same inputs, and each accepts the other's signatures.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as browser from '../src/crypto-browser.js';
import * as node from '../src/crypto-node.js';
import { fromHex, hex } from './testdata.js';

const impls = { node, browser } as const;

describe.each(Object.entries(impls))('%s crypto', (_name, c) => {
  it('computes SHA-256 (FIPS 180-4 examples)', () => {
    expect(hex(c.sha256(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(hex(c.sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('signs and verifies RFC 8032 §7.1 test 1', () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const pub = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    const sig =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    expect(hex(c.ed25519PublicKey(seed))).toBe(pub);
    expect(hex(c.ed25519Sign(seed, new Uint8Array(0)))).toBe(sig);
    expect(c.ed25519Verify(fromHex(pub), new Uint8Array(0), fromHex(sig))).toBe(true);
  });

  it('rejects malformed keys and signatures without throwing', () => {
    const seed = c.randomBytes(32);
    const pub = c.ed25519PublicKey(seed);
    const sig = c.ed25519Sign(seed, Uint8Array.of(1));
    expect(c.ed25519Verify(pub.subarray(1), Uint8Array.of(1), sig)).toBe(false);
    expect(c.ed25519Verify(pub, Uint8Array.of(1), sig.subarray(1))).toBe(false);
    expect(c.ed25519Verify(new Uint8Array(32).fill(0xff), Uint8Array.of(1), sig)).toBe(false);
    expect(() => c.ed25519Sign(seed.subarray(1), Uint8Array.of(1))).toThrow(RangeError);
  });

  it('returns plain Uint8Arrays, each of its own', () => {
    expect(Object.getPrototypeOf(c.sha256(Uint8Array.of(1)))).toBe(Uint8Array.prototype);
    // Callers keep digests (tree nodes, frontiers): a digest must never share memory with the next one.
    const [a, b] = [c.sha256(Uint8Array.of(1)), c.sha256(Uint8Array.of(2))];
    expect(a).toHaveLength(32);
    expect(a.buffer).not.toBe(b.buffer);
    expect(hex(a)).not.toBe(hex(b));
    expect(Object.getPrototypeOf(c.randomBytes(4))).toBe(Uint8Array.prototype);
    expect(c.randomBytes(16)).toHaveLength(16);
  });
});

describe('node and browser crypto', () => {
  it('agree on hashes, public keys and signatures, and verify each other', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat(511),
        (msg, seed, bit) => {
          expect(hex(node.sha256(msg))).toBe(hex(browser.sha256(msg)));
          const pub = node.ed25519PublicKey(seed);
          expect(hex(pub)).toBe(hex(browser.ed25519PublicKey(seed)));
          const sig = node.ed25519Sign(seed, msg);
          expect(hex(sig)).toBe(hex(browser.ed25519Sign(seed, msg)));
          expect(node.ed25519Verify(pub, msg, sig)).toBe(true);
          expect(browser.ed25519Verify(pub, msg, sig)).toBe(true);
          const bad = sig.slice();
          bad[bit >> 3] = bad[bit >> 3]! ^ (1 << (bit & 7));
          expect(node.ed25519Verify(pub, msg, bad)).toBe(false);
          expect(browser.ed25519Verify(pub, msg, bad)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('both reject a malleated signature with S + L (RFC 8032 §5.1.7 requires S < L)', () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 64 }),
        (seed, msg) => {
          const pub = node.ed25519PublicKey(seed);
          const sig = node.ed25519Sign(seed, msg);
          let s = 0n;
          for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
          s += L;
          const bad = sig.slice();
          for (let i = 32; i < 64; i++) {
            bad[i] = Number(s & 0xffn);
            s >>= 8n;
          }
          expect(node.ed25519Verify(pub, msg, bad)).toBe(false);
          expect(browser.ed25519Verify(pub, msg, bad)).toBe(false);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('never serve a cached key for an array whose bytes changed', () => {
    const seed = node.randomBytes(32);
    const pub1 = node.ed25519PublicKey(seed);
    seed[0] = seed[0]! ^ 1;
    const pub2 = node.ed25519PublicKey(seed);
    expect(hex(pub2)).not.toBe(hex(pub1));
    expect(hex(pub2)).toBe(hex(browser.ed25519PublicKey(seed)));
  });
});
