// Signed notes against Go's golang.org/x/mod/sumdb/note: its test vectors (note_test.go) and behaviour.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import {
  ed25519VerifierKey,
  generateSignerKey,
  isValidKeyName,
  MAX_NOTE_SIGNATURES,
  MAX_NOTE_SIZE,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  utf8,
  hasControlExceptNewline,
} from '../src/index.js';
import type { LedgerErrorCode, NoteSigner } from '../src/index.js';

// From note_test.go.
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const PETER = {
  name: 'PeterNeumann',
  keyId: 0xc74f20a3,
  base64: 'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
};
const ENOCH = {
  name: 'EnochRoot',
  keyId: 0xaf0cfe78,
  base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=',
};
// Go slices at byte 60; "— " is 4 bytes in UTF-8 but 2 UTF-16 units here.
const GO_60 = 58;

function codeOf(f: () => unknown): LedgerErrorCode | 'ok' {
  try {
    f();
    return 'ok';
  } catch (err) {
    const code = (err as { code?: LedgerErrorCode }).code;
    if (code === undefined) throw err;
    return code;
  }
}

/** Every proper substring and every single-character increment of s (Go's mangling loops). */
function manglings(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i <= s.length; i++) {
    for (let j = i + 1; j <= s.length; j++) if (i !== 0 || j !== s.length) out.push(s.slice(i, j));
  }
  for (let i = 0; i < s.length; i++)
    out.push(s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) + 1) + s.slice(i + 1));
  return out;
}

