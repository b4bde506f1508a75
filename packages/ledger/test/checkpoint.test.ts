import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import {
  encodeBase64,
  formatCheckpoint,
  generateSignerKey,
  openCheckpoint,
  parseCheckpoint,
  parseSignerKey,
  signCheckpoint,
  signNote,
  hasControlExceptNewline,
} from '../src/index.js';
import type { LedgerErrorCode } from '../src/index.js';
import { hex } from './testdata.js';

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

const ROOT = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
const root = new Uint8Array(Buffer.from(ROOT, 'base64'));

describe('checkpoint text (c2sp.org/tlog-checkpoint)', () => {
  it('parses the C2SP example and formats it back', () => {
    const text = `example.com/behind-the-sofa\n20852163\n${ROOT}\n`;
    const cp = parseCheckpoint(text);
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(hex(cp.root)).toBe(hex(root));
    expect(cp.extensions).toEqual([]);
    expect(formatCheckpoint(cp)).toBe(text);
  });

  it('round-trips any checkpoint, extension lines included', () => {
    const line = fc
      .string({ minLength: 1, maxLength: 30 })
      .filter((s) => !hasControlExceptNewline(s) && !s.includes('\n'));
    fc.assert(
      fc.property(
        line,
        fc.maxSafeNat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(line, { maxLength: 3 }),
        (origin, size, r, extensions) => {
          const text = formatCheckpoint({ origin, size, root: r, extensions });
          const cp = parseCheckpoint(text);
          expect({ ...cp, root: hex(cp.root) }).toEqual({ origin, size, root: hex(r), extensions });
          expect(formatCheckpoint(cp)).toBe(text);
        },
      ),
    );
  });

  it('accepts only canonical sizes up to 2^53 - 1', () => {
    expect(parseCheckpoint(`o\n0\n${ROOT}\n`).size).toBe(0);
    expect(parseCheckpoint(`o\n9007199254740991\n${ROOT}\n`).size).toBe(Number.MAX_SAFE_INTEGER);
    for (const size of [
      '00',
      '01',
      '+1',
      '-1',
      ' 1',
      '1 ',
      '1.0',
      '1e3',
      '0x10',
      '',
      '9007199254740992',
      '99999999999999999',
    ]) {
      expect(
        codeOf(() => parseCheckpoint(`o\n${size}\n${ROOT}\n`)),
        size,
      ).toBe('malformed-checkpoint');
    }
  });

  it('accepts only a canonical base64 root of 32 bytes', () => {
    const bad = [
      encodeBase64(new Uint8Array(31)),
      encodeBase64(new Uint8Array(33)),
      ROOT.slice(0, -1),
      ROOT.replace('=', ''),
      ROOT.replace('2I=', '2J='), // non-zero padding bits
      ROOT.replace('/', '_'), // URL-safe alphabet
      ` ${ROOT}`,
      '',
    ];
    for (const r of bad)
      expect(
        codeOf(() => parseCheckpoint(`o\n1\n${r}\n`)),
        r,
      ).toBe('malformed-checkpoint');
  });

  it('rejects malformed lines', () => {
    const bad = [
      `o\n1\n${ROOT}`, // no final newline
      `o\n1\n`,
      `\n1\n${ROOT}\n`, // empty origin
      `o\n1\n${ROOT}\n\n`, // empty extension line
      `o\n1\n${ROOT}\next\n\n`,
      `o\r\n1\n${ROOT}\n`,
      `o\u0000\n1\n${ROOT}\n`,
      `\ud800\n1\n${ROOT}\n`,
    ];
    for (const t of bad)
      expect(
        codeOf(() => parseCheckpoint(t)),
        JSON.stringify(t),
      ).toBe('malformed-checkpoint');
    expect(codeOf(() => formatCheckpoint({ origin: 'a\nb', size: 1, root }))).toBe('malformed-checkpoint');
    expect(codeOf(() => formatCheckpoint({ origin: 'o', size: -1, root }))).toBe('malformed-checkpoint');
    expect(codeOf(() => formatCheckpoint({ origin: 'o', size: 1, root: root.subarray(1) }))).toBe(
      'malformed-checkpoint',
    );
  });
});

describe('signed checkpoints', () => {
  const key = generateSignerKey('vigil.example/audit');
  const signer = parseSignerKey(key.privateKey);
  const cp = { origin: 'vigil.example/audit', size: 42, root };

  it('sign and open', () => {
    const note = signCheckpoint(cp, signer);
    const opened = openCheckpoint(note, key.verifierKey, 'vigil.example/audit');
    expect([opened.origin, opened.size, hex(opened.root)]).toEqual([cp.origin, cp.size, hex(root)]);
    expect(opened.signedNote).toBe(note);
    expect(opened.sigs.map((s) => s.name)).toEqual(['vigil.example/audit']);
  });

  it('reject the wrong origin, the wrong key and altered text', () => {
    const note = signCheckpoint(cp, signer);
    expect(codeOf(() => openCheckpoint(note, key.verifierKey, 'vigil.example/other'))).toBe(
      'origin-mismatch',
    );
    expect(codeOf(() => openCheckpoint(note, generateSignerKey('vigil.example/audit').verifierKey))).toBe(
      'unknown-key',
    );
    expect(codeOf(() => openCheckpoint(note.replace('\n42\n', '\n43\n'), key.verifierKey))).toBe(
      'signature-invalid',
    );
    expect(codeOf(() => openCheckpoint('garbage', key.verifierKey))).toBe('malformed-note');
    expect(codeOf(() => openCheckpoint(note, 'not a key'))).toBe('malformed-key');
  });

  it('reject a validly signed note that is not a canonical checkpoint', () => {
    for (const text of ['hello\n', `o\n01\n${ROOT}\n`, `o\n1\n${ROOT}\n\next\n`]) {
      const note = signNote(text, [signer]);
      expect(
        codeOf(() => openCheckpoint(note, key.verifierKey)),
        text,
      ).toBe('malformed-checkpoint');
    }
  });
});