describe('keys', () => {
  it('parses the Go verifier key and rejects every mangling of it (TestNewVerifier)', () => {
    const v = parseVerifierKey(PETER_VKEY);
    expect(v.name).toBe('PeterNeumann');
    expect(v.keyId).toBe(0xc74f20a3);
    for (const bad of manglings(PETER_VKEY))
      expect(
        codeOf(() => parseVerifierKey(bad)),
        bad,
      ).toBe('malformed-key');
    // Wrong length key and unknown algorithm, each with an adjusted key hash.
    expect(
      codeOf(() =>
        parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='),
      ),
    ).toBe('malformed-key');
    expect(
      codeOf(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')),
    ).toBe('malformed-key');
  });

  it('parses the Go signer key, derives its verifier key, and rejects every mangling (TestNewSigner)', () => {
    const s = parseSignerKey(PETER_SKEY);
    expect(s.name).toBe('PeterNeumann');
    expect(s.keyId).toBe(0xc74f20a3);
    expect(s.verifierKey).toBe(PETER_VKEY);
    for (const bad of manglings(PETER_SKEY)) expect(codeOf(() => parseSignerKey(bad))).toBe('malformed-key');
  });

  it('never echoes key text in errors', () => {
    try {
      parseSignerKey(PETER_SKEY.slice(0, -1));
      expect.unreachable();
    } catch (err) {
      expect(String(err)).not.toContain('AYEKFALV');
    }
  });

  it('generates self-consistent key pairs (TestGenerateKey)', () => {
    const { privateKey, verifierKey } = generateSignerKey('EnochRoot');
    expect(privateKey.startsWith('PRIVATE+KEY+EnochRoot+')).toBe(true);
    const signer = parseSignerKey(privateKey);
    const verifier = parseVerifierKey(verifierKey);
    expect(signer.verifierKey).toBe(verifierKey);
    expect([signer.name, signer.keyId]).toEqual([verifier.name, verifier.keyId]);
    const msg = utf8('hi');
    const sig = signer.sign(msg);
    expect(verifier.verify(msg, sig)).toBe(true);
    sig[0] = sig[0]! ^ 1;
    expect(verifier.verify(msg, sig)).toBe(false);
    sig[0] = sig[0]! ^ 1;
    expect(verifier.verify(utf8('hj'), sig)).toBe(false);
  });

  it('builds verifier keys from raw public keys (TestFromEd25519)', () => {
    const v = parseVerifierKey(PETER_VKEY);
    const raw = Buffer.from(PETER_VKEY.split('+')[2]!, 'base64').subarray(1);
    expect(ed25519VerifierKey('PeterNeumann', raw)).toBe(PETER_VKEY);
    expect(v.keyId).toBe(0xc74f20a3);
    expect(codeOf(() => ed25519VerifierKey('PeterNeumann', raw.subarray(1)))).toBe('malformed-key');
  });

  it('follows Go for key names: non-empty, no plus, no Unicode space', () => {
    for (const ok of [
      'a',
      'example.com/log',
      'ünïcode',
      'x\u200by' /* zero-width space is not White_Space */,
      'a\ufeffb',
    ]) {
      expect(isValidKeyName(ok), ok).toBe(true);
    }
    for (const bad of [
      '',
      'a+b',
      'a b',
      'a\tb',
      'a\u00a0b',
      'a\u0085b',
      'a\u2028b',
      'a\u3000b',
      'a\ud800b',
    ]) {
      expect(isValidKeyName(bad), JSON.stringify(bad)).toBe(false);
    }
    expect(codeOf(() => generateSignerKey('bad name'))).toBe('malformed-key');
  });
});

describe('signNote (TestSign)', () => {
  const signer = parseSignerKey(PETER_SKEY);
  const want = `${TEXT}\n${PETER_SIG}`;

  it("produces Go's signed note byte for byte", () => {
    expect(signNote(TEXT, [signer])).toBe(want);
  });

  it('replaces an existing signature by the same key', () => {
    expect(
      signNote({ text: TEXT, sigs: [{ name: 'PeterNeumann', keyId: 0xc74f20a3, base64: 'BADSIGN=' }] }, [
        signer,
      ]),
    ).toBe(want);
  });

  it('keeps other signatures first and appends new ones (co-signing)', () => {
    const enoch = parseSignerKey(generateSignerKey('EnochRoot').privateKey);
    const both = signNote({ text: TEXT, sigs: [PETER] }, [enoch]);
    expect(both.startsWith(want)).toBe(true);
    const opened = openNote(both, [parseVerifierKey(PETER_VKEY), parseVerifierKey(enoch.verifierKey)]);
    expect(opened.sigs.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot']);
  });

  it('rejects bad inputs', () => {
    expect(codeOf(() => signNote('abc', [signer]))).toBe('malformed-note');
    expect(
      codeOf(() => signNote({ text: TEXT, sigs: [{ name: 'a+b', keyId: 0, base64: 'ABCD' }] }, [])),
    ).toBe('malformed-note');
    expect(
      codeOf(() =>
        signNote({ text: TEXT, sigs: [{ name: 'PeterNeumann', keyId: 0xc74f20a3, base64: 'BADHASH=' }] }, []),
      ),
    ).toBe('malformed-note');
    const badSigner: NoteSigner = { ...signer, name: 'bad name', sign: (m) => signer.sign(m) };
    expect(codeOf(() => signNote(TEXT, [badSigner]))).toBe('malformed-key');
    expect(codeOf(() => signNote('a\u0001b\n', [signer]))).toBe('malformed-note');
    expect(codeOf(() => signNote('a\ud800\n', [signer]))).toBe('malformed-note');
  });
});

describe('openNote (TestOpen)', () => {
  const peter = parseVerifierKey(PETER_VKEY);
  const enoch = parseVerifierKey(ENOCH_VKEY);

  it('verifies known signatures and ignores unknown ones', () => {
    const n = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter]);
    expect(n.text).toBe(TEXT);
    expect(n.sigs).toEqual([PETER]);
    expect(n.unverifiedSigs).toEqual([ENOCH]);
  });

  it('verifies every known signature', () => {
    const n = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter, enoch]);
    expect(n.sigs).toEqual([PETER, ENOCH]);
    expect(n.unverifiedSigs).toEqual([]);
  });

  it('opens bytes as well as strings', () => {
    expect(openNote(utf8(`${TEXT}\n${PETER_SIG}`), [peter]).sigs).toEqual([PETER]);
  });

  it('requires a signature by a known key', () => {
    expect(codeOf(() => openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, []))).toBe('unknown-key');
  });

  it('rejects ambiguous verifiers only when they are used', () => {
    expect(codeOf(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, peter, enoch]))).toBe('malformed-key');
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [enoch, peter, enoch]).sigs).toEqual([PETER]);
  });

  it(`rejects more than ${MAX_NOTE_SIGNATURES} signatures`, () => {
    expect(codeOf(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [peter]))).toBe('malformed-note');
    expect(codeOf(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []))).toBe('malformed-note');
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [peter]).sigs).toEqual([PETER]);
  });

  it('fails the whole note on a bad signature by a known key', () => {
    const bad = PETER_SIG.slice(0, GO_60) + 'ABCD' + PETER_SIG.slice(GO_60);
    expect(codeOf(() => openNote(`${TEXT}\n${bad}`, [peter]))).toBe('signature-invalid');
    const err = (() => {
      try {
        openNote(`${TEXT}\n${bad}`, [peter]);
      } catch (e) {
        return e as { evidence: { key?: string } };
      }
    })();
    expect(err?.evidence.key).toBe('PeterNeumann+c74f20a3');
  });

  it('drops repeated signatures, verified and unverified', () => {
    const enochABCD = {
      ...ENOCH,
      base64:
        'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n' +
        'ABCD' +
        '2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=',
    };
    const msg = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${ENOCH_SIG.slice(0, GO_60)}ABCD${ENOCH_SIG.slice(GO_60)}`;
    const n = openNote(msg, [peter]);
    expect(n.sigs).toEqual([PETER]);
    expect(n.unverifiedSigs).toEqual([ENOCH, enochABCD]);
  });

  it('rejects malformed notes', () => {
    const bad: (string | Uint8Array)[] = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\u0001${TEXT}\n${PETER_SIG}`,
      new Uint8Array([0xff, ...utf8(`${TEXT}\n${PETER_SIG}`)]),
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      // Beyond Go's list: lone surrogates, CR, truncated base64, short signatures, oversize notes.
      `\ud800${TEXT}\n${PETER_SIG}`,
      `${TEXT}\r\n${PETER_SIG}`,
      `${TEXT}\n— PeterNeumann x08go/ZJk\n`,
      `${TEXT}\n— PeterNeumann x08gow==\n`, // 4-byte key ID and no signature
      `${TEXT}\n— PeterNeumann\n`,
      `${'x'.repeat(MAX_NOTE_SIZE)}\n\n${PETER_SIG}`,
    ];
    for (const [i, msg] of bad.entries())
      expect(
        codeOf(() => openNote(msg, [peter])),
        `case ${i}`,
      ).toBe('malformed-note');
  });

  it('opens what it signs, for any text and key name', () => {
    const { privateKey, verifierKey } = generateSignerKey('vigil.example/log');
    const signer = parseSignerKey(privateKey);
    const verifier = parseVerifierKey(verifierKey);
    const line = fc
      .string({ unit: 'grapheme', maxLength: 40 })
      .filter((s) => !hasControlExceptNewline(s) && !s.includes('\n'));
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
        const text = lines.join('\n') + '\n';
        const n = openNote(signNote(text, [signer]), [verifier]);
        expect(n.text).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a note whose text was changed after signing', () => {
    const signed = signNote(TEXT, [parseSignerKey(PETER_SKEY)]);
    expect(codeOf(() => openNote(signed.replace('problem', 'Problem'), [peter]))).toBe('signature-invalid');
  });
});
